"""Pure-PyTorch reference of the CAM -> boxes protocol (docs/semantics.md §4).

This is the fallback used when the compiled extension is missing; it gives the same boxes as the
``wsolx::scoremap_boxes`` / ``wsolx::scoremap_all_boxes`` kernels, bit for bit. It is a second
fast algorithm, not the specification: the executable specification is the plain OpenCV loop of
``tests/protocol_cv2.py``, against which both are tested. It is vectorised with plain torch ops
and runs on the input's device (CPU or CUDA).

Method (per distinct (map, level) mask, batched over masks):

* the mask is padded with a one-pixel background frame (as ``cv2.findContours`` does) and cut
  into horizontal *runs* of equal pixels; everything below works on runs, not pixels;
* foreground runs are joined 8-connected, background runs 4-connected (label propagation with
  root hooking and pointer jumping on the run graph); the background region holding the frame is
  the *outside*, every other background region is a *hole*;
* the outer-contour area of a component ``C`` (``cv2.contourArea``, holes filled) is, in half
  pixels, ``A(C) = alpha(C) + sum_{holes H of C} (beta(H) + sum_{components I in H} A(I))`` with
  the 2x2-window sums ``alpha(C) = sum_w 2[#(w&C)=4] + [#(w&C)=3]`` and
  ``beta(H) = sum_w 2[#(w&H)>=2] + [#(w&H)=1]``. Both reduce to sums over pairs ``(a, b)`` of
  vertically overlapping runs of the same region in consecutive rows with
  ``phi(a, b) = 2 * overlap - [same start] - [same end]``:
  ``alpha(C) = sum phi`` and ``beta(H) = 4 |H| - sum phi``;
* the nesting tree (parent of a region = region of the pixel above its raster-first pixel) is
  summed bottom-up by pointer doubling.
"""

from __future__ import annotations

from typing import List, NamedTuple, Tuple, Union

import torch
from torch import Tensor

__all__ = [
    "quantize_scoremaps",
    "standard_values",
    "threshold_levels",
    "scoremap_boxes_reference",
    "quantized_boxes_reference",
]

# Upper bound on the padded pixels of the masks processed at once: peak memory stays below
# ~0.5 GB even for noise maps (about 100 bytes per pixel in the worst case).
_MAX_CHUNK_PIXELS = 1 << 22


# ----------------------------------------------------------------------------------------------
# Steps 2-5: quantisation, standard value, integer threshold levels
# ----------------------------------------------------------------------------------------------


def _check_scoremaps(scoremaps: Tensor, name: str) -> None:
    if not isinstance(scoremaps, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(scoremaps).__name__}")
    if scoremaps.dim() != 3:
        raise ValueError(f"{name}: expected (N, H, W) score maps, got shape {tuple(scoremaps.shape)}")
    if scoremaps.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name}: expected float32 or float64 score maps, got {scoremaps.dtype}")


def quantize_scoremaps(scoremaps: Tensor) -> Tensor:
    """Normalise and quantise score maps exactly as the protocol: in float64.

    ``q = uint8(((s - min) / max(s - min)) * 255)`` with float64 arithmetic and truncation; a map
    holding a NaN, a constant map, or one whose normalised values would hold a NaN (an infinite
    value, ``max - min`` overflowing) gives all zeros
    (:func:`wsolx.ops._cubic_reference.normalize_scoremaps`).

    Args:
        scoremaps: ``(N, H, W)`` float32 or float64.

    Returns:
        ``(N, H, W)`` uint8 on the same device.
    """
    from wsolx.ops._cubic_reference import quantize_scoremaps64

    _check_scoremaps(scoremaps, "quantize_scoremaps")
    return quantize_scoremaps64(scoremaps.to(torch.float64), normalize=True)


