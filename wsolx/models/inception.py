"""InceptionV3-CAM (docs/semantics.md §8; protocol of Choe et al., CVPR 2020).

The protocol's InceptionV3 CAM trunk, built from torchvision's Inception blocks so its
``inception_v3`` state dict loads as is:

* ``Conv2d_1a_3x3`` with padding 1, the two stem max-pools ``3x3 / 2, padding 1, ceil_mode``;
* ``Mixed_5b..5d``, then (unless ``large_feature_map``) a ``3x3 / 2`` ceil-mode max-pool;
* ``Mixed_6a`` at stride 1 (its stride-2 3x3 convs get stride 1, padding 1; its pool stride 1);
* ``Mixed_6b..6e`` (768 channels); ``Mixed_7*``, ``AuxLogits`` and ``fc`` are not used.

224 input -> 14x14 (28x28 with ``large_feature_map``). Head per the protocol: dropout 0.5,
conv 3x3 768->1024 + ReLU, dropout 0.5, conv 3x3 1024->1024 + ReLU (the neck; the protocol's
``SPG_A3_1b`` / ``SPG_A3_2b``), dropout 0.5, then pooling and ``Linear(1024, classes)``. The
protocol classifies with a 1x1 conv followed by GAP, which is the same function as GAP followed
by a linear layer; with pooling before the linear layer the CAM is ``sum_k w_ck f_k`` on the
1024-channel map and TAP can be used.

Inputs use the standard ImageNet normalisation (the protocol does not apply torchvision's
``transform_input``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.inception import BasicConv2d, InceptionA, InceptionB, InceptionC

from wsolx.models.base import WSOLModel, init_new_layers
from wsolx.models.builder import build_cam_model, cam_builder
from wsolx.models.registry import register_model

__all__ = ["InceptionCAM", "inception_v3"]


def _stride1_conv_block(in_channels: int, out_channels: int, **kwargs: Any) -> nn.Module:
    """``BasicConv2d`` that turns a stride-2 unpadded conv into a stride-1 'same' conv."""
    if kwargs.get("stride", 1) == 2:
        kwargs["stride"] = 1
        kwargs["padding"] = 1
    return BasicConv2d(in_channels, out_channels, **kwargs)


class InceptionBStride1(InceptionB):
    """torchvision's ``InceptionB`` (Mixed_6a) at stride 1: ``(B, 288, h, w) -> (B, 768, h, w)``."""

    def __init__(self, in_channels: int) -> None:
        super().__init__(in_channels, conv_block=_stride1_conv_block)

    def _forward(self, x: Tensor) -> List[Tensor]:
        branch3x3 = self.branch3x3(x)
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return [branch3x3, branch3x3dbl, branch_pool]


class InceptionCAM(WSOLModel):
    """InceptionV3-CAM. See :func:`inception_v3` for the arguments.

    Feature points: ``Mixed_5d``, ``Mixed_5d_pool`` (the input of Mixed_6a), ``Mixed_6a`` ..
    ``Mixed_6e`` and ``neck``. ADL points (protocol): after Mixed_5d, Mixed_6e and the neck.
    SPG's B1 / B2 read ``Mixed_5d_pool`` (288 ch) and ``Mixed_6d`` (768 ch) as in the protocol.
    """

    arch = "inception_v3"
    points = ("Mixed_5d", "Mixed_5d_pool", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e")
    point_sets = {"adl": ("Mixed_5d", "Mixed_6e", "neck"), "spg": ("Mixed_5d_pool", "Mixed_6d")}
    pretrained_prefixes = ("Conv2d_", "Mixed_")
    pretrained_drop_prefixes = ("fc.", "AuxLogits.", "Mixed_7a.", "Mixed_7b.", "Mixed_7c.")

    def __init__(
        self,
        *,
        num_classes: int,
        pooling: str,
        tap_theta: float,
        large_feature_map: bool,
        weights: Any,
        method: Any,
        method_kwargs: Dict[str, Any],
    ) -> None:
        super().__init__()
        self.large_feature_map = bool(large_feature_map)
        with torch.device("meta"):  # allocated and initialised by _setup
            self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2, padding=1)
            self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
            self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
            self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
            self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
            self.Mixed_5b = InceptionA(192, pool_features=32)
            self.Mixed_5c = InceptionA(256, pool_features=64)
            self.Mixed_5d = InceptionA(288, pool_features=64)
            self.Mixed_6a = InceptionBStride1(288)
            self.Mixed_6b = InceptionC(768, channels_7x7=128)
            self.Mixed_6c = InceptionC(768, channels_7x7=160)
            self.Mixed_6d = InceptionC(768, channels_7x7=160)
            self.Mixed_6e = InceptionC(768, channels_7x7=192)
        point_channels = {p: 768 for p in self.points}
        point_channels.update({"Mixed_5d": 288, "Mixed_5d_pool": 288})
        self._setup(
            num_classes=num_classes,
            trunk_channels=768,
            feature_channels=1024,
            point_channels=point_channels,
            pooling=pooling,
            tap_theta=tap_theta,
            head_dropout=0.5,
            method=method,
            method_kwargs=method_kwargs,
            weights=weights,
        )

    def make_neck(self) -> nn.Module:
        """Protocol head convs: ``dropout, conv 768->1024, ReLU, dropout, conv 1024->1024, ReLU``."""
        neck = nn.Sequential(
            nn.Dropout(0.5),
            nn.Conv2d(768, 1024, kernel_size=3, padding=1),
            nn.ReLU(inplace=False),
            nn.Dropout(0.5),
            nn.Conv2d(1024, 1024, kernel_size=3, padding=1),
            nn.ReLU(inplace=False),
        )
        init_new_layers(neck)
        return neck

    def forward_trunk(self, x: Tensor, taps: Sequence[str] = ()) -> Tuple[Tensor, Dict[str, Tensor]]:
        out: Dict[str, Tensor] = {}
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1, ceil_mode=True)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1, ceil_mode=True)
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))
        x = self._point("Mixed_5d", x, taps, out)
        if not self.large_feature_map:
            x = F.max_pool2d(x, kernel_size=3, stride=2, ceil_mode=True)
        x = self._point("Mixed_5d_pool", x, taps, out)
        for name in ("Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            x = self._point(name, getattr(self, name)(x), taps, out)
        return x, out


@register_model("inception_v3")
@cam_builder
def inception_v3(**kwargs: Any) -> InceptionCAM:
    """InceptionV3-CAM: 14x14 features at 224 input (28x28 with ``large_feature_map``), K = 1024.

    ``large_feature_map``: skip the max-pool between Mixed_5d and Mixed_6a (protocol variant; the
    protocol's InceptionV3 runs use it, see :data:`wsolx.models.DEFAULTS`). ``weights``:
    torchvision's ``inception_v3`` weights (``fc.*``, ``AuxLogits.*`` and the unused ``Mixed_7*``
    dropped; the rest must match). Arguments: :func:`wsolx.models.builder.build_cam_model`.
    """
    return build_cam_model("inception_v3", InceptionCAM, **kwargs)
