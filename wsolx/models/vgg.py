"""VGG16-CAM (docs/semantics.md §8) and the CPU-sized ``vgg_tiny``.

VGG16-CAM, as in the protocol (Choe et al., CVPR 2020) and the paper (Bae et al., ECCV 2020):
torchvision's VGG16 ``features`` with pool5 removed (224 -> 14x14), then a new
``conv 3x3 512->1024 + ReLU`` (the neck), pooling (TAP or GAP) and ``Linear(1024, classes)``.
``large_feature_map=True`` also removes pool4 (224 -> 28x28), as the protocol's ``28x28`` config.
The removed pool4 is kept as an ``nn.Identity`` so the layer indices, and therefore the state-dict
keys, stay those of ``torchvision.models.vgg16().features``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from wsolx.models.base import WSOLModel, init_new_layers
from wsolx.models.builder import build_cam_model, cam_builder
from wsolx.models.registry import register_model

__all__ = ["VGGCAM", "vgg16", "vgg_tiny"]

# torchvision VGG16 ("D") features: conv widths and pools; index of every layer is preserved.
_VGG16_CFG: Tuple[Union[int, str], ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
)
# Feature points of VGG16 by index of the layer they follow (after the ReLU of a conv).
_VGG16_POINTS = {16: "pool3", 22: "conv4_3", 23: "pool4", 29: "conv5_3"}
_VGG16_POOL4 = 23


def _make_features(
    cfg: Sequence[Union[int, str]], batch_norm: bool, drop_pools: Sequence[int] = ()
) -> Tuple[nn.Sequential, int]:
    """Conv/ReLU/MaxPool stack; pools whose layer index is in ``drop_pools`` become ``Identity``.

    Returns the stack and its output channels.
    """
    layers: List[nn.Module] = []
    in_ch = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.Identity() if len(layers) in drop_pools else nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.Conv2d(in_ch, int(v), kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(int(v)))
            layers.append(nn.ReLU(inplace=True))
            in_ch = int(v)
    return nn.Sequential(*layers), in_ch


class VGGCAM(WSOLModel):
    """VGG-style CAM model: ``features -> neck (conv3x3 + ReLU) -> pooling -> Linear``.

    Args:
        cfg: conv widths and ``"M"`` pools of ``features``.
        point_index: ``{layer index: point name}`` of the feature points.
        drop_pools: indices of pools replaced by ``Identity`` (large feature map).
        neck_channels: output channels of the neck conv (1024 for VGG16).
        batch_norm: BatchNorm after every conv of ``features`` (``vgg_tiny`` only).
        Other arguments: see :func:`wsolx.models.builder.build_cam_model`.
    """

    pretrained_prefixes = ("features.",)
    pretrained_drop_prefixes = ("classifier.", "fc.")

    def __init__(
        self,
        *,
        arch: str,
        cfg: Sequence[Union[int, str]],
        point_index: Dict[int, str],
        adl_points: Tuple[str, ...],
        spg_points: Tuple[str, str],
        drop_pools: Sequence[int],
        neck_channels: int,
        batch_norm: bool,
        num_classes: int,
        pooling: str,
        tap_theta: float,
        weights: Any,
        method: Any,
        method_kwargs: Dict[str, Any],
    ) -> None:
        super().__init__()
        self.arch = arch
        with torch.device("meta"):  # allocated and initialised by _setup
            self.features, trunk_channels = _make_features(cfg, batch_norm, drop_pools)
        self._point_index = dict(point_index)
        self.points = tuple(point_index.values())
        self.point_sets = {"adl": tuple(adl_points), "spg": tuple(spg_points)}
        self._neck_channels = neck_channels
        channels = _channels_after(self.features)
        self._setup(
            num_classes=num_classes,
            trunk_channels=trunk_channels,
            feature_channels=neck_channels,
            point_channels={name: channels[i] for i, name in point_index.items()},
            pooling=pooling,
            tap_theta=tap_theta,
            head_dropout=0.0,
            method=method,
            method_kwargs=method_kwargs,
            weights=weights,
        )

    def make_neck(self) -> nn.Module:
        """``conv 3x3 C_trunk -> neck_channels + ReLU`` (VGG16: 512 -> 1024), freshly initialised."""
        neck = nn.Sequential(
            nn.Conv2d(self.trunk_channels, self._neck_channels, kernel_size=3, padding=1),
            nn.ReLU(inplace=False),
        )
        init_new_layers(neck)
        return neck

    def forward_trunk(self, x: Tensor, taps: Sequence[str] = ()) -> Tuple[Tensor, Dict[str, Tensor]]:
        out: Dict[str, Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            name = self._point_index.get(i)
            if name is not None:
                x = self._point(name, x, taps, out)
        return x, out


def _channels_after(features: nn.Sequential) -> List[int]:
    """Channels of the output of every layer of a conv stack starting from 3 channels."""
    ch, out = 3, []
    for layer in features:
        if isinstance(layer, nn.Conv2d):
            ch = layer.out_channels
        out.append(ch)
    return out


def _vgg16_model(*, large_feature_map: bool, **common: Any) -> VGGCAM:
    """:class:`VGGCAM` with VGG16's layers (pool4 removed with ``large_feature_map``)."""
    return VGGCAM(
        arch="vgg16",
        cfg=_VGG16_CFG,
        point_index=_VGG16_POINTS,
        adl_points=("pool3", "conv4_3", "conv5_3"),
        spg_points=("pool4", "conv5_3"),
        drop_pools=(_VGG16_POOL4,) if large_feature_map else (),
        neck_channels=1024,
        batch_norm=False,
        **common,
    )


