"""CAM overlays as tensors: ``overlay(images, cams, boxes, gt_boxes) -> (B, 3, H, W) uint8``.

Built on a 256-entry colormap lookup table and :func:`torchvision.utils.draw_bounding_boxes`, so
the result goes straight into ``torchvision.utils.make_grid``, TensorBoard's ``add_image(s)`` or
a notebook's ``plt.imshow(out[i].permute(1, 2, 0))``. Nothing here touches pyplot or the
matplotlib backend.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from wsolx.ops.normalize import minmax_normalize

__all__ = ["overlay", "colormap_lut", "to_uint8_images", "GT_COLOR", "PRED_COLOR"]

#: Box colours (RGB): ground truth green, prediction red.
GT_COLOR: Tuple[int, int, int] = (0, 230, 118)
PRED_COLOR: Tuple[int, int, int] = (255, 23, 68)

BoxesLike = Union[Tensor, np.ndarray, Sequence]


def colormap_lut(name: str = "jet") -> Tensor:
    """The matplotlib colormap ``name`` as a ``(256, 3)`` uint8 table (no figure, no backend)."""
    import matplotlib

    cmap = matplotlib.colormaps[name]
    rgba = cmap(np.linspace(0.0, 1.0, 256))
    return torch.from_numpy((rgba[:, :3] * 255.0).round().astype(np.uint8))


def to_uint8_images(images: Union[Tensor, np.ndarray]) -> Tensor:
    """Images as ``(B, 3, H, W)`` uint8.

    Accepts ``(B, 3, H, W)`` or ``(B, H, W, 3)`` (channel axis found by size 3), uint8 as is, or
    floats in ``[0, 1]`` (scaled by 255 and clamped).
    """
    t = torch.as_tensor(images).detach().cpu()
    if t.dim() != 4:
        raise ValueError(f"overlay: images must be (B, 3, H, W) or (B, H, W, 3), got shape {tuple(t.shape)}")
    if t.shape[1] != 3 and t.shape[-1] == 3:
        t = t.permute(0, 3, 1, 2)
    if t.shape[1] != 3:
        raise ValueError(f"overlay: images need 3 channels, got shape {tuple(t.shape)}")
    if t.dtype != torch.uint8:
        t = (t.float() * 255.0).round().clamp(0, 255).to(torch.uint8)
    return t.contiguous()


def _box_list(boxes: Optional[Union[BoxesLike, Sequence[BoxesLike]]], batch: int, name: str) -> list:
    """Per image a ``(N, 4)`` float tensor (``N`` may be 0)."""
    if boxes is None:
        return [torch.zeros(0, 4) for _ in range(batch)]
    if isinstance(boxes, (Tensor, np.ndarray)):
        t = torch.as_tensor(np.asarray(boxes) if isinstance(boxes, np.ndarray) else boxes).detach().cpu().float()
        if t.dim() == 2 and t.shape[-1] == 4 and t.shape[0] == batch:
            return [b.reshape(1, 4) for b in t]
        if t.dim() == 3 and t.shape[0] == batch and t.shape[-1] == 4:
            return [b for b in t]
        raise ValueError(f"overlay: {name} must be (B, 4), (B, N, 4) or a list of (N, 4), got {tuple(t.shape)}")
    items = list(boxes)
    if len(items) != batch:
        raise ValueError(f"overlay: {name} has {len(items)} entries for {batch} images")
    out = []
    for b in items:
        t = torch.as_tensor(np.asarray(b, dtype=np.float32)).reshape(-1, 4)
        out.append(t)
    return out


def _clip_boxes(b: Tensor, h: int, w: int) -> Tensor:
    """Clip to the image and keep boxes with ``x0 <= x1`` and ``y0 <= y1`` (what torchvision draws)."""
    if b.numel() == 0:
        return b.reshape(0, 4)
    b = b.clone()
    b[:, 0::2] = b[:, 0::2].clamp(0, w - 1)
    b[:, 1::2] = b[:, 1::2].clamp(0, h - 1)
    keep = (b[:, 2] >= b[:, 0]) & (b[:, 3] >= b[:, 1])
    return b[keep]


def overlay(
    images: Union[Tensor, np.ndarray],
    cams: Union[Tensor, np.ndarray],
    boxes: Optional[Union[BoxesLike, Sequence[BoxesLike]]] = None,
    gt_boxes: Optional[Union[BoxesLike, Sequence[BoxesLike]]] = None,
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    width: int = 2,
    normalize: bool = True,
    box_color: Tuple[int, int, int] = PRED_COLOR,
    gt_color: Tuple[int, int, int] = GT_COLOR,
) -> Tensor:
    """Blend CAMs over images and draw predicted and ground-truth boxes.

    Args:
        images: ``(B, 3, H, W)`` or ``(B, H, W, 3)``, uint8 or float in ``[0, 1]``.
        cams: ``(B, h, w)`` score maps (any range); resized bilinearly to ``(H, W)`` when they differ.
        boxes: predicted boxes ``[x0, y0, x1, y1]`` in pixels: ``(B, 4)``, ``(B, N, 4)`` or a list of
            ``(N_i, 4)`` (drawn in ``box_color``); ``None`` for none.
        gt_boxes: ground-truth boxes, same forms (drawn in ``gt_color``, under the predictions).
        alpha: CAM opacity in ``[0, 1]``.
        cmap: matplotlib colormap name.
        width: box line width in pixels.
        normalize: min-max normalise each CAM to ``[0, 1]`` with :func:`wsolx.ops.minmax_normalize` in
            float32 (a constant or NaN map shows as 0); else clamp to ``[0, 1]``.

    Returns:
        ``(B, 3, H, W)`` uint8 tensor on the CPU.
    """
    from torchvision.utils import draw_bounding_boxes

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"overlay: alpha must lie in [0, 1], got {alpha}")
    img = to_uint8_images(images)
    b, _, h, w = img.shape
    c = torch.as_tensor(cams).detach().cpu().float()
    if c.dim() == 4 and c.shape[1] == 1:
        c = c[:, 0]
    if c.dim() != 3 or c.shape[0] != b:
        raise ValueError(f"overlay: cams must be (B, h, w) with B={b}, got shape {tuple(c.shape)}")
    if c.shape[-2:] != (h, w):
        c = torch.nn.functional.interpolate(c[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0]
    if normalize:
        # Display only: the protocol's rule computed in float32 (a constant or NaN map shows as 0).
        c = minmax_normalize(c, dtype=torch.float32)
    idx = (c.clamp(0, 1) * 255.0).round().long()
    heat = colormap_lut(cmap)[idx].permute(0, 3, 1, 2).float()  # (B, 3, H, W)
    out = (img.float() * (1.0 - alpha) + heat * alpha).round().clamp(0, 255).to(torch.uint8)
    preds = _box_list(boxes, b, "boxes")
    gts = _box_list(gt_boxes, b, "gt_boxes")
    drawn = []
    for k in range(b):
        frame = out[k]
        g = _clip_boxes(gts[k], h, w)
        if g.numel():
            frame = draw_bounding_boxes(frame, g, colors=[gt_color] * len(g), width=width)
        p = _clip_boxes(preds[k], h, w)
        if p.numel():
            frame = draw_bounding_boxes(frame, p, colors=[box_color] * len(p), width=width)
        drawn.append(frame)
    return torch.stack(drawn)
