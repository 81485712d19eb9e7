"""Fused wsolx operators: Thresholded Average Pooling, CAM construction and CAM-to-box extraction."""

from wsolx.ops.tap import TAPool, tap_pool, tap_pool_reference
from wsolx.ops.cam import cam
from wsolx.ops.boxes import MultiBoxes, cam_boxes, cam_boxes_both, scoremap_boxes, upsample_scoremaps

__all__ = [
    "TAPool",
    "tap_pool",
    "tap_pool_reference",
    "cam",
    "cam_boxes",
    "cam_boxes_both",
    "scoremap_boxes",
    "upsample_scoremaps",
    "MultiBoxes",
]
