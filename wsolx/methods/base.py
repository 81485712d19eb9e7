"""Base class of the WSOL methods and the plain CAM objective.

A method is an ``nn.Module`` stored as ``model.method``. It owns the method-specific layers
(trained at the new-layer learning rate) and its state, uses the model only through the
:class:`~wsolx.methods.host.MethodHost` protocol (never importing ``wsolx.models``), and implements

* :meth:`WSOLMethod.attach`: called once by the model builder (create heads, insert layers);
* :meth:`WSOLMethod.training_loss`: ``(model, images, labels) -> (loss, logits)``;
* :meth:`WSOLMethod.cams`: the localisation maps (the raw CAM by default).

Methods never hold a reference to the model (it is passed in), never change the plain forward
path in eval mode, and keep pooling (TAP / GAP) the model's, so every method composes with TAP,
NWC (``cams(..., clamp_negative=True)``) and PaS (applied by the evaluator).
"""

from __future__ import annotations

from typing import ClassVar, Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from wsolx.methods.host import MethodHost
from wsolx.ops.cam import cam
from wsolx.ops.normalize import minmax_normalize  # re-exported: ACoL / SPG attention maps

__all__ = ["WSOLMethod", "CAM", "MethodHost", "minmax_normalize"]


class WSOLMethod(nn.Module):
    """Base WSOL method: cross-entropy on the plain forward path and the raw CAM."""

    name: ClassVar[str] = ""

    def attach(self, model: MethodHost) -> None:
        """Called once when ``model`` is built (after its neck and head exist).

        Runs under ``torch.device("meta")``: create layers here, initialise them in
        :meth:`reset_parameters` (called once the model is allocated).
        """

    def reset_parameters(self) -> None:
        """Initialise the method's own layers (the model has already run its default init)."""

    def training_loss(self, model: MethodHost, images: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
        """``(B, 3, H, W), (B,) -> (scalar loss, logits (B, num_classes))``."""
        logits = model(images)
        return F.cross_entropy(logits, labels), logits

    def cams(self, model: MethodHost, images: Tensor, labels: Tensor, clamp_negative: bool = False) -> Tensor:
        """Raw CAMs ``(B, h, w)`` of ``labels`` from ``model.forward_features`` (NWC when asked)."""
        return cam(model.forward_features(images), model.fc_weight, labels, clamp_negative)


class CAM(WSOLMethod):
    """Class Activation Mapping (Zhou et al., CVPR 2016): plain cross-entropy training."""

    name = "cam"
