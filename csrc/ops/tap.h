// Thresholded Average Pooling (TAP), shared declarations and argument checks.
//
//   tau[b,c]  = theta * max_{h,w} x[b,c,h,w]
//   keep      = x > tau (strict)
//   y[b,c]    = sum(x * keep) / max(count(keep), 1)        (sum in float64, count in int64)
//   dx        = dy[b,c] * keep / max(count, 1)               (no gradient through tau or count)
//   A channel that contains NaN yields y = NaN (its gradient is zero).
// The forward returns (y, keep bit mask, count); the backward reads only the bits, not x.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

namespace wsolx {
namespace ops {

// Memory layout the kernels work in: channels_last stays channels_last, anything else is made
// contiguous (NCHW). The Python fake kernel applies the same rule.
inline at::MemoryFormat tap_layout(const at::Tensor& x) {
  if (!x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast)) {
    return at::MemoryFormat::ChannelsLast;
  }
  return at::MemoryFormat::Contiguous;
}

inline void check_tap_input(const at::Tensor& x, double theta) {
  TORCH_CHECK(x.dim() == 4, "tap: expected a 4-D (B, C, H, W) tensor, got ", x.dim(), "-D with shape ", x.sizes());
  TORCH_CHECK(at::isFloatingType(x.scalar_type()),
              "tap: expected a floating point tensor (float16, bfloat16, float32, float64), got ", x.scalar_type());
  TORCH_CHECK(std::isfinite(theta) && theta >= 0.0 && theta <= 1.0, "tap: theta must lie in [0, 1], got ", theta);
  TORCH_CHECK(x.numel() == 0 || x.size(2) * x.size(3) > 0, "tap: the spatial size H*W must be at least 1, got ",
              x.sizes());
}

// Packed keep mask saved by the forward, one bit per element, rows padded to whole bytes so that
// each row belongs to one thread/task:
//   NCHW: (B, C, ceil(H*W / 8)), bit k of plane (b, c) = element (b, c, k / W, k % W)
//   NHWC: (B, H*W, ceil(C / 8)), bit c of row (b, k)    = element (b, c, k / W, k % W)
inline std::vector<int64_t> tap_mask_shape(const at::Tensor& x, at::MemoryFormat layout) {
  const int64_t B = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  if (layout == at::MemoryFormat::ChannelsLast) return {B, HW, (C + 7) / 8};
  return {B, C, (HW + 7) / 8};
}

inline void check_tap_backward(const at::Tensor& grad, const at::Tensor& mask, const at::Tensor& count,
                               const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 4, "tap_backward: x must be 4-D");
  TORCH_CHECK(grad.dim() == 2 && grad.size(0) == x.size(0) && grad.size(1) == x.size(1),
              "tap_backward: grad must have shape (B, C) = ", x.sizes().slice(0, 2), ", got ", grad.sizes());
  TORCH_CHECK(count.sizes() == grad.sizes(), "tap_backward: count must have shape (B, C)");
  TORCH_CHECK(mask.scalar_type() == at::kByte && mask.sizes() == at::IntArrayRef(tap_mask_shape(x, tap_layout(x))),
              "tap_backward: mask must be the uint8 bit mask returned by tap_forward");
  TORCH_CHECK(grad.device() == x.device() && mask.device() == x.device() && count.device() == x.device(),
              "tap_backward: all tensors must be on the same device");
}

inline at::ScalarType tap_acc_type(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

}  // namespace ops
}  // namespace wsolx
