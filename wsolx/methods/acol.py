"""Adversarial Complementary Learning (ACoL; Zhang et al., CVPR 2018).

Two classifiers share the trunk. Branch A is the model's own CAM path (neck, pooling, classifier).
Its CAM of the target class, min-max normalised per image, marks the most discriminative region;
the trunk features where that map is ``>= threshold`` are erased (set to 0) and fed to branch B,
a second neck + head of the same structure (freshly initialised), which must classify without
them. Loss: ``CE(logits_A) + CE(logits_B)`` (protocol ``acol.get_loss``). The erasing map is
detached, as in the protocol.

Localisation (``model.cams``), as the protocol: both branches' CAMs of the label (branch B on the
features erased with branch A's map), min-max normalised, fused by element-wise max
(``cam_fusion="max"``). NWC clamps both classifiers' weights. ``cam_fusion="a"`` gives the raw
branch-A CAM instead. ``forward`` / logits are branch A's.

Protocol default ``threshold=0.7`` (``config.py``: ``acol_threshold``).
"""

from __future__ import annotations

from typing import NamedTuple, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from wsolx.methods.base import WSOLMethod, minmax_normalize
from wsolx.methods.host import MethodHost
from wsolx.ops.cam import cam

__all__ = ["ACoL", "ACoLOutput", "acol_erase"]

_FUSIONS = ("max", "a")


def acol_erase(features: Tensor, attention: Tensor, threshold: float) -> Tensor:
    """Zero the features where the normalised attention is ``>= threshold``.

    Args:
        features: ``(B, C, h, w)``.
        attention: ``(B, h, w)`` or ``(B, 1, h, w)`` map in [0, 1].
        threshold: erasing threshold.

    Returns:
        ``(B, C, h, w)`` erased features.
    """
    if attention.dim() == 3:
        attention = attention.unsqueeze(1)
    if attention.shape[0] != features.shape[0] or attention.shape[-2:] != features.shape[-2:]:
        raise ValueError(
            f"acol_erase: attention {tuple(attention.shape)} does not match features {tuple(features.shape)}"
        )
    keep = (attention < threshold).to(features.dtype)
    return features * keep


class ACoLOutput(NamedTuple):
    """Everything one ACoL pass computes (shapes for a ``(B, 3, H, W)`` input)."""

    logits_a: Tensor  # (B, num_classes)
    logits_b: Tensor  # (B, num_classes)
    features_a: Tensor  # (B, K, h, w), the model's forward_features
    features_b: Tensor  # (B, K, h, w), branch B's neck on the erased trunk features
    trunk: Tensor  # (B, C_trunk, h, w)
    erased_trunk: Tensor  # (B, C_trunk, h, w)
    attention: Tensor  # (B, h, w), min-max normalised branch-A CAM of the labels (detached)


class ACoL(WSOLMethod):
    """ACoL: a second branch trained on trunk features erased by the first branch's CAM.

    Args:
        threshold: erasing threshold on the normalised branch-A CAM (protocol default 0.7).
        cam_fusion: ``"max"`` (protocol: max of the two normalised CAMs) or ``"a"`` (raw CAM of
            branch A only).
    """

    name = "acol"

    def __init__(self, threshold: float = 0.7, cam_fusion: str = "max") -> None:
        super().__init__()
        if not (0.0 <= threshold <= 1.0):
            raise ValueError(f"ACoL: threshold must lie in [0, 1], got {threshold}")
        if cam_fusion not in _FUSIONS:
            raise ValueError(f"ACoL: cam_fusion must be one of {_FUSIONS}, got {cam_fusion!r}")
        self.threshold = float(threshold)
        self.cam_fusion = cam_fusion

    def attach(self, model: MethodHost) -> None:
        self.neck_b = model.make_neck()
        self.head_b = model.make_head()

    def branches(self, model: MethodHost, images: Tensor, labels: Tensor) -> ACoLOutput:
        """Run both branches; branch B sees the trunk features erased with A's CAM of ``labels``."""
        features_a, trunk, _ = model.forward_features_with_taps(images)
        logits_a = model.forward_head(features_a)
        attention = minmax_normalize(cam(features_a.detach(), model.fc_weight.detach(), labels, False))
        erased = acol_erase(trunk, attention, self.threshold)
        features_b = self.neck_b(erased)
        logits_b = self.head_b(features_b)
        return ACoLOutput(logits_a, logits_b, features_a, features_b, trunk, erased, attention)

    def training_loss(self, model: MethodHost, images: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
        out = self.branches(model, images, labels)
        loss = F.cross_entropy(out.logits_a, labels) + F.cross_entropy(out.logits_b, labels)
        return loss, out.logits_a

    def cams(self, model: MethodHost, images: Tensor, labels: Tensor, clamp_negative: bool = False) -> Tensor:
        if self.cam_fusion == "a":
            return super().cams(model, images, labels, clamp_negative)
        out = self.branches(model, images, labels)
        cam_a = cam(out.features_a, model.fc_weight, labels, clamp_negative)
        cam_b = cam(out.features_b, self.head_b.fc.weight, labels, clamp_negative)
        return torch.maximum(minmax_normalize(cam_a), minmax_normalize(cam_b))

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, cam_fusion={self.cam_fusion!r}"
