"""Defaults of the evaluation protocol of Choe et al. (CVPR 2020), written once.

The configuration (:mod:`wsolx.engine.config`), the metrics (:mod:`wsolx.metrics`) and the command
line take these values from here, so a default changes in one place. They follow the protocol's
training entry point (``main.py`` / ``config.py`` of clovaai/wsolevaluation):

============================  ====================================  =====================
setting                       protocol flag                         value
============================  ====================================  =====================
CAM threshold step            ``--cam_curve_interval``              0.001 (1000 thresholds)
IoU thresholds (MaxBoxAccV2)  ``--iou_threshold_list``              30, 50, 70 (%)
boxes of every contour        ``--box_v2_metric`` / ``--multi_contour_eval``  on
checkpoint tested             ``--eval_checkpoint_type``            ``last``
validation images per class   ``--num_val_sample_per_class``        0 (all)
ground-truth boxes            ``resize_bbox``                       truncated (``int()``)
============================  ====================================  =====================

and the settings of Bae et al. (ECCV 2020, "Rethinking CAM for WSOL", the authors' released
``configs/vgg16_tap.yml``): the TAP threshold ratio and the fixed CAM thresholds of GT-known / Top-1
Loc (0.2 of the maximum; 0.35 of the 90th percentile with PaS). :data:`wsolx.models.DEFAULTS`, the
configuration, the models, the ops and the metrics take them from here.
"""

from __future__ import annotations

from typing import Tuple

__all__ = [
    "CAM_CURVE_INTERVAL",
    "IOU_THRESHOLDS",
    "MULTI_CONTOUR",
    "TEST_CHECKPOINT",
    "NUM_VAL_SAMPLE_PER_CLASS",
    "FRACTIONAL_GT_BOXES",
    "EVAL_GEOMETRY",
    "TAP_THETA",
    "CAM_THRESHOLD",
    "PAS_THRESHOLD",
    "PAS_PERCENTILE",
]

#: Step of the CAM threshold sweep ``np.arange(0, 1, interval)``.
CAM_CURVE_INTERVAL: float = 0.001
#: IoU thresholds of MaxBoxAccV2 (fractions; the protocol's flag takes percent).
IOU_THRESHOLDS: Tuple[float, ...] = (0.3, 0.5, 0.7)
#: MaxBoxAccV2 matches the boxes of every contour (not only the largest).
MULTI_CONTOUR: bool = True
#: Checkpoint evaluated on the test split after training: ``"last"`` or ``"best"``.
TEST_CHECKPOINT: str = "last"
#: Images kept per class of the validation split (0: all).
NUM_VAL_SAMPLE_PER_CLASS: int = 0
#: Keep scaled ground-truth boxes fractional (the protocol truncates them).
FRACTIONAL_GT_BOXES: bool = False
#: Evaluation geometry: ``"protocol"`` (resize, no crop) or ``"paper"`` (resize 256, centre crop 224).
EVAL_GEOMETRY: str = "protocol"

# ------------------------------------------------------------------ Bae et al. (the paper)
#: TAP threshold ratio ``theta_tap`` (the paper's VGG16 value, used for every backbone).
TAP_THETA: float = 0.1
#: Fixed CAM threshold of GT-known / Top-1 Loc without PaS (fraction of the map's maximum).
CAM_THRESHOLD: float = 0.2
#: Fixed CAM threshold of GT-known / Top-1 Loc with PaS (fraction of the percentile).
PAS_THRESHOLD: float = 0.35
#: Percentile used as the standard value with PaS (Percentile as a Standard).
PAS_PERCENTILE: float = 90.0
