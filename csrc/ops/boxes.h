// CAM -> boxes: argument checks shared by the CPU and CUDA kernels. They run first, before any
// allocation, and use the same limits as the Python front end (wsolx/ops/boxes.py).
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace wsolx {
namespace ops {

// Largest side and pixel count of an image or CAM the box kernels accept.
constexpr int64_t kMaxSide = 32767;
constexpr int64_t kMaxPixels = int64_t(1) << 28;

inline bool is_paper_rule(const std::string& box_rule) {
  TORCH_CHECK_VALUE(box_rule == "protocol" || box_rule == "paper",
                    "cam_boxes: box_rule must be 'protocol' or 'paper', got '", box_rule, "'");
  return box_rule == "paper";
}

inline void check_resize_input(const at::Tensor& cams, int64_t height, int64_t width) {
  TORCH_CHECK_VALUE(height >= 1 && width >= 1 && height <= kMaxSide && width <= kMaxSide && height * width < kMaxPixels,
                    "resize_cubic: image_size must be (H, W) with 1 <= H, W <= ", kMaxSide, " and H * W < 2^28, got (",
                    height, ", ", width, ")");
  TORCH_CHECK_VALUE(cams.dim() == 3 && cams.size(1) >= 1 && cams.size(2) >= 1 && cams.size(1) <= kMaxSide &&
                        cams.size(2) <= kMaxSide && cams.size(1) * cams.size(2) < kMaxPixels,
                    "resize_cubic: expected (N, h, w) CAMs with 1 <= h, w <= ", kMaxSide, ", got shape ", cams.sizes());
  TORCH_CHECK(cams.scalar_type() == at::kFloat || cams.scalar_type() == at::kDouble,
              "resize_cubic: CAMs must be float32 or float64, got ", cams.scalar_type());
}

inline void check_cam_boxes_input(const at::Tensor& cams, const at::Tensor& thresholds, int64_t height, int64_t width,
                                  double percentile, const std::string& box_rule) {
  TORCH_CHECK_VALUE(height >= 1 && width >= 1 && height <= kMaxSide && width <= kMaxSide && height * width < kMaxPixels,
                    "cam_boxes: image_size must be (H, W) with 1 <= H, W <= ", kMaxSide, " and H * W < 2^28, got (",
                    height, ", ", width, ")");
  TORCH_CHECK_VALUE(cams.dim() == 3, "cam_boxes: expected (N, h, w) CAMs, got shape ", cams.sizes());
  TORCH_CHECK_VALUE(cams.size(1) >= 1 && cams.size(2) >= 1 && cams.size(1) <= kMaxSide && cams.size(2) <= kMaxSide &&
                        cams.size(1) * cams.size(2) < kMaxPixels,
                    "cam_boxes: CAM size must be (h, w) with 1 <= h, w <= ", kMaxSide, " and h * w < 2^28, got ",
                    cams.sizes());
  TORCH_CHECK(cams.scalar_type() == at::kFloat || cams.scalar_type() == at::kDouble,
              "cam_boxes: CAMs must be float32 or float64, got ", cams.scalar_type());
  TORCH_CHECK_VALUE(thresholds.dim() == 1 && thresholds.size(0) >= 1,
                    "cam_boxes: thresholds must be a non-empty 1-D tensor, got shape ", thresholds.sizes());
  TORCH_CHECK(thresholds.scalar_type() == at::kDouble, "cam_boxes: thresholds must be float64, got ",
              thresholds.scalar_type());
  TORCH_CHECK(thresholds.device() == cams.device(), "cam_boxes: thresholds must be on the CAMs' device");
  TORCH_CHECK_VALUE(percentile >= 0.0 && percentile <= 100.0, "cam_boxes: percentile must lie in [0, 100], got ",
                    percentile);
  is_paper_rule(box_rule);
  TORCH_CHECK_VALUE(at::isfinite(thresholds).all().item<bool>(),
                    "cam_boxes: thresholds must be finite (no NaN or inf)");
}

// Error for a map that normalize=False rejects (status from cubic::normalize_quantize).
inline void fail_bad_scoremap(int64_t index, int status) {
  TORCH_CHECK_VALUE(false, "cam_boxes(normalize=False): score map ", index,
                    status == 1 ? " holds NaN" : " has values outside [0, 1]",
                    " (a saved score map must lie in [0, 1]; use normalize=True for raw CAMs)");
}

}  // namespace ops
}  // namespace wsolx
