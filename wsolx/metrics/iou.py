"""Box IoU with the WSOL protocol's "+1" pixel convention."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["box_iou", "pairwise_box_iou"]


def box_iou(boxes_a: Tensor, boxes_b: Tensor) -> Tensor:
    """Element-wise (broadcast) IoU of ``[x0, y0, x1, y1]`` boxes with inclusive ends.

    ``area = (x1 - x0 + 1) * (y1 - y0 + 1)``; the intersection side is
    ``max(0, min(x1) - max(x0) + 1)`` (clamped, so disjoint boxes give 0). Computed in float64
    (float32 on devices without float64) in the operation order of the protocol, so the values
    equal its numpy ones bit for bit.

    Args:
        boxes_a: ``(..., 4)`` boxes (any real dtype).
        boxes_b: ``(..., 4)`` boxes broadcastable against ``boxes_a``.

    Returns:
        ``(...)`` IoU in ``[0, 1]``.
    """
    if boxes_a.size(-1) != 4 or boxes_b.size(-1) != 4:
        raise ValueError(
            f"box_iou: boxes must have a last dimension of 4, got {tuple(boxes_a.shape)} and {tuple(boxes_b.shape)}"
        )
    dtype = torch.float32 if boxes_a.device.type == "mps" else torch.float64
    a = boxes_a.to(dtype)
    b = boxes_b.to(device=a.device, dtype=dtype)
    ix = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0]) + 1).clamp_min(0)
    iy = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1]) + 1).clamp_min(0)
    inter = ix * iy
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    return inter / (area_a + area_b - inter)


def pairwise_box_iou(boxes_a: Tensor, boxes_b: Tensor) -> Tensor:
    """IoU of every box of ``boxes_a (N, 4)`` with every box of ``boxes_b (M, 4)`` -> ``(N, M)``."""
    if boxes_a.dim() != 2 or boxes_b.dim() != 2:
        raise ValueError(
            f"pairwise_box_iou: expected (N, 4) and (M, 4), got {tuple(boxes_a.shape)} and {tuple(boxes_b.shape)}"
        )
    return box_iou(boxes_a[:, None, :], boxes_b[None, :, :])