@register_model("vgg16")
@cam_builder
def vgg16(**kwargs: Any) -> VGGCAM:
    """VGG16-CAM: 14x14 features at 224 input (28x28 with ``large_feature_map``), K = 1024.

    ``large_feature_map``: also remove pool4 (protocol's ``28x28`` variant). ``weights``: torchvision's
    ``vgg16`` ImageNet weights; ``classifier.*`` is dropped, ``features.*`` must match. Arguments:
    :func:`wsolx.models.builder.build_cam_model`.
    """
    return build_cam_model("vgg16", _vgg16_model, **kwargs)


def _vgg_tiny_model(*, base_width: int, large_feature_map: bool, **common: Any) -> VGGCAM:
    """:class:`VGGCAM` with :func:`vgg_tiny`'s layers of width ``base_width``."""
    if isinstance(base_width, bool) or not isinstance(base_width, int) or base_width < 1:
        raise ValueError(f"vgg_tiny: base_width must be a positive int, got {base_width!r}")
    w = base_width
    cfg = (w, "M", 2 * w, "M", 4 * w, 4 * w, "M", 8 * w, 8 * w)
    # Layer indices with BatchNorm (conv, bn, relu = 3 layers per conv):
    # 0-2 conv1, 3 pool1, 4-6 conv2, 7 pool2, 8-10 conv3_1, 11-13 conv3_2, 14 pool3,
    # 15-17 conv4_1, 18-20 conv4_2.
    return VGGCAM(
        arch="vgg_tiny",
        cfg=cfg,
        point_index={7: "pool2", 14: "pool3", 20: "conv4"},
        adl_points=("pool3", "conv4"),
        spg_points=("pool3", "conv4"),
        drop_pools=(14,) if large_feature_map else (),
        neck_channels=16 * w,
        batch_norm=True,
        **common,
    )


@register_model("vgg_tiny")
@cam_builder
def vgg_tiny(*, base_width: int = 16, **kwargs: Any) -> VGGCAM:
    """Test-size VGG-style CAM model (with BatchNorm) that trains from scratch on a CPU.

    ``features``: ``[w, M, 2w, M, 4w, 4w, M, 8w, 8w]`` conv3x3-BN-ReLU blocks (``w = base_width``),
    i.e. an output stride of 8 (96 px -> 12x12, 128 px -> 16x16); ``large_feature_map`` removes the
    third pool (stride 4). Neck: ``conv 3x3 8w -> 16w + ReLU``; K = ``16 * base_width``. About
    0.12 GMAC per 96x96 image at ``base_width=16``. Same interface, pooling and methods as
    :func:`vgg16` (arguments: :func:`wsolx.models.builder.build_cam_model`); ``weights`` takes a
    state dict in this model's own naming (``features.*``).
    """
    return build_cam_model("vgg_tiny", lambda **common: _vgg_tiny_model(base_width=base_width, **common), **kwargs)
