"""Fused wsolx operators: Thresholded Average Pooling, CAM construction, CAM-to-box extraction and
the one min-max normalisation of maps (:func:`minmax_normalize`)."""

from wsolx.ops.boxes import MultiBoxes, cam_boxes, cam_boxes_both, scoremap_boxes, upsample_scoremaps
from wsolx.ops.cam import cam
from wsolx.ops.normalize import minmax_normalize
from wsolx.ops.tap import TAPool, tap_pool, tap_pool_reference

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
    "minmax_normalize",
]
