"""Batched CAM -> boxes at many thresholds, exact to the WSOL evaluation protocol.

Pipeline per map (DESIGN.md section 3):

1. bicubic upsampling of the raw ``(h, w)`` CAM to ``image_size`` (``align_corners=False``),
2. min-max normalisation (a constant or non-finite map becomes all zeros),
3. quantisation ``q = uint8(floor(s * 255))``,
4. standard value ``P``: ``max(q)`` (``percentile=100``) or the numpy-linear percentile of ``q``
   (Percentile as a Standard, PaS),
5. per threshold ``t``: ``mask = q > int(t * P)``,
6. 8-connected components (4-connected holes), as ``cv2.findContours(RETR_TREE)`` sees them,
7. single-box: the component with the largest ``cv2.contourArea`` of its outer contour (ties: the
   component whose first pixel comes last in raster order); multi-box: every contour, holes
   included,
8. box ``[x0, y0, x1, y1]`` with ``x1 = x0 + width`` and ``y1 = y0 + height`` clamped to
   ``W - 1`` / ``H - 1``; no component gives ``[0, 0, 0, 0]``.

Steps 2-8 run in one fused kernel (``wsolx::scoremap_boxes`` / ``wsolx::scoremap_all_boxes``)
that processes the at most 256 quantisation levels of a map once with a union-find, so the cost
barely depends on the number of thresholds.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from wsolx._ext import has_extension

__all__ = ["cam_boxes", "scoremap_boxes", "MultiBoxes", "upsample_cams"]


class MultiBoxes(NamedTuple):
    """Ragged multi-box output.

    Attributes:
        boxes: ``(M, 4)`` int64 ``[x0, y0, x1, y1]``, grouped by (map, threshold) in row-major
            order: the boxes of map ``n`` at threshold ``j`` are
            ``boxes[offsets[n, j] : offsets[n, j] + counts[n, j]]`` with
            ``offsets = counts.flatten().cumsum(0) - counts.flatten()``. Within a group the order
            is unspecified (outer contours first, then hole contours).
        counts: ``(N, T)`` int64, at least 1 (an empty mask gives one ``[0, 0, 0, 0]`` box).
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
    @torch.library.register_fake("wsolx::scoremap_boxes")
    def _scoremap_boxes_fake(scoremaps: Tensor, thresholds: Tensor, percentile: float) -> Tensor:
        return scoremaps.new_empty((scoremaps.size(0), thresholds.size(0), 4), dtype=torch.int64)

    @torch.library.register_fake("wsolx::scoremap_all_boxes")
    def _scoremap_all_boxes_fake(scoremaps: Tensor, thresholds: Tensor, percentile: float):
        num_boxes = torch.library.get_ctx().new_dynamic_size()
        return (
            scoremaps.new_empty((num_boxes, 4), dtype=torch.int64),
            scoremaps.new_empty((scoremaps.size(0), thresholds.size(0)), dtype=torch.int64),
        )


if has_extension():
    _register_fake_kernels()


