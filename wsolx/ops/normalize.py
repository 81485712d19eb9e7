"""Min-max normalisation of CAMs and score maps, written once (docs/semantics.md §3 step 3).

Every place that min-max normalises a map calls :func:`minmax_normalize`: the protocol's score maps
(float64, :func:`wsolx.ops.upsample_scoremaps` off the kernel path, bit for bit the kernel's
arithmetic), the attention maps of ACoL and SPG (the input's dtype, differentiable) and the CAM
overlays of the report (float32, display only).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

__all__ = ["minmax_normalize"]


def minmax_normalize(maps: Tensor, *, dims: int = 2, dtype: Optional[torch.dtype] = None) -> Tensor:
    """Per-map min-max normalisation to ``[0, 1]``, the protocol's ``normalize_scoremap``.

    Each map (the last ``dims`` dimensions; the leading ones index maps) becomes
    ``(s - min) / max(s - min)``: the minimum is subtracted first, then the shifted map is divided by
    its maximum (two roundings, in that order). A map holding a NaN, a constant map, and one whose
    shifted maximum is not finite (an infinite value, or ``max - min`` overflowing) become all zeros,
    so the result never holds a NaN. Differentiable where the map is normalised.

    Args:
        maps: ``(..., h, w)`` floating point maps (``dims`` trailing dimensions per map).
        dims: how many trailing dimensions make one map (2: ``(h, w)``).
        dtype: compute in this dtype (e.g. ``torch.float64`` for the protocol's score maps,
            ``torch.float32`` for display); ``None`` keeps the input's dtype.

    Returns:
        A new tensor of the shape of ``maps`` (in ``dtype`` when given).
    """
    if dtype is not None:
        maps = maps.to(dtype)
    if maps.numel() == 0:
        return maps.clone()
    if not 1 <= dims <= maps.dim():
        raise ValueError(f"minmax_normalize: dims must lie in [1, {maps.dim()}], got {dims}")
    flat = maps.flatten(-dims) if dims > 1 else maps
    nan = torch.isnan(flat).any(dim=-1)
    mn = flat.amin(dim=-1, keepdim=True)
    shifted = flat - mn
    mx = shifted.amax(dim=-1, keepdim=True)
    ok = ~nan & (mx[..., 0] > 0) & torch.isfinite(mx[..., 0])
    mx = torch.where(ok[..., None], mx, torch.ones((), dtype=mx.dtype, device=mx.device))
    out = shifted / mx
    out = torch.where(ok[..., None], out, torch.zeros((), dtype=out.dtype, device=out.device))
    return out.reshape(maps.shape)
