"""What a WSOL method may use of the model it is attached to: the :class:`MethodHost` protocol.

Methods (``wsolx.methods``) never import ``wsolx.models``: the model builds its method and hands
itself over as a :class:`MethodHost`. :class:`wsolx.models.WSOLModel` implements it; any model that
provides these members can host the methods (checked structurally, ``isinstance(model,
MethodHost)`` works at run time for the members' presence).

Generic hooks only, nothing method-specific:

* feature *points*: named positions in the trunk (``check_points``), with their channels
  (``point_channels``, including ``"neck"``, the output of the neck);
* named sets of points by *role* (``point_sets``): where a method reads or inserts, chosen by the
  model because they depend on its architecture (the protocol's positions: role ``"adl"``, the
  points ADL inserts its layers at; role ``"spg"``, the two points SPG's branches read);
* ``insert_layer(point, layer)``: a layer applied to the features at a point on every forward;
* factories of fresh copies of the model's new layers (``make_neck``, ``make_head``);
* the forward passes and the classifier weights the CAM uses (``fc_weight``).

Methods keep their own state (hyper-parameters, heads, branches) on themselves.
"""

from __future__ import annotations

from typing import Dict, Mapping, Protocol, Sequence, Tuple, runtime_checkable

from torch import Tensor, nn

__all__ = ["MethodHost"]


@runtime_checkable
class MethodHost(Protocol):
    """The interface of a model as seen by a :class:`~wsolx.methods.WSOLMethod`.

    Attributes:
        arch: architecture name (for messages).
        feature_channels: ``K``, channels of the final feature map (the CAM's).
        point_channels: ``{point: channels}`` of every feature point, ``"neck"`` included.
        point_sets: ``{role: points}``, the points this model designates for a role
            (``"adl"``: ADL's insertion points; ``"spg"``: SPG's two branch inputs). A role the
            model does not define is absent.
    """

    arch: str
    feature_channels: int
    point_channels: Dict[str, int]
    point_sets: Mapping[str, Tuple[str, ...]]

    @property
    def fc_weight(self) -> Tensor:
        """``(num_classes, K)`` weights of the classifier the CAM is built with."""
        ...

    def __call__(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W) -> (B, num_classes)`` logits of the plain CAM path."""
        ...

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W) -> (B, K, h, w)``: the feature map the CAM is built from."""
        ...

    def forward_features_with_taps(
        self, x: Tensor, taps: Sequence[str] = ()
    ) -> Tuple[Tensor, Tensor, Dict[str, Tensor]]:
        """``(features (B, K, h, w), trunk_features (B, C_trunk, h, w), {point: map})`` in one pass."""
        ...

    def forward_head(self, features: Tensor, pre_logits: bool = False) -> Tensor:
        """``(B, K, h, w) -> (B, num_classes)`` logits (the pooled ``(B, K)`` with ``pre_logits``)."""
        ...

    def make_neck(self) -> nn.Module:
        """A new, initialised neck like the model's: trunk features -> ``(B, K, h, w)``."""
        ...

    def make_head(self) -> nn.Module:
        """A new, initialised CAM head like the model's (``pool``, ``fc``; features -> logits)."""
        ...

    def check_points(self, names: Sequence[str]) -> None:
        """Raise ``ValueError`` naming the available points when a name is not a feature point."""
        ...

    def insert_layer(self, point: str, layer: nn.Module) -> None:
        """Apply ``layer`` to the features at ``point`` on every forward pass (owned by the model,
        so it follows ``.to()`` / ``.train()``; called from :meth:`WSOLMethod.attach`)."""
        ...
