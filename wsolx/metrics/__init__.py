"""wsolx.metrics: WSOL evaluation metrics (Choe et al. CVPR 2020; Bae et al. ECCV 2020).

Public API::

    BoxEvaluator(*, thresholds=None, iou_thresholds=(0.3, 0.5, 0.7), image_size=(224, 224),
                 percentile=100.0, fixed_threshold=0.2, multi_box=True, device=None)
        .update(cams (B, h, w), gt_boxes, gt_counts=None, *, gt_labels=None, pred_labels=None)
        .compute() -> {"MaxBoxAcc", "MaxBoxAccV2", "MaxBoxAccV2@0.5", "best_threshold@0.5",
                       "box_acc_curve", "GT-known Loc", "Top-1 Loc", "num_images", ...}
    MaskEvaluator(*, thresholds=None, num_bins=None, image_size=(224, 224), percentile=100.0,
                  device=None)
        .update(cams (B, h, w), masks (B, H, W) bool, ignore (B, H, W) bool | None)
        .compute() -> {"PxAP": %, "curve": {...}}
    ClassificationAccuracy(*, topk=(1,), device=None)
        .update(logits (B, C), labels (B,)) / .compute() -> {"Top-1 Cls": %}
    every metric: .reset(), .merge(other), .all_reduce(), .state_dict(), .load_state_dict()
    box_iou, pairwise_box_iou (+1 convention), cam_thresholds, normalized_scoremaps
    evaluate_scoremaps(scoremaps, *, metadata_root, dataset, split="test", preset=None, ...) -> dict
        (saved score maps, as the official evaluator: see wsolx.metrics.evaluate_maps)
"""

from wsolx.metrics.base import CounterMetric
from wsolx.metrics.box import BoxEvaluator, pad_gt_boxes
from wsolx.metrics.classification import ClassificationAccuracy
from wsolx.metrics.distributed import all_reduce_sum_, is_distributed
from wsolx.metrics.evaluate_maps import PRESETS as SCOREMAP_PRESETS
from wsolx.metrics.evaluate_maps import ScoremapSettings, evaluate_scoremaps
from wsolx.metrics.iou import box_iou, pairwise_box_iou
from wsolx.metrics.mask import MaskEvaluator, pxap_from_histograms
from wsolx.metrics.scoremap import normalized_scoremaps
from wsolx.metrics.thresholds import cam_thresholds

__all__ = [
    "BoxEvaluator",
    "MaskEvaluator",
    "ClassificationAccuracy",
    "CounterMetric",
    "box_iou",
    "pairwise_box_iou",
    "cam_thresholds",
    "normalized_scoremaps",
    "pad_gt_boxes",
    "pxap_from_histograms",
    "all_reduce_sum_",
    "is_distributed",
    "evaluate_scoremaps",
    "ScoremapSettings",
    "SCOREMAP_PRESETS",
]
