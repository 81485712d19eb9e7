"""Score maps of the protocol: bicubic upsampling + min-max normalisation (no quantisation)."""

from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from wsolx.ops.boxes import upsample_cams

__all__ = ["normalized_scoremaps"]


def normalized_scoremaps(cams: Tensor, image_size: Tuple[int, int]) -> Tensor:
    """``(N, h, w)`` raw CAMs -> ``(N, H, W)`` float32 score maps in ``[0, 1]``.

    Bicubic upsampling (:func:`wsolx.ops.boxes.upsample_cams`) followed by per-map min-max
    normalisation in float32, ``(x - min) / (max - min)``; a constant or non-finite map becomes
    all zeros (DESIGN.md section 3, steps 1-2).
    """
    if cams.dim() != 3:
        raise ValueError(f"normalized_scoremaps: expected (N, h, w) CAMs, got shape {tuple(cams.shape)}")
    if not cams.is_floating_point():
        raise TypeError(f"normalized_scoremaps: expected a floating point tensor, got {cams.dtype}")
    s = upsample_cams(cams, image_size)
    if s.size(0) == 0:
        return s
    flat = s.flatten(1)
    lo = flat.amin(1)
    hi = flat.amax(1)
    ok = torch.isfinite(flat).all(1) & (hi > lo)
    shifted = flat - lo[:, None]
    out = shifted / torch.where(ok, hi - lo, torch.ones_like(hi))[:, None]
    out = torch.where(ok[:, None], out, torch.zeros_like(out))
    return out.view_as(s)
