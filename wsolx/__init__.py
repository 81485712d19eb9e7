"""wsolx: weakly supervised object localisation with fused TAP and CAM-to-box kernels.

Implements "Rethinking Class Activation Mapping for Weakly Supervised Object Localization"
(Bae, Noh, Kim, ECCV 2020) and the evaluation protocol of Choe et al. (CVPR 2020).
"""

from wsolx._ext import backend, backend_info, has_extension
from wsolx.adapters import Localization, localize, swap_pooling
from wsolx.ops import MultiBoxes, TAPool, cam, cam_boxes, cam_boxes_both, scoremap_boxes, tap_pool, upsample_scoremaps

__version__ = "0.1.0"

__all__ = [
    "TAPool",
    "tap_pool",
    "cam",
    "cam_boxes",
    "cam_boxes_both",
    "scoremap_boxes",
    "upsample_scoremaps",
    "MultiBoxes",
    "localize",
    "Localization",
    "swap_pooling",
    "backend",
    "backend_info",
    "has_extension",
    "__version__",
]