def _as_thresholds(thresholds: Union[Sequence[float], Tensor, float], device: torch.device) -> Tensor:
    t = torch.as_tensor(thresholds, dtype=torch.float64)
    if t.dim() == 0:
        t = t[None]
    if t.dim() != 1:
        raise ValueError(f"cam_boxes: thresholds must be 1-D, got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError("cam_boxes: thresholds must not be empty")
    if not torch.compiler.is_compiling() and not bool(torch.isfinite(t).all()):
        raise ValueError("cam_boxes: thresholds must be finite")
    return t.to(device)


def upsample_cams(cams: Tensor, image_size: Tuple[int, int]) -> Tensor:
    """Bicubic upsampling ``(N, h, w) -> (N, H, W)`` float32 (``align_corners=False``).

    Equal to ``cv2.resize(..., interpolation=cv2.INTER_CUBIC)`` up to float rounding: about one
    quantised pixel in 10^5 differs by one level. Identity when ``(h, w) == image_size``.
    """
    x = cams.to(torch.float32)
    if tuple(x.shape[-2:]) == tuple(image_size):
        return x.contiguous()
    if x.size(0) == 0:
        return x.new_empty((0, image_size[0], image_size[1]))
    return F.interpolate(x[:, None], size=tuple(image_size), mode="bicubic", align_corners=False)[:, 0].contiguous()


def scoremap_boxes(
    scoremaps: Tensor, thresholds: Tensor, percentile: float = 100.0, multi_box: bool = False
) -> Union[Tensor, MultiBoxes]:
    """Steps 2-8 on already upsampled score maps.

    Args:
        scoremaps: ``(N, H, W)`` float32 score maps (any scale: min-max normalised inside).
        thresholds: ``(T,)`` float64 thresholds on the standard value (on any device).
        percentile: ``100`` for the max (plain CAM) or ``p`` in ``[0, 100)`` for PaS.
        multi_box: return every contour's box instead of the largest one.

    Returns:
        ``(N, T, 4)`` int64 boxes, or :class:`MultiBoxes` when ``multi_box``.
    """
    if scoremaps.dim() != 3:
        raise ValueError(f"scoremap_boxes: expected (N, H, W) score maps, got shape {tuple(scoremaps.shape)}")
    if not (0.0 <= percentile <= 100.0):
        raise ValueError(f"scoremap_boxes: percentile must lie in [0, 100], got {percentile}")
    if scoremaps.size(1) * scoremaps.size(2) == 0:
        raise ValueError(f"scoremap_boxes: empty image size {tuple(scoremaps.shape[1:])}")
    s = scoremaps.to(torch.float32).contiguous()
    thr = thresholds.to(device=s.device, dtype=torch.float64).contiguous()
    if has_extension():
        if multi_box:
            boxes, counts = torch.ops.wsolx.scoremap_all_boxes(s, thr, float(percentile))
            return MultiBoxes(boxes, counts)
        return torch.ops.wsolx.scoremap_boxes(s, thr, float(percentile))
    from wsolx.ops._boxes_reference import scoremap_boxes_reference

    out = scoremap_boxes_reference(s, thr, float(percentile), multi_box)
    return MultiBoxes(*out) if multi_box else out


def cam_boxes(
    cams: Tensor,
    thresholds: Union[Sequence[float], Tensor, float],
    *,
    image_size: Tuple[int, int] = (224, 224),
    percentile: float = 100.0,
    multi_box: bool = False,
) -> Union[Tensor, MultiBoxes]:
    """Boxes of raw CAMs at many thresholds, exactly as the WSOL evaluation protocol computes them.

    Args:
        cams: ``(N, h, w)`` raw CAMs (float32 / float16 / bfloat16), on any device. ``(h, w)`` may
            already equal ``image_size`` (then no interpolation happens).
        thresholds: ``T`` thresholds, fractions of the standard value (e.g. ``np.arange(0, 1, 0.01)``).
        image_size: ``(H, W)`` of the image the boxes refer to.
        percentile: ``100`` uses ``max(q)`` as the standard value; ``p < 100`` uses the p-th
            percentile (PaS; the paper uses ``p = 90`` with ``t = 0.35``).
        multi_box: return the boxes of every contour (MaxBoxAccV2) instead of the largest one.

    Returns:
        ``(N, T, 4)`` int64 ``[x0, y0, x1, y1]`` on ``cams.device``; with ``multi_box`` a
        :class:`MultiBoxes` ``(boxes (M, 4), counts (N, T))``.

    Raises:
        ValueError: on a wrong shape, empty or non-finite thresholds, bad percentile or size.
        TypeError: on a non-floating dtype.
    """
    if cams.dim() != 3:
        raise ValueError(f"cam_boxes: expected (N, h, w) CAMs, got shape {tuple(cams.shape)}")
    if not cams.is_floating_point():
        raise TypeError(f"cam_boxes: expected a floating point tensor, got {cams.dtype}")
    if len(image_size) != 2 or min(int(image_size[0]), int(image_size[1])) < 1:
        raise ValueError(f"cam_boxes: image_size must be (H, W) with H, W >= 1, got {image_size}")
    if cams.size(1) * cams.size(2) == 0:
        raise ValueError(f"cam_boxes: CAMs have an empty spatial size {tuple(cams.shape[1:])}")
    image_size = (int(image_size[0]), int(image_size[1]))
    thr = _as_thresholds(thresholds, cams.device)
    return scoremap_boxes(upsample_cams(cams, image_size), thr, percentile, multi_box)
