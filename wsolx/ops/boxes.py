"""Batched raw CAM -> boxes at many thresholds, bit-exact to the WSOL evaluation protocol.

Pipeline per map (docs/semantics.md §3-4), all fused in one kernel per map (``wsolx::cam_boxes``,
``wsolx::cam_all_boxes``, ``wsolx::cam_boxes_both``; C++ CPU, CUDA and a pure-PyTorch fallback):

1. the raw ``(h, w)`` CAM, cast to float64, is resized to ``image_size`` exactly as
   ``cv2.resize(cam, (W, H), interpolation=cv2.INTER_CUBIC)`` does on a float64 array (bit for
   bit; a plain copy when ``(h, w) == image_size``),
2. float64 min-max normalisation as the protocol's ``normalize_scoremap`` (``s -= min; s /= max``;
   a constant map, or one holding a NaN or an infinite value, becomes all zeros),
3. quantisation ``q = uint8(s * 255)`` (truncation) of the float64 map,
4. standard value ``P``: ``max(q)`` (``percentile=100``) or the numpy-linear percentile of ``q``
   (Percentile as a Standard, PaS),
5. per threshold ``t``: ``mask = q > int(t * P)``,
6. 8-connected components (4-connected holes), as ``cv2.findContours(RETR_TREE)`` sees them,
7. single-box: the component with the largest ``cv2.contourArea`` of its outer contour (ties: the
   component whose first pixel comes last in raster order); multi-box: every contour, holes
   included,
8. box ``[x, y, x + w, y + h]`` of the contour's ``cv2.boundingRect``; ``box_rule="protocol"``
   clamps the far corner to ``(W - 1, H - 1)`` and gives ``[0, 0, 0, 0]`` for an empty mask;
   ``box_rule="paper"`` (the rethinkingCAM code) does not clamp and gives ``[0, 0, W, H]``.

Each worker resizes, normalises and quantises its own map (no ``(N, H, W)`` float64 tensor), then
processes the at most 256 quantisation levels of the map once with a union-find, so the cost
barely depends on the number of thresholds.

Contract on every backend (eager, ``torch.compile``, the fallback, the C++ op itself):
thresholds are a non-empty 1-D sequence of finite numbers (NaN / inf / empty -> ``ValueError``);
``percentile`` in ``[0, 100]``; image and CAM sides in ``[1, 32767]`` with fewer than ``2^28``
pixels, checked before anything is allocated.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from wsolx._ext import has_extension

__all__ = [
    "cam_boxes",
    "cam_boxes_both",
    "scoremap_boxes",
    "upsample_scoremaps",
    "MultiBoxes",
    "upsample_cams",
    "MAX_SIDE",
    "MAX_PIXELS",
]

#: Largest image / CAM side the box ops accept (``int16`` box coordinates inside the kernel).
MAX_SIDE = 32767
#: Images and CAMs must have fewer pixels than this (``2^28``).
MAX_PIXELS = 1 << 28
# Pixels of float64 maps the fallback resizes at once (~0.5 GB of peak intermediates).
_FALLBACK_CHUNK_PIXELS = 1 << 21
BOX_RULES = ("protocol", "paper")


class MultiBoxes(NamedTuple):
    """Ragged multi-box output.

    Attributes:
        boxes: ``(M, 4)`` int64 ``[x0, y0, x1, y1]``, grouped by (map, threshold) in row-major
            order: the boxes of map ``n`` at threshold ``j`` are
            ``boxes[offsets[n, j] : offsets[n, j] + counts[n, j]]`` with
            ``offsets = counts.flatten().cumsum(0) - counts.flatten()``. Within a group the order
            is unspecified (outer contours first, then hole contours).
        counts: ``(N, T)`` int64, at least 1 (an empty mask gives one box: ``[0, 0, 0, 0]``, or
            ``[0, 0, W, H]`` under ``box_rule="paper"``).
    """

    boxes: Tensor
    counts: Tensor

    def offsets(self) -> Tensor:
        """``(N, T)`` start of each group in :attr:`boxes`."""
        flat = self.counts.flatten()
        return (flat.cumsum(0) - flat).view_as(self.counts)

    def group_index(self) -> Tensor:
        """``(M,)`` flat (map * T + threshold) index of each box."""
        flat = self.counts.flatten()
        return torch.repeat_interleave(torch.arange(flat.numel(), device=flat.device), flat)


def _register_fake_kernels() -> None:
    @torch.library.register_fake("wsolx::cam_boxes")
    def _cam_boxes_fake(cams, thresholds, height, width, percentile, normalize, box_rule):
        return cams.new_empty((cams.size(0), thresholds.size(0), 4), dtype=torch.int64)

    @torch.library.register_fake("wsolx::cam_all_boxes")
    def _cam_all_boxes_fake(cams, thresholds, height, width, percentile, normalize, box_rule):
        num_boxes = torch.library.get_ctx().new_dynamic_size()
        return (
            cams.new_empty((num_boxes, 4), dtype=torch.int64),
            cams.new_empty((cams.size(0), thresholds.size(0)), dtype=torch.int64),
        )

    @torch.library.register_fake("wsolx::cam_boxes_both")
    def _cam_boxes_both_fake(cams, thresholds, height, width, percentile, normalize, box_rule):
        num_boxes = torch.library.get_ctx().new_dynamic_size()
        return (
            cams.new_empty((cams.size(0), thresholds.size(0), 4), dtype=torch.int64),
            cams.new_empty((num_boxes, 4), dtype=torch.int64),
            cams.new_empty((cams.size(0), thresholds.size(0)), dtype=torch.int64),
        )

    @torch.library.register_fake("wsolx::resize_cubic")
    def _resize_cubic_fake(cams, height, width, normalize):
        return cams.new_empty((cams.size(0), height, width), dtype=torch.float64)


if has_extension():
    _register_fake_kernels()


# ----------------------------------------------------------------------------------------------
# Argument checks (before any allocation)
# ----------------------------------------------------------------------------------------------


def _check_size(size: Sequence[int], what: str, name: str) -> Tuple[int, int]:
    if len(size) != 2:
        raise ValueError(f"{name}: {what} must be (H, W), got {tuple(size)}")
    h, w = int(size[0]), int(size[1])
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE and h * w < MAX_PIXELS):
        raise ValueError(f"{name}: {what} must be (H, W) with 1 <= H, W <= {MAX_SIDE} and H * W < 2^28, got {(h, w)}")
    return h, w


def _check_cams(cams: Tensor, name: str) -> None:
    if not isinstance(cams, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(cams).__name__}")
    if cams.dim() != 3:
        raise ValueError(f"{name}: expected (N, h, w) CAMs, got shape {tuple(cams.shape)}")
    if not cams.is_floating_point():
        raise TypeError(f"{name}: expected a floating point tensor, got {cams.dtype}")
    if cams.size(1) * cams.size(2) == 0:
        raise ValueError(f"{name}: CAMs have an empty spatial size {tuple(cams.shape[1:])}")
    _check_size(cams.shape[1:], "the CAM size", name)


def _as_thresholds(thresholds: Union[Sequence[float], Tensor, float], device: torch.device, name: str) -> Tensor:
    """Thresholds -> ``(T,)`` float64 on ``device``; empty, NaN or infinite thresholds raise.

    Under ``torch.compile`` the finiteness check is left to the op (the same ``ValueError``)."""
    t = torch.as_tensor(thresholds, dtype=torch.float64)
    if t.dim() == 0:
        t = t[None]
    if t.dim() != 1:
        raise ValueError(f"{name}: thresholds must be 1-D, got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{name}: thresholds must not be empty")
    if not torch.compiler.is_compiling() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: thresholds must be finite (no NaN or inf)")
    return t.to(device)


def _check_options(percentile: float, box_rule: str, name: str) -> None:
    if not (0.0 <= float(percentile) <= 100.0):
        raise ValueError(f"{name}: percentile must lie in [0, 100], got {percentile}")
    if box_rule not in BOX_RULES:
        raise ValueError(f"{name}: box_rule must be 'protocol' or 'paper', got {box_rule!r}")


def _kernel_input(cams: Tensor) -> Tensor:
    """float32 / float64 as they are; float16 / bfloat16 widened to float32 (exact)."""
    return cams if cams.dtype in (torch.float32, torch.float64) else cams.to(torch.float32)


# ----------------------------------------------------------------------------------------------
# Score maps
# ----------------------------------------------------------------------------------------------


def upsample_scoremaps(cams: Tensor, image_size: Tuple[int, int], *, normalize: bool = True) -> Tensor:
    """The protocol's score maps: ``(N, h, w)`` raw CAMs -> ``(N, H, W)`` float64.

    ``cv2.resize(float64(cam), (W, H), interpolation=cv2.INTER_CUBIC)`` bit for bit (a copy when
    ``(h, w) == image_size``), then with ``normalize`` the protocol's ``normalize_scoremap`` in
    float64 (values in ``[0, 1]``; a constant map, or one holding a NaN or an infinite value,
    becomes all zeros). This is what PxAP scores and what the box ops quantise. On the CPU with
    the extension a C++ kernel computes it (``wsolx::resize_cubic``), elsewhere torch float64 ops
    in the same rounding order (bit-identical).

    Args:
        cams: ``(N, h, w)`` any floating dtype, any device.
        image_size: ``(H, W)``.
        normalize: apply the min-max normalisation (``False``: the resized map as it is).
    """
    _check_cams(cams, "upsample_scoremaps")
    size = _check_size(image_size, "image_size", "upsample_scoremaps")
    if has_extension() and cams.device.type == "cpu":  # the C++ kernel (csrc/ops/cubic_resize.h)
        return torch.ops.wsolx.resize_cubic(_kernel_input(cams), size[0], size[1], bool(normalize))
    from wsolx.ops._cubic_reference import normalize_scoremaps, resize_cubic

    n = cams.size(0)
    out = torch.empty((n, size[0], size[1]), dtype=torch.float64, device=cams.device)
    per_chunk = max(1, _FALLBACK_CHUNK_PIXELS // (size[0] * size[1]))
    for s in range(0, n, per_chunk):
        part = resize_cubic(cams[s : s + per_chunk], size)
        out[s : s + per_chunk] = normalize_scoremaps(part) if normalize else part
    return out


def upsample_cams(cams: Tensor, image_size: Tuple[int, int]) -> Tensor:
    """Deprecated alias: :func:`upsample_scoremaps` with ``normalize=False`` (float64)."""
    return upsample_scoremaps(cams, image_size, normalize=False)


# ----------------------------------------------------------------------------------------------
# Boxes
# ----------------------------------------------------------------------------------------------


def _fallback(
    cams: Tensor,
    thr: Tensor,
    size: Tuple[int, int],
    percentile: float,
    normalize: bool,
    box_rule: str,
    single: bool,
    multi: bool,
) -> Tuple[Optional[Tensor], Optional[MultiBoxes]]:
    """Pure-PyTorch path: maps in chunks of bounded size (resize, quantise, box)."""
    from wsolx.ops._boxes_reference import quantized_boxes_reference
    from wsolx.ops._cubic_reference import quantize_scoremaps64, resize_cubic, scoremap_status

    n = cams.size(0)
    paper = box_rule == "paper"
    per_chunk = max(1, _FALLBACK_CHUNK_PIXELS // (size[0] * size[1]))
    singles, boxes, counts = [], [], []
    for s in range(0, max(n, 1), per_chunk):
        part = resize_cubic(cams[s : s + per_chunk], size)
        if not normalize:
            status = scoremap_status(part)
            if bool((status != 0).any()):
                k = int((status != 0).nonzero()[0, 0])
                what = "holds NaN" if int(status[k]) == 1 else "has values outside [0, 1]"
                raise ValueError(
                    f"cam_boxes(normalize=False): score map {s + k} {what} (a saved score map must lie in "
                    "[0, 1]; use normalize=True for raw CAMs)"
                )
        q = quantize_scoremaps64(part, normalize)
        if single:
            singles.append(quantized_boxes_reference(q, thr, percentile, False, paper=paper))
        if multi:
            b, c = quantized_boxes_reference(q, thr, percentile, True, paper=paper)
            boxes.append(b)
            counts.append(c)
    one = torch.cat(singles) if single else None
    many = MultiBoxes(torch.cat(boxes), torch.cat(counts)) if multi else None
    return one, many


def _run(
    cams: Tensor,
    thresholds: Union[Sequence[float], Tensor, float],
    image_size: Tuple[int, int],
    percentile: float,
    normalize: bool,
    box_rule: str,
    single: bool,
    multi: bool,
    name: str,
) -> Tuple[Optional[Tensor], Optional[MultiBoxes]]:
    _check_cams(cams, name)
    size = _check_size(image_size, "image_size", name)
    _check_options(percentile, box_rule, name)
    thr = _as_thresholds(thresholds, cams.device, name)
    if not has_extension():
        return _fallback(cams, thr, size, float(percentile), normalize, box_rule, single, multi)
    x = _kernel_input(cams)
    args = (x, thr, size[0], size[1], float(percentile), bool(normalize), box_rule)
    if single and multi:
        one, b, c = torch.ops.wsolx.cam_boxes_both(*args)
        return one, MultiBoxes(b, c)
    if multi:
        b, c = torch.ops.wsolx.cam_all_boxes(*args)
        return None, MultiBoxes(b, c)
    return torch.ops.wsolx.cam_boxes(*args), None


def cam_boxes(
    cams: Tensor,
    thresholds: Union[Sequence[float], Tensor, float],
    *,
    image_size: Tuple[int, int] = (224, 224),
    percentile: float = 100.0,
    multi_box: bool = False,
    normalize: bool = True,
    box_rule: str = "protocol",
) -> Union[Tensor, MultiBoxes]:
    """Boxes of raw CAMs at many thresholds, exactly as the WSOL evaluation protocol computes them.

    Args:
        cams: ``(N, h, w)`` raw CAMs (any floating dtype; cast to float64 as the protocol's
            ``t2n``), on any device. ``(h, w)`` may equal ``image_size`` (then no interpolation).
        thresholds: ``T`` thresholds, fractions of the standard value (e.g. ``np.arange(0, 1, 0.01)``).
        image_size: ``(H, W)`` of the image the boxes refer to.
        percentile: ``100`` uses ``max(q)`` as the standard value; ``p < 100`` uses the p-th
            percentile (PaS; the paper uses ``p = 90`` with ``t = 0.35``).
        multi_box: return the boxes of every contour (MaxBoxAccV2) instead of the largest one.
        normalize: ``True``: min-max normalise each resized map (the protocol's inference).
            ``False``: use it as a saved score map, as the official standalone evaluator does:
            it must lie in ``[0, 1]`` (else ``ValueError`` naming the map).
        box_rule: ``"protocol"`` (far corner clamped to ``(W - 1, H - 1)``, empty mask
            ``[0, 0, 0, 0]``) or ``"paper"`` (``[x, y, x + w, y + h]`` unclamped, empty mask
            ``[0, 0, W, H]``, as the rethinkingCAM code).

    Returns:
        ``(N, T, 4)`` int64 ``[x0, y0, x1, y1]`` on ``cams.device``; with ``multi_box`` a
        :class:`MultiBoxes` ``(boxes (M, 4), counts (N, T))``.

    Raises:
        ValueError: on a wrong shape, empty or non-finite thresholds, bad percentile, box rule or
            size (checked before any allocation), or a bad score map with ``normalize=False``.
        TypeError: on a non-floating dtype.
    """
    one, many = _run(
        cams, thresholds, image_size, percentile, normalize, box_rule, not multi_box, multi_box, "cam_boxes"
    )
    return many if multi_box else one


def cam_boxes_both(
    cams: Tensor,
    thresholds: Union[Sequence[float], Tensor, float],
    *,
    image_size: Tuple[int, int] = (224, 224),
    percentile: float = 100.0,
    normalize: bool = True,
    box_rule: str = "protocol",
) -> Tuple[Tensor, MultiBoxes]:
    """Largest-contour boxes and every contour's boxes from one pass per map.

    Equal to ``(cam_boxes(..., multi_box=False), cam_boxes(..., multi_box=True))`` at the cost of
    about one call (MaxBoxAcc V1 and V2 together). Arguments as :func:`cam_boxes`.

    Returns:
        ``(largest (N, T, 4) int64, MultiBoxes)``.
    """
    one, many = _run(cams, thresholds, image_size, percentile, normalize, box_rule, True, True, "cam_boxes_both")
    assert one is not None and many is not None
    return one, many


def scoremap_boxes(
    scoremaps: Tensor,
    thresholds: Union[Sequence[float], Tensor, float],
    percentile: float = 100.0,
    multi_box: bool = False,
    *,
    normalize: bool = True,
    box_rule: str = "protocol",
) -> Union[Tensor, MultiBoxes]:
    """Steps 2-8 on already upsampled ``(N, H, W)`` score maps (any floating dtype).

    The maps are cast to float64 and, with ``normalize``, min-max normalised in float64 exactly
    as the protocol's ``normalize_scoremap``; quantisation is ``uint8(s * 255)`` of the float64
    map. Equal to :func:`cam_boxes` with ``image_size = (H, W)`` (no interpolation).

    Returns:
        ``(N, T, 4)`` int64 boxes, or :class:`MultiBoxes` when ``multi_box``.
    """
    if isinstance(scoremaps, Tensor) and scoremaps.dim() != 3:
        raise ValueError(f"scoremap_boxes: expected (N, H, W) score maps, got shape {tuple(scoremaps.shape)}")
    if isinstance(scoremaps, Tensor) and scoremaps.dim() == 3 and scoremaps.size(1) * scoremaps.size(2) == 0:
        raise ValueError(f"scoremap_boxes: empty image size {tuple(scoremaps.shape[1:])}")
    size = (int(scoremaps.size(1)), int(scoremaps.size(2)))
    one, many = _run(
        scoremaps, thresholds, size, percentile, normalize, box_rule, not multi_box, multi_box, "scoremap_boxes"
    )
    return many if multi_box else one
