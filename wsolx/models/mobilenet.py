"""MobileNetV1-CAM, the paper's fourth backbone (Bae et al., ECCV 2020).

MobileNetV1 (Howard et al., 2017): a 3x3 / 2 stem and 13 depthwise-separable blocks, with the
last stride-2 block (512 -> 1024) at stride 1, so a 224 input gives a 14x14 map of K = 1024
channels; ``large_feature_map=True`` also sets the 256 -> 512 block to stride 1 (28x28). No neck:
pooling (TAP or GAP) and ``Linear(1024, classes)`` follow the last block.

torchvision has no MobileNetV1, so ``weights`` takes a state dict in this module's own naming::

    features.0.{0: conv, 1: bn}.*                 stem, conv 3x3 3->32 / 2 + BN + ReLU
    features.<i>.dw.{0: conv, 1: bn}.*            i = 1..13, depthwise conv 3x3 + BN + ReLU
    features.<i>.pw.{0: conv, 1: bn}.*            pointwise conv 1x1 + BN + ReLU

(``fc.*`` / ``classifier.*`` / ``head.*`` classifier keys are dropped). Convs have no bias.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

import torch
from torch import Tensor, nn
from torchvision.ops import Conv2dNormActivation

from wsolx.models.base import WSOLModel
from wsolx.models.builder import build_cam_model, cam_builder
from wsolx.models.registry import register_model

__all__ = ["MobileNetV1CAM", "DepthwiseSeparable", "mobilenet_v1"]

# (in, out, stride) of the 13 depthwise-separable blocks of MobileNetV1.
_BLOCKS: Tuple[Tuple[int, int, int], ...] = (
    (32, 64, 1),
    (64, 128, 2),
    (128, 128, 1),
    (128, 256, 2),
    (256, 256, 1),
    (256, 512, 2),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 1024, 2),
    (1024, 1024, 1),
)
_LAST_STRIDE_BLOCK = 12  # 512 -> 1024, stride 2 in MobileNetV1, stride 1 here
_LARGE_MAP_BLOCK = 6  # 256 -> 512, stride 1 with large_feature_map


class DepthwiseSeparable(nn.Module):
    """Depthwise 3x3 conv-BN-ReLU then pointwise 1x1 conv-BN-ReLU: ``(B, in, h, w) -> (B, out, h/s, w/s)``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.dw = Conv2dNormActivation(
            in_channels,
            in_channels,
            kernel_size=3,
            stride=stride,
            groups=in_channels,
            norm_layer=nn.BatchNorm2d,
            activation_layer=nn.ReLU,
        )
        self.pw = Conv2dNormActivation(
            in_channels, out_channels, kernel_size=1, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.pw(self.dw(x))


class MobileNetV1CAM(WSOLModel):
    """MobileNetV1-CAM. See :func:`mobilenet_v1` for the arguments.

    Feature points ``features_<i>`` follow block ``i`` (1..13). ADL points (wsolx choice, the
    last 512- and 1024-channel blocks): ``features_11``, ``features_13``. SPG's B1 / B2 read
    ``features_6`` and ``features_11`` (first and last 512-channel blocks).
    """

    arch = "mobilenet_v1"
    points = tuple(f"features_{i}" for i in range(1, len(_BLOCKS) + 1))
    point_sets = {"adl": ("features_11", "features_13"), "spg": ("features_6", "features_11")}
    pretrained_prefixes = ("features.",)

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
        with torch.device("meta"):  # allocated and initialised by _setup
            layers: List[nn.Module] = [
                Conv2dNormActivation(
                    3, 32, kernel_size=3, stride=2, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU
                )
            ]
            for i, (cin, cout, stride) in enumerate(_BLOCKS, start=1):
                if i == _LAST_STRIDE_BLOCK or (large_feature_map and i == _LARGE_MAP_BLOCK):
                    stride = 1
                layers.append(DepthwiseSeparable(cin, cout, stride))
            self.features = nn.Sequential(*layers)
        self._setup(
            num_classes=num_classes,
            trunk_channels=1024,
            feature_channels=1024,
            point_channels={f"features_{i}": cout for i, (_, cout, _) in enumerate(_BLOCKS, start=1)},
            pooling=pooling,
            tap_theta=tap_theta,
            head_dropout=0.0,
            method=method,
            method_kwargs=method_kwargs,
            weights=weights,
        )

    def forward_trunk(self, x: Tensor, taps: Sequence[str] = ()) -> Tuple[Tensor, Dict[str, Tensor]]:
        out: Dict[str, Tensor] = {}
        x = self.features[0](x)
        for i in range(1, len(self.features)):
            x = self._point(f"features_{i}", self.features[i](x), taps, out)
        return x, out


@register_model("mobilenet_v1")
@cam_builder
def mobilenet_v1(**kwargs: Any) -> MobileNetV1CAM:
    """MobileNetV1-CAM: 14x14 features at 224 input (28x28 with ``large_feature_map``), K = 1024.

    ``large_feature_map``: the 256->512 block at stride 1 as well. ``weights``: a state dict in this
    module's naming (see the module docstring); classifier keys are dropped, everything else must
    match. Arguments: :func:`wsolx.models.builder.build_cam_model`.
    """
    return build_cam_model("mobilenet_v1", MobileNetV1CAM, **kwargs)
