"""ResNet50-CAM (docs/semantics.md §8; protocol of Choe et al., CVPR 2020).

torchvision's ResNet50 (v1.5: stride on the 3x3 conv) with ``layer4`` at stride 1, so a 224 input
gives a 14x14 map of K = 2048 channels; ``large_feature_map=True`` also sets ``layer3`` to stride 1
(the protocol's large-feature-map variant, 28x28). No neck: pooling (TAP or GAP) and
``Linear(2048, classes)`` follow ``layer4`` directly. Module names are torchvision's, so its
state dict loads as is (``fc.*`` dropped).
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

import torch
from torch import Tensor, nn
from torchvision.models.resnet import Bottleneck, ResNet

from wsolx.models.base import WSOLModel
from wsolx.models.builder import build_cam_model, cam_builder
from wsolx.models.registry import register_model

__all__ = ["ResNetCAM", "resnet50"]


def _set_stride_one(layer: nn.Sequential) -> None:
    """Make the first block of a ResNet stage keep the resolution (3x3 conv and shortcut)."""
    block = layer[0]
    block.conv2.stride = (1, 1)
    if block.downsample is not None:
        block.downsample[0].stride = (1, 1)


class ResNetCAM(WSOLModel):
    """ResNet50-CAM. See :func:`resnet50` for the arguments.

    Feature points: ``layer3_<i>`` / ``layer4_<i>`` after block ``i`` and ``layer3`` / ``layer4``
    after the stage. ADL points (protocol): after ``layer3[0]``, ``layer4[0]`` and ``layer4[2]``.
    SPG's B1 / B2 read ``layer3[0]`` and ``layer3`` (as the protocol's SPG_A1 / SPG_A2 split).
    """

    arch = "resnet50"
    point_sets = {"adl": ("layer3_0", "layer4_0", "layer4_2"), "spg": ("layer3_0", "layer3")}
    pretrained_prefixes = ("conv1.", "bn1.", "layer1.", "layer2.", "layer3.", "layer4.")
    pretrained_drop_prefixes = ("fc.",)
    # Protocol (Choe et al.): layer4, whose stride changed, trains at the classifier's rate.
    new_lr_trunk_prefixes = ("layer4.",)

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
        layers: Sequence[int] = (3, 4, 6, 3),
    ) -> None:
        super().__init__()
        with torch.device("meta"):  # allocated and initialised by _setup
            tv = ResNet(Bottleneck, list(layers))
        _set_stride_one(tv.layer4)
        if large_feature_map:
            _set_stride_one(tv.layer3)
        self.conv1, self.bn1, self.relu, self.maxpool = tv.conv1, tv.bn1, tv.relu, tv.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = tv.layer1, tv.layer2, tv.layer3, tv.layer4
        self.points = (
            tuple(f"layer3_{i}" for i in range(len(self.layer3)))
            + ("layer3",)
            + tuple(f"layer4_{i}" for i in range(len(self.layer4)))
            + ("layer4",)
        )
        point_channels = {p: 1024 for p in self.points if p.startswith("layer3")}
        point_channels.update({p: 2048 for p in self.points if p.startswith("layer4")})
        self._setup(
            num_classes=num_classes,
            trunk_channels=2048,
            feature_channels=2048,
            point_channels=point_channels,
            pooling=pooling,
            tap_theta=tap_theta,
            head_dropout=0.0,
            method=method,
            method_kwargs=method_kwargs,
            weights=weights,
        )

    def forward_trunk(self, x: Tensor, taps: Sequence[str] = ()) -> Tuple[Tensor, Dict[str, Tensor]]:
        out: Dict[str, Tensor] = {}
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        for i, block in enumerate(self.layer3):
            x = self._point(f"layer3_{i}", block(x), taps, out)
        x = self._point("layer3", x, taps, out)
        for i, block in enumerate(self.layer4):
            x = self._point(f"layer4_{i}", block(x), taps, out)
        x = self._point("layer4", x, taps, out)
        return x, out


@register_model("resnet50")
@cam_builder
def resnet50(**kwargs: Any) -> ResNetCAM:
    """ResNet50-CAM: 14x14 features at 224 input (28x28 with ``large_feature_map``), K = 2048.

    ``large_feature_map``: ``layer3`` at stride 1 as well (protocol variant; the protocol's ResNet50
    runs use it, see :data:`wsolx.models.DEFAULTS`). ``weights``: torchvision's ``resnet50``
    weights (``fc.*`` dropped, everything else must match). Arguments:
    :func:`wsolx.models.builder.build_cam_model`.
    """
    return build_cam_model("resnet50", ResNetCAM, **kwargs)
