"""Thresholded Average Pooling (TAP), Bae et al., ECCV 2020.

For a feature map ``x`` of shape ``(B, C, H, W)`` and ``theta`` in ``[0, 1]``::

    tau[b, c] = theta * max_{h, w} x[b, c, h, w]
    keep      = x > tau                                  (strict)
    y[b, c]   = sum(x * keep) / max(count(keep), 1)

Gradients flow only through the kept values: ``dx = dy * keep / max(count, 1)``. ``theta = 0``
is *not* global average pooling: it averages the strictly positive values.

NaN policy: a channel that contains a NaN gives ``y = NaN`` for that channel (as a mean would),
and a zero gradient. ``+-inf`` follow the arithmetic of the definition.

With the compiled extension the op runs the fused C++/CUDA kernels registered as
``torch.ops.wsolx.tap_forward`` / ``tap_backward`` (autograd and fake kernels registered here);
without it the pure-PyTorch reference :func:`tap_pool_reference` runs.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor, nn

from wsolx._ext import has_extension
from wsolx.protocol import TAP_THETA

__all__ = ["tap_pool", "tap_pool_reference", "TAPool"]


def _check_tap_args(x: Tensor, theta: float) -> None:
    if x.dim() != 4:
        raise ValueError(f"tap_pool: expected a 4-D (B, C, H, W) tensor, got shape {x.shape}")
    if not x.is_floating_point():
        raise TypeError(f"tap_pool: expected a floating point tensor, got {x.dtype}")
    if not (0.0 <= theta <= 1.0):
        raise ValueError(f"tap_pool: theta must lie in [0, 1], got {theta}")
    if x.size(0) * x.size(1) > 0 and x.size(2) * x.size(3) == 0:
        raise ValueError(f"tap_pool: the spatial size H*W must be at least 1, got shape {x.shape}")


def tap_pool_reference(x: Tensor, theta: float = TAP_THETA) -> Tensor:
    """Pure-PyTorch TAP; the semantics every kernel matches.

    Args:
        x: ``(B, C, H, W)`` float16 / bfloat16 / float32 / float64 features, any strides.
        theta: threshold ratio in ``[0, 1]``.

    Returns:
        ``(B, C)`` pooled features in ``x.dtype`` (thresholds in float32, float64 for float64;
        sums in float64, counts in int64).
    """
    _check_tap_args(x, theta)
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf = x.to(acc)
    if x.size(0) * x.size(1) == 0:
        return x.sum(dim=(2, 3))  # (B, C) with no element, still connected to autograd
    mx = xf.amax(dim=(2, 3), keepdim=True)
    tau = mx * torch.tensor(theta, dtype=acc, device=x.device)
    keep = xf > tau
    # The sum is taken in float64 and the count in int64 (as the kernels do), so the result stays
    # at the rounding of x's dtype for any plane size.
    count = keep.sum(dim=(2, 3))
    total = torch.where(keep, xf, torch.zeros((), dtype=acc, device=x.device)).sum(dim=(2, 3), dtype=torch.float64)
    y = total / count.clamp_min(1).to(torch.float64)
    y = torch.where(torch.isnan(mx.flatten(2).squeeze(2)), torch.full_like(y, float("nan")), y)
    return y.to(x.dtype)


def _tap_pool_extension(x: Tensor, theta: float = TAP_THETA) -> Tensor:
    """TAP through the fused ``wsolx::tap_forward`` kernel. Shapes as :func:`tap_pool_reference`."""
    _check_tap_args(x, theta)
    return torch.ops.wsolx.tap_forward(x, float(theta))[0]


def _memory_format(x: Tensor) -> torch.memory_format:
    # Same rule as csrc/ops/tap.h::tap_layout.
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def _mask_shape(x: Tensor) -> Tuple[int, int, int]:
    # Same rule as csrc/ops/tap.h::tap_mask_shape: one bit per element, rows padded to bytes.
    B, C, H, W = x.shape
    if _memory_format(x) == torch.channels_last:
        return (B, H * W, (C + 7) // 8)
    return (B, C, (H * W + 7) // 8)


def _unpack_keep(mask: Tensor, x: Tensor) -> Tensor:
    """The ``(B, C, H, W)`` 0/1 keep mask (uint8, in ``x``'s layout) from the packed bits of
    ``tap_forward`` (see :func:`_mask_shape`)."""
    B, C, H, W = x.shape
    shifts = torch.arange(8, dtype=torch.uint8, device=mask.device)
    bits = torch.bitwise_and(torch.bitwise_right_shift(mask.unsqueeze(-1), shifts), 1)  # (B, R, N, 8)
    if _memory_format(x) == torch.channels_last:
        keep = bits.reshape(B, H * W, -1)[:, :, :C].permute(0, 2, 1)
    else:
        keep = bits.reshape(B, C, -1)[:, :, : H * W]
    return keep.reshape(B, C, H, W)


def _register_extension_ops() -> None:
    @torch.library.register_fake("wsolx::tap_forward")
    def _tap_forward_fake(x: Tensor, theta: float):
        acc = torch.float64 if x.dtype == torch.float64 else torch.float32
        shape = (x.size(0), x.size(1))
        return x.new_empty(shape), x.new_empty(_mask_shape(x), dtype=torch.uint8), x.new_empty(shape, dtype=acc)

    @torch.library.register_fake("wsolx::tap_backward")
    def _tap_backward_fake(grad: Tensor, mask: Tensor, count: Tensor, x: Tensor):
        return torch.empty_like(x, memory_format=_memory_format(x))

    def _setup_context(ctx, inputs, output) -> None:
        x, _theta = inputs
        _y, mask, count = output
        # x is saved for its shape, dtype and layout only; the backward reads the mask bits.
        ctx.save_for_backward(mask, count, x)
        ctx.mark_non_differentiable(mask, count)

    def _backward(ctx, grad_y: Tensor, _grad_mask, _grad_count):
        mask, count, x = ctx.saved_tensors
        return torch.ops.wsolx.tap_backward(grad_y.contiguous(), mask, count, x), None

    torch.library.register_autograd("wsolx::tap_forward", _backward, setup_context=_setup_context)

    # tap_backward is linear in its incoming gradient: dx = grad[b, c] * keep / max(count, 1).
    # Its own derivative (double backward) is grad_grad[b, c] = sum(ggx * keep) / max(count, 1);
    # nothing flows to the mask, the count or x (whose values it never reads).
    def _setup_backward_context(ctx, inputs, output) -> None:
        grad, mask, count, x = inputs
        ctx.save_for_backward(mask, count, x)
        ctx.grad_dtype = grad.dtype

    def _backward_backward(ctx, ggx: Tensor):
        mask, count, x = ctx.saved_tensors
        keep = _unpack_keep(mask, x).to(count.dtype)
        gg = (ggx.to(count.dtype) * keep).sum(dim=(2, 3)) / count.clamp_min(1)
        return gg.to(ctx.grad_dtype), None, None, None

    torch.library.register_autograd("wsolx::tap_backward", _backward_backward, setup_context=_setup_backward_context)


if has_extension():
    _register_extension_ops()
    tap_pool = _tap_pool_extension
else:
    tap_pool = tap_pool_reference

# ``tap_pool(x, theta) -> (B, C)``: the fused kernel when ``wsolx.backend() == "extension"``,
# the reference otherwise.


class TAPool(nn.Module):
    """Thresholded Average Pooling layer: ``(B, C, H, W) -> (B, C)``.

    Args:
        theta: threshold ratio in ``[0, 1]`` (default: the paper's, :data:`wsolx.protocol.TAP_THETA`).
        flatten: return ``(B, C)`` when True, ``(B, C, 1, 1)`` otherwise (a drop-in for
            ``nn.AdaptiveAvgPool2d(1)``).
    """

    def __init__(self, theta: float = TAP_THETA, flatten: bool = True) -> None:
        super().__init__()
        if not (0.0 <= float(theta) <= 1.0):
            raise ValueError(f"TAPool: theta must lie in [0, 1], got {theta}")
        self.theta = float(theta)
        self.flatten = flatten

    def forward(self, x: Tensor) -> Tensor:
        y = tap_pool(x, self.theta)
        if self.flatten:
            return y
        return y[:, :, None, None]

    def extra_repr(self) -> str:
        return f"theta={self.theta}"
