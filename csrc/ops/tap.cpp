// Schema of the TAP operators. Kernels: csrc/ops/cpu/tap_kernel.cpp, csrc/ops/cuda/tap_kernel.cu.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(wsolx, m) {
  // Returns (y, mask, count): y (B, C) in x's dtype; mask the packed uint8 keep bits (see
  // tap.h::tap_mask_shape); count (B, C) in the accumulation dtype (float64 for float64 input,
  // float32 otherwise). mask and count are saved for the backward.
  m.def("tap_forward(Tensor x, float theta) -> (Tensor, Tensor, Tensor)");
  // grad (B, C), mask, count (B, C), x (B, C, H, W; only its shape, dtype and layout are used)
  // -> grad_x (B, C, H, W) in x's layout.
  m.def("tap_backward(Tensor grad, Tensor mask, Tensor count, Tensor x) -> Tensor");
}
