"""The common interface of every wsolx CAM model (timm-style split, CAMs without hooks).

A model is ``trunk -> neck -> head``:

* ``trunk``: the (modified) ImageNet backbone, the only part that pretrained weights load into.
  :meth:`WSOLModel.forward_trunk` runs it and can return the feature maps at named *points*
  (``taps``); WSOL methods use the points to insert layers (ADL) or attach branches (SPG),
  through the generic hooks of :class:`wsolx.methods.MethodHost` (``point_sets``,
  ``insert_layer``, ``make_neck`` / ``make_head``), never through method-specific attributes.
* ``neck``: new layers between the trunk and the classifier (VGG16: conv 3x3 512->1024 + ReLU;
  InceptionV3: the protocol's two 3x3 conv layers; ResNet50 / MobileNetV1: identity).
* ``head``: :class:`~wsolx.models.heads.CAMHead`, ``pooling (TAP or GAP) -> Linear(K, classes)``.

``forward_features(x) = neck(trunk(x))`` is the ``(B, K, h, w)`` map the CAM is built from and
``cams(x, labels)`` is :func:`wsolx.ops.cam` on exactly those features and ``head.fc.weight``
(no forward hooks, no state kept on the module, so it works under ``torch.compile``).

The training objective is delegated to ``model.method`` (a :class:`wsolx.methods.WSOLMethod`),
which also owns any method-specific layers (ACoL's second branch, SPG's guidance heads).
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from wsolx.methods import WSOLMethod, build_method
from wsolx.models.heads import POOLINGS, CAMHead
from wsolx.ops.init import init_new_layers

__all__ = ["WSOLModel", "init_new_layers"]


class WSOLModel(nn.Module):
    """Base class of the CAM backbones. Subclasses build the trunk (preferably under
    ``torch.device("meta")``: it is allocated and initialised once by :meth:`_setup`), then call
    :meth:`_setup`.

    Class attributes a subclass sets:
        arch: registry name.
        points: names of the trunk points :meth:`forward_trunk` can tap (plus ``"neck"``, the
            output of the neck, handled here).
        point_sets: ``{role: points}``, named sets of feature points a method looks up by role
            (protocol positions: ``"adl"``, where ADL inserts its layers; ``"spg"``, the two
            points SPG's branches B1 and B2 read from). See :class:`wsolx.methods.MethodHost`.
        pretrained_prefixes: state-dict prefixes of the trunk (what pretrained weights fill).
        pretrained_drop_prefixes: classifier keys of the source model dropped when loading.
        new_lr_trunk_prefixes: trunk prefixes that nevertheless train at the new-layer learning
            rate (the protocol does this for ResNet50's ``layer4``).
    """

    arch: str = ""
    points: Tuple[str, ...] = ()
    point_sets: Mapping[str, Tuple[str, ...]] = MappingProxyType({})
    pretrained_prefixes: Tuple[str, ...] = ()
    pretrained_drop_prefixes: Tuple[str, ...] = ("fc.", "classifier.")
    new_lr_trunk_prefixes: Tuple[str, ...] = ()

    # ------------------------------------------------------------------ construction
    def _setup(
        self,
        *,
        num_classes: int,
        trunk_channels: int,
        feature_channels: int,
        point_channels: Mapping[str, int],
        pooling: str,
        tap_theta: float,
        head_dropout: float,
        method: Union[str, nn.Module],
        method_kwargs: Mapping[str, Any],
        weights: Any,
    ) -> None:
        """Build neck, head and method, initialise the new layers and load ``weights``."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"{self.arch}: num_classes must be a positive int, got {num_classes!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"{self.arch}: pooling must be one of {POOLINGS}, got {pooling!r}")
        if not (0.0 <= float(tap_theta) <= 1.0) or math.isnan(float(tap_theta)):
            raise ValueError(f"{self.arch}: tap_theta must lie in [0, 1], got {tap_theta}")
        self.num_classes = num_classes
        self.trunk_channels = trunk_channels
        self.feature_channels = feature_channels
        self.point_channels: Dict[str, int] = dict(point_channels)
        self.point_channels["neck"] = feature_channels
        self.pooling = pooling
        self.tap_theta = float(tap_theta)
        self.head_dropout = float(head_dropout)

        if isinstance(method, str):
            method = build_method(method, **dict(method_kwargs))
        elif isinstance(method, WSOLMethod):
            if method_kwargs:
                raise TypeError(
                    f"{self.arch}: method keyword arguments {sorted(method_kwargs)} are only accepted "
                    "with a method name, not with a method instance"
                )
        else:
            raise TypeError(f"{self.arch}: method must be a name or a WSOLMethod, got {type(method).__name__}")
        # The trunk was built on the meta device by the subclass; the new layers are too, then
        # the whole model is allocated once on the current default device and initialised once.
        device = torch.get_default_device()
        self.point_layers = nn.ModuleDict()  # {point: layer} from insert_layer (ADL); empty otherwise
        with torch.device("meta"):
            self.neck = self.make_neck()
            self.head = self.make_head()
            self.method = method
            method.attach(self)
        self.to_empty(device=device)
        init_new_layers(self)
        method.reset_parameters()

        if weights is not None:
            from wsolx.models.weights import load_pretrained_weights

            load_pretrained_weights(self, weights)

    def make_neck(self) -> nn.Module:
        """A freshly initialised neck (identity unless the backbone adds layers)."""
        return nn.Identity()

    def make_head(self) -> CAMHead:
        """A freshly initialised CAM head with this model's pooling."""
        head = CAMHead(self.feature_channels, self.num_classes, self.pooling, self.tap_theta, self.head_dropout)
        init_new_layers(head)
        return head

    def insert_layer(self, point: str, layer: nn.Module) -> None:
        """Apply ``layer`` to the features at feature point ``point`` on every forward pass.

        The hook of :class:`wsolx.methods.MethodHost` methods insert layers with (ADL); one layer
        per point. The layer is a submodule of the model (``point_layers``).
        """
        self.check_points((point,))
        if point in self.point_layers:
            raise ValueError(f"{self.arch}: a layer is already inserted at point {point!r}")
        self.point_layers[point] = layer

    # ------------------------------------------------------------------ forward passes
    def _point(self, name: str, x: Tensor, taps: Sequence[str], out: Dict[str, Tensor]) -> Tensor:
        """Apply the layer inserted at point ``name`` (if any) and record the tap if asked for."""
        if name in self.point_layers:
            x = self.point_layers[name](x)
        if name in taps:
            out[name] = x
        return x

    def forward_trunk(self, x: Tensor, taps: Sequence[str] = ()) -> Tuple[Tensor, Dict[str, Tensor]]:
        """Run the trunk.

        Args:
            x: ``(B, 3, H, W)`` images.
            taps: names from :attr:`points` whose feature maps to return.

        Returns:
            ``(trunk_features (B, C_trunk, h, w), {point: (B, C_point, h_p, w_p)})``.
        """
        raise NotImplementedError

    def forward_features_with_taps(
        self, x: Tensor, taps: Sequence[str] = ()
    ) -> Tuple[Tensor, Tensor, Dict[str, Tensor]]:
        """``(features (B, K, h, w), trunk_features (B, C_trunk, h, w), taps)`` in one pass."""
        trunk, out = self.forward_trunk(x, taps)
        features = self._point("neck", self.neck(trunk), taps, out)
        return features, trunk, out

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W) -> (B, K, h, w)``: the feature map the CAM is built from."""
        trunk, _ = self.forward_trunk(x)
        return self._point("neck", self.neck(trunk), (), {})

    def forward_head(self, features: Tensor, pre_logits: bool = False) -> Tensor:
        """``(B, K, h, w) -> (B, num_classes)`` logits (or the pooled ``(B, K)`` with ``pre_logits``)."""
        return self.head(features, pre_logits=pre_logits)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W) -> (B, num_classes)`` logits of the plain CAM path (every method)."""
        return self.forward_head(self.forward_features(x))

    def cams(self, x: Tensor, labels: Tensor, clamp_negative: bool = False) -> Tensor:
        """Class activation maps of ``labels``: ``(B, 3, H, W), (B,) -> (B, h, w)``.

        For CAM, HaS, ADL, SPG and CutMix this is the raw CAM ``sum_k w[c, k] f_k(h, w)`` of
        :meth:`forward_features` and ``head.fc.weight`` (no bias); ``clamp_negative=True`` is
        Negative Weight Clamping (NWC). ACoL fuses its two branches (see
        :class:`wsolx.methods.ACoL`). Call in eval mode for localisation.
        """
        return self.method.cams(self, x, labels, clamp_negative)

    def training_loss(self, images: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
        """The method's training objective: ``(B, 3, H, W), (B,) -> (loss (), logits (B, classes))``."""
        return self.method.training_loss(self, images, labels)

    # ------------------------------------------------------------------ optimisation helpers
    @property
    def fc_weight(self) -> Tensor:
        """``(num_classes, K)`` classifier weights the CAM uses."""
        return self.head.fc.weight

    @property
    def method_name(self) -> str:
        return self.method.name

    def is_pretrained_key(self, name: str) -> bool:
        """Whether a parameter / buffer name belongs to the trunk (filled by pretrained weights)."""
        return name.startswith(self.pretrained_prefixes)

    def param_groups(self, lr: float, new_lr_ratio: float = 10.0) -> List[Dict[str, Any]]:
        """Optimizer parameter groups: pretrained trunk at ``lr``, new layers at ``new_lr_ratio * lr``.

        New layers are the neck (VGG16's extra conv, InceptionV3's head convs), the classifier and
        every method head. Following the protocol, ResNet50's ``layer4`` (whose stride changes)
        is also trained at the new-layer rate. Empty groups are left out.

        Returns:
            ``[{"params": [...], "lr": lr, "name": "pretrained"}, {"params": [...], "lr":
            new_lr_ratio * lr, "name": "new"}]``.
        """
        if lr <= 0 or new_lr_ratio <= 0:
            raise ValueError(f"param_groups: lr and new_lr_ratio must be positive, got {lr}, {new_lr_ratio}")
        base: List[nn.Parameter] = []
        new: List[nn.Parameter] = []
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            if self.is_pretrained_key(name) and not name.startswith(self.new_lr_trunk_prefixes):
                base.append(p)
            else:
                new.append(p)
        groups = []
        if base:
            groups.append({"params": base, "lr": lr, "name": "pretrained"})
        if new:
            groups.append({"params": new, "lr": lr * new_lr_ratio, "name": "new"})
        return groups

    def check_points(self, names: Sequence[str]) -> None:
        """Raise a clear error when a name is not one of this model's feature points."""
        available = list(self.points) + ["neck"]
        unknown = [n for n in names if n not in available]
        if unknown:
            raise ValueError(f"{self.arch}: unknown feature points {unknown}; available: {available}")

    def extra_repr(self) -> str:
        return (
            f"arch={self.arch}, num_classes={self.num_classes}, pooling={self.pooling}, "
            f"tap_theta={self.tap_theta}, feature_channels={self.feature_channels}"
        )
