"""Attention-based Dropout Layer (ADL; Choe & Shim, CVPR 2019).

ADL layers are inserted into the trunk at the model's ``point_sets["adl"]`` (protocol positions: VGG16
after pool3, conv4_3 and conv5_3; ResNet50 after layer3[0], layer4[0], layer4[2]; InceptionV3
after Mixed_5d, Mixed_6e and the head convs). In training, for features ``x`` ``(B, C, H, W)``::

    attention  = mean_c x                                   (B, 1, H, W)
    importance = sigmoid(attention)
    drop_mask  = attention < gamma * max_{h,w} attention    (per image)
    x * drop_mask     with probability drop_rate  (one draw per forward, as the protocol)
    x * importance    otherwise

In eval mode the layer is the identity, so the model is the plain CAM model. Training uses plain
cross-entropy. Defaults: ``drop_rate=0.75``, ``gamma=0.9`` (protocol ``config.py``:
``adl_drop_rate``, ``adl_threshold``).
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor, nn

from wsolx.methods.base import WSOLMethod
from wsolx.methods.host import MethodHost

__all__ = ["ADL", "ADLayer"]


class ADLayer(nn.Module):
    """One attention-based dropout layer: ``(B, C, H, W) -> (B, C, H, W)``; identity in eval.

    Args:
        drop_rate: probability of using the drop mask instead of the importance map.
        gamma: drop threshold as a fraction of the per-image maximum of the attention map.
    """

    def __init__(self, drop_rate: float = 0.75, gamma: float = 0.9) -> None:
        super().__init__()
        if not (0.0 <= drop_rate <= 1.0):
            raise ValueError(f"ADL: drop_rate must lie in [0, 1], got {drop_rate}")
        if not (0.0 <= gamma <= 1.0):
            raise ValueError(f"ADL: gamma must lie in [0, 1], got {gamma}")
        self.drop_rate = float(drop_rate)
        self.gamma = float(gamma)

    def maps(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """``(importance_map, drop_mask)``, both ``(B, 1, H, W)`` in ``x.dtype``."""
        attention = x.mean(dim=1, keepdim=True)
        importance = torch.sigmoid(attention)
        threshold = self.gamma * attention.amax(dim=(2, 3), keepdim=True)
        drop_mask = (attention < threshold).to(x.dtype)
        return importance, drop_mask

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        importance, drop_mask = self.maps(x)
        use_drop = torch.rand((), device=x.device) < self.drop_rate
        return x * torch.where(use_drop, drop_mask, importance)

    def extra_repr(self) -> str:
        return f"drop_rate={self.drop_rate}, gamma={self.gamma}"


class ADL(WSOLMethod):
    """ADL method: inserts :class:`ADLayer` at the model's ``point_sets["adl"]`` (with
    ``model.insert_layer``); cross-entropy training.

    Args:
        drop_rate: protocol default 0.75.
        gamma: drop threshold ratio, protocol default 0.9.
    """

    name = "adl"

    def __init__(self, drop_rate: float = 0.75, gamma: float = 0.9) -> None:
        super().__init__()
        ADLayer(drop_rate, gamma)  # validates the arguments
        self.drop_rate = float(drop_rate)
        self.gamma = float(gamma)

    def attach(self, model: MethodHost) -> None:
        points = tuple(model.point_sets.get("adl", ()))
        if not points:
            raise ValueError(f"{model.arch} defines no ADL points")
        model.check_points(points)
        for point in points:
            model.insert_layer(point, ADLayer(self.drop_rate, self.gamma))

    def extra_repr(self) -> str:
        return f"drop_rate={self.drop_rate}, gamma={self.gamma}"
