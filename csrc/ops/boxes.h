// CAM score map -> boxes: argument checks shared by the CPU and CUDA kernels.
#pragma once

#include <ATen/ATen.h>

namespace wsolx {
namespace ops {

inline void check_boxes_input(const at::Tensor& scoremaps, const at::Tensor& thresholds, double percentile) {
  TORCH_CHECK(scoremaps.dim() == 3, "scoremap_boxes: expected (N, H, W) score maps, got shape ", scoremaps.sizes());
  TORCH_CHECK(scoremaps.scalar_type() == at::kFloat, "scoremap_boxes: score maps must be float32, got ",
              scoremaps.scalar_type());
  TORCH_CHECK(scoremaps.size(1) >= 1 && scoremaps.size(2) >= 1, "scoremap_boxes: empty image size ",
              scoremaps.sizes());
  TORCH_CHECK(scoremaps.size(1) <= 32767 && scoremaps.size(2) <= 32767 &&
                  scoremaps.size(1) * scoremaps.size(2) < (int64_t(1) << 28),
              "scoremap_boxes: image too large (at most 32767 per side), got ", scoremaps.sizes());
  TORCH_CHECK(thresholds.dim() == 1 && thresholds.size(0) >= 1, "scoremap_boxes: thresholds must be (T,), T >= 1");
  TORCH_CHECK(thresholds.scalar_type() == at::kDouble, "scoremap_boxes: thresholds must be float64");
  TORCH_CHECK(thresholds.device() == scoremaps.device(), "scoremap_boxes: thresholds must be on the maps' device");
  TORCH_CHECK(percentile >= 0.0 && percentile <= 100.0, "scoremap_boxes: percentile must lie in [0, 100], got ",
              percentile);
}

}  // namespace ops
}  // namespace wsolx