def standard_values(q: Tensor, percentile: float) -> Tensor:
    """Standard value ``P`` of quantised maps: ``max(q)`` or numpy's default linear percentile.

    For ``percentile < 100`` this reproduces ``np.percentile(q, percentile)`` bit for bit:
    ``v = (n - 1) * (p / 100)``, ``i = floor(v)``, ``g = v - i``, ``a, b = sorted[i], sorted[i + 1]``,
    ``P = b - (b - a) * (1 - g)`` if ``g >= 0.5`` else ``a + (b - a) * g`` (``P = max`` when
    ``v >= n - 1``), all in float64.

    Args:
        q: ``(N, H, W)`` uint8 quantised maps.
        percentile: in ``[0, 100]``.

    Returns:
        ``(N,)`` float64.
    """
    if not isinstance(q, Tensor) or q.dim() != 3:
        raise ValueError(f"standard_values: expected (N, H, W) maps, got {getattr(q, 'shape', type(q))}")
    if q.dtype != torch.uint8:
        raise TypeError(f"standard_values: expected uint8 maps, got {q.dtype}")
    percentile = float(percentile)
    if not (0.0 <= percentile <= 100.0):
        raise ValueError(f"standard_values: percentile must lie in [0, 100], got {percentile}")
    n_maps, count = q.size(0), q.size(1) * q.size(2)
    if count == 0:
        raise ValueError(f"standard_values: empty maps of shape {tuple(q.shape)}")
    flat = q.reshape(n_maps, count)
    qmax = flat.amax(dim=1).to(torch.float64) if n_maps else torch.zeros(0, dtype=torch.float64, device=q.device)
    if percentile >= 100.0:
        return qmax
    virtual = (count - 1) * (percentile / 100.0)  # Python floats are IEEE float64, as numpy's
    if virtual >= count - 1:
        return qmax
    prev = int(virtual // 1)
    gamma = virtual - prev
    # Order statistics of a uint8 map from its cumulative histogram: sorted[k] = #{v : cdf(v) <= k}.
    hist = torch.zeros((n_maps, 256), dtype=torch.int64, device=q.device)
    hist.scatter_add_(1, flat.long(), torch.ones_like(flat, dtype=torch.int64))
    cdf = hist.cumsum(dim=1)
    a = (cdf <= prev).sum(dim=1).to(torch.float64)
    b = (cdf <= prev + 1).sum(dim=1).to(torch.float64)
    d = b - a
    if gamma >= 0.5:
        return b - d * (1.0 - gamma)
    return a + d * gamma


def threshold_levels(standard: Tensor, thresholds: Tensor) -> Tensor:
    """Integer levels ``L`` such that the protocol's mask ``q > int(t * P)`` equals ``q >= L``.

    ``L = clamp(trunc(t * P) + 1, 0, 256)`` (float64 product, truncation toward zero like
    Python's ``int()``); ``L = 256`` is an empty mask.

    Args:
        standard: ``(N,)`` float64 standard values ``P``.
        thresholds: ``(T,)`` float64 thresholds ``t``.

    Returns:
        ``(N, T)`` int64 levels in ``[0, 256]``.
    """
    if standard.dim() != 1 or thresholds.dim() != 1:
        raise ValueError(
            f"threshold_levels: expected (N,) and (T,), got {tuple(standard.shape)} and {tuple(thresholds.shape)}"
        )
    if standard.dtype != torch.float64 or thresholds.dtype != torch.float64:
        raise TypeError(f"threshold_levels: expected float64 tensors, got {standard.dtype} and {thresholds.dtype}")
    if standard.device != thresholds.device:
        raise ValueError(f"threshold_levels: device mismatch {standard.device} vs {thresholds.device}")
    if not bool(torch.isfinite(thresholds).all()):
        raise ValueError("threshold_levels: thresholds must be finite")
    prod = standard[:, None] * thresholds[None, :]
    integer = torch.trunc(prod).clamp(-1.0, 256.0)  # clamp before the cast: no int64 overflow
    return (integer.to(torch.int64) + 1).clamp(0, 256)


# ----------------------------------------------------------------------------------------------
# Step 6-8 on runs
# ----------------------------------------------------------------------------------------------


class _Runs(NamedTuple):
    """Horizontal runs of a batch of padded masks ``(K, Hp, Wp)``; ``R`` runs in raster order."""

    start: Tensor  # (R,) global flat index of the first pixel (k * Hp * Wp + y * Wp + x)
    fg: Tensor  # (R,) bool
    x0: Tensor  # (R,) first column (padded coordinates)
    x1: Tensor  # (R,) last column, inclusive
    row: Tensor  # (R,) row in the padded mask
    mask: Tensor  # (R,) mask index k
    above: Tensor  # (R,) run holding the pixel above the first pixel (meaningful for row >= 1)
    below: Tensor  # (R,) run holding the pixel below the first pixel (meaningful for row <= Hp-2)


def _extract_runs(masks: Tensor) -> _Runs:
    """Runs of ``masks`` ``(K, Hp, Wp)`` bool, padded with a background frame."""
    k, hp, wp = masks.shape
    flat = masks.reshape(-1)
    change = torch.ones_like(flat)
    change[1:] = flat[1:] != flat[:-1]
    change.view(k * hp, wp)[:, 0] = True  # every row starts a run (frame pixels are background)
    start = change.nonzero().squeeze(1)
    end = torch.empty_like(start)
    end[:-1] = start[1:] - 1
    end[-1] = flat.numel() - 1
    grow = torch.div(start, wp, rounding_mode="floor")
    mask = torch.div(grow, hp, rounding_mode="floor")
    # Sorted queries into the sorted starts; out-of-mask answers (first / last row) are clamped.
    above = (torch.searchsorted(start, start - wp, right=True) - 1).clamp_min(0)
    below = (torch.searchsorted(start, start + wp, right=True) - 1).clamp_max(start.numel() - 1)
    return _Runs(start, flat[start], start - grow * wp, end - grow * wp, grow - mask * hp, mask, above, below)


def _overlap_pairs(runs: _Runs, hp: int) -> Tuple[Tensor, Tensor]:
    """Every pair ``(top, bottom)`` of same-class runs in consecutive rows whose columns overlap.

    Each pair appears once: found from the bottom run when ``bottom.x0`` lies in the top run, from
    the top run when ``top.x0`` lies strictly right of ``bottom.x0``.
    """
    bot1 = (runs.row >= 1).nonzero().squeeze(1)
    top1 = runs.above[bot1]
    keep = runs.fg[top1] == runs.fg[bot1]
    top1, bot1 = top1[keep], bot1[keep]
    top2 = (runs.row <= hp - 2).nonzero().squeeze(1)
    bot2 = runs.below[top2]
    keep = (runs.fg[bot2] == runs.fg[top2]) & (runs.x0[bot2] < runs.x0[top2])
    return torch.cat([top1, top2[keep]]), torch.cat([bot1, bot2[keep]])


def _diagonal_pairs(runs: _Runs, wp: int) -> Tuple[Tensor, Tensor]:
    """Foreground run pairs touching diagonally (8-connectivity); may repeat overlap pairs.

    For a foreground run ``a`` (never on the frame) the candidates are the runs holding the pixels
    below-left of its first and below-right of its last pixel: the latter is ``below[a + 1]`` (the
    background run right of ``a`` starts there), the former is ``below[a]`` or the run before it.
    """
    fg_runs = runs.fg.nonzero().squeeze(1)
    under = runs.below[fg_runs]
    left = under - (runs.start[under] == runs.start[fg_runs] + wp).long()
    right = runs.below[fg_runs + 1]
    top = torch.cat([fg_runs, fg_runs])
    other = torch.cat([left, right])
    keep = runs.fg[other]
    return top[keep], other[keep]


def _pointer_jump(label: Tensor) -> Tensor:
    """Replace every label by its root (``label[label]`` until stable)."""
    while True:
        nxt = label[label]
        if torch.equal(nxt, label):
            return label
        label = nxt


def _connected_labels(count: int, u: Tensor, v: Tensor) -> Tensor:
    """Connected components of the graph ``(range(count), edges u - v)``.

    Returns:
        ``(count,)`` int64: the smallest node index of each node's component.
    """
    label = torch.arange(count, device=u.device)
    while u.numel():
        lu, lv = label[u], label[v]
        low = torch.minimum(lu, lv)
        label.scatter_reduce_(0, lu, low, reduce="amin")  # hook both roots onto the smaller label
        label.scatter_reduce_(0, lv, low, reduce="amin")
        label = _pointer_jump(label)
        # All labels are roots now; an edge whose ends share a root keeps sharing one.
        live = label[u] != label[v]
        u, v = u[live], v[live]
    return label


def _subtree_sums(parent: Tensor, weight: Tensor) -> Tensor:
    """Sum of ``weight`` over each node's subtree (node included) by pointer doubling.

    Args:
        parent: ``(R,)`` int64 parent index, ``R`` for a root (or a node outside the forest).
        weight: ``(R,)`` int64.
    """
    r = parent.numel()
    sentinel = torch.full((1,), r, dtype=parent.dtype, device=parent.device)
    acc, anc = weight.clone(), parent.clone()
    # Invariant: acc[x] = sum of weight over descendants of x less than 2^k levels below it and
    # anc[x] = the ancestor 2^k levels above x (r if none).
    while True:
        live = anc != r
        if not bool(live.any()):
            return acc
        nxt = acc.clone()
        nxt.index_add_(0, anc[live], acc[live])
        acc = nxt
        anc = torch.cat([anc, sentinel])[anc]


class _ChunkResult(NamedTuple):
    boxes: Tensor  # single: (K, 4); multi: (M, 4) grouped by mask
    counts: Tensor  # multi: (K,) boxes per mask; single: empty


def _outer_areas(runs: _Runs, label: Tensor, top: Tensor, bot: Tensor, hp: int, wp: int) -> Tensor:
    """``(R,)`` int64 outer-contour area in half pixels, valid at the root run of each component.

    Args:
        runs: the runs of the chunk.
        label: ``(R,)`` root run of each run's region.
        top, bot: ``(P,)`` the vertically overlapping same-class run pairs.
    """
    r = label.numel()
    # alpha(C) = sum phi over C's pairs; beta(H) = 4 |H| - sum phi over H's pairs.
    lo = torch.maximum(runs.x0[top], runs.x0[bot])
    hi = torch.minimum(runs.x1[top], runs.x1[bot])
    phi = 2 * (hi - lo + 1) - (runs.x0[top] == runs.x0[bot]).long() - (runs.x1[top] == runs.x1[bot]).long()
    weight = torch.zeros(r, dtype=torch.int64, device=label.device)
    weight.index_add_(0, label[top], torch.where(runs.fg[top], phi, -phi))
    bg = ~runs.fg
    weight.index_add_(0, label[bg], 4 * (runs.x1[bg] - runs.x0[bg] + 1))
    # Nesting forest over the region roots: parent = region of the pixel above the first pixel.
    is_root = label == torch.arange(r, device=label.device)
    child = is_root & (runs.start % (hp * wp) != 0)  # every root but the outside
    parent = torch.full((r,), r, dtype=torch.int64, device=label.device)
    parent[child] = label[runs.above[child]]
    return _subtree_sums(parent, torch.where(is_root, weight, 0))


def _boxes_of_masks(masks: Tensor, multi_box: bool, paper: bool = False) -> _ChunkResult:
    """Boxes of non-empty padded masks ``(K, Hp, Wp)`` bool (image size ``(Hp - 2, Wp - 2)``)."""
    k, hp, wp = masks.shape
    height, width = hp - 2, wp - 2
    device = masks.device
    runs = _extract_runs(masks)
    r = runs.start.numel()
    top, bot = _overlap_pairs(runs, hp)
    dtop, dbot = _diagonal_pairs(runs, wp)
    label = _connected_labels(r, torch.cat([top, dtop]), torch.cat([bot, dbot]))
    idx = torch.arange(r, device=device)
    is_root = label == idx
    comp = is_root & runs.fg

    # Inclusive pixel bbox of every region in padded coordinates (the root holds the first row).
    xmin = torch.full((r,), wp, dtype=torch.int64, device=device).scatter_reduce(0, label, runs.x0, "amin")
    xmax = torch.full((r,), -1, dtype=torch.int64, device=device).scatter_reduce(0, label, runs.x1, "amax")
    ymax = torch.full((r,), -1, dtype=torch.int64, device=device).scatter_reduce(0, label, runs.row, "amax")
    ymin = runs.row

    if not multi_box:
        # Largest area; ties go to the component whose first pixel comes last in raster order.
        area = _outer_areas(runs, label, top, bot, hp, wp)
        key = torch.where(comp, area * (hp * wp) + runs.start % (hp * wp), -1)
        best = torch.full((k,), -1, dtype=torch.int64, device=device)
        best.scatter_reduce_(0, runs.mask, key, reduce="amax")
        win = idx[comp & (key == best[runs.mask])]  # exactly one per mask (masks are non-empty)
        boxes = torch.zeros((k, 4), dtype=torch.int64, device=device)
        boxes[runs.mask[win]] = _component_boxes(xmin[win], ymin[win], xmax[win], ymax[win], height, width, paper)
        return _ChunkResult(boxes, boxes.new_empty(0))

    hole = is_root & ~runs.fg & (runs.start % (hp * wp) != 0)
    sel = idx[comp | hole]
    sel = sel[torch.sort(runs.mask[sel] * 2 + hole[sel].long(), stable=True).indices]  # by mask, holes last
    comp_boxes = _component_boxes(xmin[sel], ymin[sel], xmax[sel], ymax[sel], height, width, paper)
    hole_boxes = _hole_boxes(xmin[sel], ymin[sel], xmax[sel], ymax[sel], height, width, paper)
    boxes = torch.where(hole[sel][:, None], hole_boxes, comp_boxes)
    counts = torch.bincount(runs.mask[sel], minlength=k)
    return _ChunkResult(boxes, counts)


def _component_boxes(x0: Tensor, y0: Tensor, x1: Tensor, y1: Tensor, height: int, width: int, paper: bool) -> Tensor:
    """Outer-contour box from a component's padded inclusive pixel bbox -> ``(M, 4)``.

    ``[x, y, x + w, y + h]`` of the contour's boundingRect, the far corner clamped to
    ``(W - 1, H - 1)`` (protocol) or not (``paper``).
    """
    if paper:
        return torch.stack([x0 - 1, y0 - 1, x1, y1], dim=1)
    return torch.stack([x0 - 1, y0 - 1, x1.clamp(max=width - 1), y1.clamp(max=height - 1)], dim=1)


def _hole_boxes(x0: Tensor, y0: Tensor, x1: Tensor, y1: Tensor, height: int, width: int, paper: bool) -> Tensor:
    """Hole-contour box from a hole's padded inclusive pixel bbox -> ``(M, 4)``.

    The hole contour runs over the foreground pixels around the hole: one pixel wider each side.
    """
    if paper:
        return torch.stack([x0 - 2, y0 - 2, x1 + 1, y1 + 1], dim=1)
    return torch.stack([x0 - 2, y0 - 2, (x1 + 1).clamp(max=width - 1), (y1 + 1).clamp(max=height - 1)], dim=1)


# ----------------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------------


def scoremap_boxes_reference(
    scoremaps: Tensor, thresholds: Tensor, percentile: float, multi_box: bool, *, paper: bool = False
) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Boxes of already upsampled score maps at every threshold (protocol steps 2-8).

    Args:
        scoremaps: ``(N, H, W)`` float32 / float64 raw score maps (normalised in float64 inside).
        thresholds: ``(T,)`` float64 threshold fractions of the standard value, same device.
        percentile: ``100`` (standard value = max) or ``p`` in ``[0, 100)`` (PaS).
        multi_box: return the boxes of every contour instead of the largest component's.
        paper: the paper code's box rule (far corner not clamped, empty mask -> ``[0, 0, W, H]``).

    Returns:
        Single: ``(N, T, 4)`` int64 ``[x0, y0, x1, y1]``. Multi: ``(boxes (M, 4), counts (N, T))``
        int64, boxes grouped by (map, threshold) in row-major order, components before holes
        within a group, ``counts >= 1`` (an empty mask gives one ``[0, 0, 0, 0]``).
    """
    _check_scoremaps(scoremaps, "scoremap_boxes_reference")
    _check_thresholds(thresholds, scoremaps.device, percentile, "scoremap_boxes_reference")
    if scoremaps.size(1) * scoremaps.size(2) == 0:
        raise ValueError(f"scoremap_boxes_reference: empty image size {tuple(scoremaps.shape[1:])}")
    q = quantize_scoremaps(scoremaps.contiguous())
    return quantized_boxes_reference(q, thresholds, percentile, multi_box, paper=paper)


def _check_thresholds(thresholds: Tensor, device: torch.device, percentile: float, name: str) -> None:
    if not isinstance(thresholds, Tensor) or thresholds.dim() != 1:
        got = tuple(thresholds.shape) if isinstance(thresholds, Tensor) else type(thresholds).__name__
        raise ValueError(f"{name}: thresholds must be a 1-D tensor, got {got}")
    if thresholds.dtype != torch.float64:
        raise TypeError(f"{name}: thresholds must be float64, got {thresholds.dtype}")
    if thresholds.device != device:
        raise ValueError(f"{name}: thresholds on {thresholds.device}, score maps on {device}")
    if not (0.0 <= float(percentile) <= 100.0):
        raise ValueError(f"{name}: percentile must lie in [0, 100], got {percentile}")
    if thresholds.numel() == 0:
        raise ValueError(f"{name}: thresholds must not be empty")
    if not bool(torch.isfinite(thresholds).all()):
        raise ValueError(f"{name}: thresholds must be finite (no NaN or inf)")


def quantized_boxes_reference(
    q: Tensor, thresholds: Tensor, percentile: float, multi_box: bool, *, paper: bool = False
) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Protocol steps 4-8 on quantised maps ``q`` ``(N, H, W)`` uint8; see :func:`scoremap_boxes_reference`."""
    if not isinstance(q, Tensor) or q.dim() != 3 or q.dtype != torch.uint8:
        raise TypeError(f"quantized_boxes_reference: expected (N, H, W) uint8 maps, got {getattr(q, 'shape', q)}")
    _check_thresholds(thresholds, q.device, percentile, "quantized_boxes_reference")
    n, height, width = q.shape
    if height * width == 0:
        raise ValueError(f"quantized_boxes_reference: empty image size {(height, width)}")
    device = q.device
    t = thresholds.numel()
    if n == 0:
        if multi_box:
            empty_boxes = torch.zeros((0, 4), dtype=torch.int64, device=device)
            return empty_boxes, torch.zeros((n, t), dtype=torch.int64, device=device)
        return torch.zeros((n, t, 4), dtype=torch.int64, device=device)

    levels = threshold_levels(standard_values(q, percentile), thresholds)  # (N, T)
    # Canonical level: the smallest value present in the map that is >= L gives the same mask, so
    # levels between two present values share one labelling (256: empty mask; the map's minimum:
    # every pixel is foreground).
    flat_q = q.reshape(n, -1).long()
    present = torch.zeros((n, 257), dtype=torch.bool, device=device)
    present.scatter_(1, flat_q, True)
    present[:, 256] = True
    values = torch.where(present, torch.arange(257, device=device), 256)
    next_present = values.flip(1).cummin(dim=1).values.flip(1)  # (N, 257)
    levels = next_present.gather(1, levels)  # (N, T) canonical levels
    empty = levels == 256
    full = levels == flat_q.amin(dim=1, keepdim=True)

    # Distinct (map, level) masks to label; duplicates reuse one labelling. Rows of the box table:
    # 0 = empty mask, 1 = full mask, 2 + i = i-th distinct labelled mask.
    key = torch.arange(n, device=device)[:, None] * 257 + levels
    key = torch.where(empty, -2, torch.where(full, -1, key))
    uniq, inverse = torch.unique(key, return_inverse=True)
    special = int((uniq < 0).sum())
    table_row = torch.where(key < 0, key + 2, inverse - special + 2)  # (N, T)
    uniq = uniq[special:]
    u_map = torch.div(uniq, 257, rounding_mode="floor")
    u_level = (uniq - u_map * 257).to(torch.uint8)  # in [1, 255]: above the map's minimum

    # Padded quantised maps; the zero frame is below every level >= 1, so it is always background.
    hp, wp = height + 2, width + 2
    qp = torch.zeros((n, hp, wp), dtype=torch.uint8, device=device)
    qp[:, 1:-1, 1:-1] = q
    per_chunk = max(1, _MAX_CHUNK_PIXELS // (hp * wp))
    parts: List[_ChunkResult] = []
    for s in range(0, uniq.numel(), per_chunk):
        masks = qp.index_select(0, u_map[s : s + per_chunk]) >= u_level[s : s + per_chunk, None, None]
        parts.append(_boxes_of_masks(masks, multi_box, paper))

    # Empty mask: no contour; full mask: the image border's contour.
    fixed = [[0, 0, width, height], [0, 0, width, height]] if paper else [[0, 0, 0, 0], [0, 0, width - 1, height - 1]]
    special_boxes = torch.tensor(fixed, dtype=torch.int64, device=device)
    boxes_u = torch.cat([special_boxes] + [p.boxes for p in parts])
    if not multi_box:
        return boxes_u[table_row]

    counts_u = torch.cat([torch.ones(2, dtype=torch.int64, device=device)] + [p.counts for p in parts])
    offsets_u = counts_u.cumsum(0) - counts_u
    group = table_row.reshape(-1)  # (N*T,) row of the table
    counts = counts_u[group]
    starts = torch.repeat_interleave(offsets_u[group], counts)
    first = torch.repeat_interleave(counts.cumsum(0) - counts, counts)
    within = torch.arange(starts.numel(), device=device) - first
    return boxes_u[starts + within], counts.view(n, t)
