// Schema of the CAM-to-box operators. Kernels: csrc/ops/cpu/boxes_kernel.cpp,
// csrc/ops/cuda/boxes_kernel.cu; the algorithm: csrc/ops/boxes_core.h.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(wsolx, m) {
  // scoremaps (N, H, W) float32, thresholds (T,) float64 -> boxes (N, T, 4) int64 (largest contour).
  m.def("scoremap_boxes(Tensor scoremaps, Tensor thresholds, float percentile) -> Tensor");
  // -> boxes (M, 4) int64 of every contour grouped by (map, threshold), counts (N, T) int64.
  m.def("scoremap_all_boxes(Tensor scoremaps, Tensor thresholds, float percentile) -> (Tensor, Tensor)");
}
