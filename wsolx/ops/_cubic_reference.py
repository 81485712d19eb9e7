"""Pure-PyTorch float64 bicubic resize, bit for bit equal to ``cv2.resize(..., INTER_CUBIC)`` on a
float64 map, and the protocol's float64 normalisation / quantisation (docs/semantics.md §3 and §4 step 1).

The same rules as ``csrc/ops/cubic_resize.h`` (see there), with torch ops in the same rounding
order: per destination index ``d`` the source position ``f = float32((d + 0.5) * scale - 0.5)``
(``scale = 1 / (dst / src)`` in float64), ``s = floor(f)``, ``f -= s`` in float32; the four
coefficients in float32 with ``A = -0.75``; a horizontal pass, then a vertical one, each a float64
sum ``((p0 + p1) + p2) + p3`` of products with the coefficients promoted to float64; source indices
clamped to the map (replicated border); a plain copy when the size does not change.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from wsolx.ops.normalize import minmax_normalize

__all__ = ["cubic_taps", "resize_cubic", "normalize_scoremaps", "quantize_scoremaps64", "scoremap_status"]


def cubic_taps(dst: int, src: int, device: torch.device) -> Tuple[Tensor, Tensor]:
    """Source indices and weights of a ``src -> dst`` cubic resize along one axis.

    Returns:
        ``(dst, 4)`` int64 clamped source indices and ``(dst, 4)`` float64 weights (float32
        coefficients promoted).
    """
    scale = 1.0 / (float(dst) / float(src))  # Python floats are IEEE float64, as OpenCV's double
    d = torch.arange(dst, dtype=torch.float64, device=device)
    f = ((d + 0.5) * scale - 0.5).to(torch.float32)
    s = torch.floor(f)
    x = f - s  # float32
    one = torch.ones((), dtype=torch.float32, device=device)
    a = torch.full((), -0.75, dtype=torch.float32, device=device)
    xp1 = x + one
    c0 = ((a * xp1 - 5.0 * a) * xp1 + 8.0 * a) * xp1 - 4.0 * a
    c1 = ((a + 2.0) * x - (a + 3.0)) * x * x + one
    omx = one - x
    c2 = ((a + 2.0) * omx - (a + 3.0)) * omx * omx + one
    c3 = one - c0 - c1 - c2
    weights = torch.stack([c0, c1, c2, c3], dim=1).to(torch.float64)
    idx = s.to(torch.int64)[:, None] + torch.arange(-1, 3, device=device)[None, :]
    return idx.clamp(0, src - 1), weights


def _weighted_sum(terms: Tensor, weights: Tensor) -> Tensor:
    """``((t0 w0 + t1 w1) + t2 w2) + t3 w3`` over the last axis (no reordered reduction)."""
    p = terms * weights
    return ((p[..., 0] + p[..., 1]) + p[..., 2]) + p[..., 3]


def resize_cubic(maps: Tensor, size: Tuple[int, int]) -> Tensor:
    """``(N, h, w)`` maps of any real dtype -> ``(N, H, W)`` float64, as cv2.resize(float64, INTER_CUBIC).

    Memory: the output plus an ``(N, h, W, 4)`` / ``(N, H, W, 4)`` float64 product (callers chunk
    large batches).
    """
    x = maps.to(torch.float64)
    height, width = int(size[0]), int(size[1])
    if tuple(x.shape[1:]) == (height, width):
        return x.clone() if x.data_ptr() == maps.data_ptr() else x.contiguous()
    h, w = x.size(1), x.size(2)
    ix, wx = cubic_taps(width, w, x.device)
    iy, wy = cubic_taps(height, h, x.device)
    rows = _weighted_sum(x[:, :, ix], wx)  # (N, h, W)
    return _weighted_sum(rows[:, iy, :].permute(0, 1, 3, 2), wy[None, :, None, :])  # (N, H, W)


def normalize_scoremaps(maps: Tensor) -> Tensor:
    """The protocol's ``normalize_scoremap`` on ``(N, H, W)`` float64 maps: :func:`wsolx.ops.normalize.minmax_normalize`
    of each map (all zeros if it holds a NaN, is constant, or its shifted maximum is not finite)."""
    return minmax_normalize(maps, dims=max(maps.dim() - 1, 1))


def scoremap_status(maps: Tensor) -> Tensor:
    """``(N,)`` int64 validity of ``[0, 1]`` score maps: 0 ok, 1 holds a NaN, 2 a value outside [0, 1]."""
    flat = maps.reshape(maps.size(0), -1)
    nan = torch.isnan(flat).any(dim=1)
    outside = ((flat < 0) | (flat > 1)).any(dim=1)
    return torch.where(nan, 1, torch.where(outside, 2, 0))


def quantize_scoremaps64(maps: Tensor, normalize: bool = True) -> Tensor:
    """``(N, H, W)`` float64 -> uint8 ``trunc(s * 255)`` (after :func:`normalize_scoremaps` if asked)."""
    s = normalize_scoremaps(maps) if normalize else maps
    # NaN only reaches here with normalize=False, whose callers reject such maps first.
    return (s * 255.0).to(torch.uint8)
