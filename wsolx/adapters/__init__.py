"""wsolx.adapters: CAMs and TAP for models wsolx did not build (torchvision, timm, your own).

Public API::

    localize(model, images, labels=None, *, clamp_negative=False, percentile=100, threshold=0.2,
             image_size=None, features=None, classifier=None, head=None, validate=False)
        -> Localization(cams (B, h, w), boxes (B, 4), logits (B, classes), labels (B,))
    swap_pooling(model, pool) -> model          (e.g. swap_pooling(resnet, wsolx.TAPool(0.1)))
    resolve_cam_parts(model, ...) -> CAMParts(features, head, classifier, kind)
    ForeignCAMModel / build_foreign_model("tv:resnet50" | "timm:NAME", ...)   (training wrapper)
"""

from wsolx.adapters.localize import Localization, localize
from wsolx.adapters.pooling import PoolAdapter, find_global_pool, swap_pooling
from wsolx.adapters.resolve import CAMParts, resolve_cam_parts

__all__ = [
    "Localization",
    "localize",
    "swap_pooling",
    "find_global_pool",
    "PoolAdapter",
    "CAMParts",
    "resolve_cam_parts",
]
