// Schema of the TAP operators. Kernels: csrc/ops/cpu/tap_kernel.cpp, csrc/ops/cuda/tap_kernel.cu.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(wsolx, m) {
  // Returns (y, tau, count): y (B, C) in x's dtype; tau and count (B, C) in the accumulation
  // dtype (float64 for float64 input, float32 otherwise), saved for the backward.
  m.def("tap_forward(Tensor x, float theta) -> (Tensor, Tensor, Tensor)");
  // grad (B, C), x (B, C, H, W), tau (B, C), count (B, C) -> grad_x (B, C, H, W).
  m.def("tap_backward(Tensor grad, Tensor x, Tensor tau, Tensor count) -> Tensor");
}
