// Schema of the CAM-to-box operators. Kernels: csrc/ops/cpu/boxes_kernel.cpp,
// csrc/ops/cuda/boxes_kernel.cu; the algorithm: csrc/ops/boxes/ (map_boxes.h) and csrc/ops/cubic_resize.h.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(wsolx, m) {
  // cams (N, h, w) float32 / float64 raw CAMs (or score maps), thresholds (T,) float64, image size
  // (height, width): each map is resized as cv2.resize(float64, INTER_CUBIC), normalised and
  // quantised in float64 (normalize=False: a [0, 1] score map used as it is), then boxed.
  // box_rule: "protocol" or "paper". -> boxes (N, T, 4) int64 (largest contour).
  m.def(
      "cam_boxes(Tensor cams, Tensor thresholds, int height, int width, float percentile, bool normalize, "
      "str box_rule) -> Tensor");
  // -> boxes (M, 4) int64 of every contour grouped by (map, threshold), counts (N, T) int64.
  m.def(
      "cam_all_boxes(Tensor cams, Tensor thresholds, int height, int width, float percentile, bool normalize, "
      "str box_rule) -> (Tensor, Tensor)");
  // Both answers from one pass per map -> largest (N, T, 4), every contour's boxes (M, 4), counts (N, T).
  m.def(
      "cam_boxes_both(Tensor cams, Tensor thresholds, int height, int width, float percentile, bool normalize, "
      "str box_rule) -> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_FRAGMENT(wsolx, m) {
  // cams (N, h, w) float32 / float64 -> (N, height, width) float64: cv2.resize(float64, INTER_CUBIC)
  // bit for bit, then (normalize) the protocol's float64 min-max normalisation. CPU kernel only.
  m.def("resize_cubic(Tensor cams, int height, int width, bool normalize) -> Tensor");
}
