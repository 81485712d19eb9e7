"""Self-Produced Guidance (SPG; Zhang et al., ECCV 2018), as in the protocol (Choe et al.).

Auxiliary 1-channel "guidance" heads read the trunk and the final features:

* ``B1`` on the model's first SPG point and ``B2`` on its second (``model.point_sets["spg"]``), each
  ``conv 3x3 C -> w + ReLU`` followed by a shared ``conv 3x3 w -> w + ReLU + conv 1x1 w -> 1``;
* ``C`` on the final features ``(B, K, h, w)``: ``conv 3x3 K -> w + ReLU + conv 1x1 w -> 1``.

All maps are upsampled (bilinear) to the input size. Self-produced masks (1 = foreground,
0 = background, ignored in between) supervise the heads with binary cross-entropy:

* ``b2_att``:  B2 logits vs the mask of the normalised CAM of the label (thresholds ``h1, l1``);
* ``b1_b2i``:  B1 logits vs the mask of ``sigmoid(B2)`` (``h2, l2``);
* ``c_fused``: C logits vs the mask of ``(sigmoid(B1) + sigmoid(B2)) / 2`` (``h3, l3``).

Foreground is ``map > high``; when fewer than ``min_foreground`` pixels pass, ``map > 0.7 *
max`` is used instead; background is ``map < low`` (it wins over foreground). Guidance maps are
detached. Total loss: ``CE + b2_att + b1_b2i + c_fused`` (protocol ``spg.get_loss``).

At test time the heads are unused: the model is the plain CAM model and ``cams`` is its CAM.
Protocol defaults (``config.py``): ``thresholds=((0.7, 0.01), (0.5, 0.05), (0.7, 0.1))``.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsolx.methods.base import WSOLMethod, minmax_normalize
from wsolx.methods.host import MethodHost
from wsolx.ops.cam import cam
from wsolx.ops.init import init_new_layers

__all__ = ["SPG", "spg_mask", "masked_bce_with_logits"]

_DEFAULT_THRESHOLDS = ((0.7, 0.01), (0.5, 0.05), (0.7, 0.1))


def spg_mask(
    attention: Tensor, high: float, low: float, min_foreground: int = 30, fallback_ratio: float = 0.7
) -> Tuple[Tensor, Tensor]:
    """Self-produced mask of a guidance map.

    Args:
        attention: ``(B, 1, H, W)`` map (normalised CAM or sigmoid scores).
        high: foreground threshold (strict ``>``).
        low: background threshold (strict ``<``); background overrides foreground.
        min_foreground: if fewer pixels of an image exceed ``high``, that image uses
            ``fallback_ratio * max`` as its foreground threshold.
        fallback_ratio: see ``min_foreground``.

    Returns:
        ``(target, valid)``: ``(B, 1, H, W)`` float target (1 foreground, 0 otherwise) and bool
        mask of the supervised (foreground or background) pixels.
    """
    fg = attention > high
    count = fg.flatten(1).sum(dim=1).view(-1, 1, 1, 1)
    fallback = attention > fallback_ratio * attention.amax(dim=(1, 2, 3), keepdim=True)
    fg = torch.where(count < min_foreground, fallback, fg)
    bg = attention < low
    target = (fg & ~bg).to(attention.dtype)
    return target, fg | bg


def masked_bce_with_logits(logits: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """Mean binary cross-entropy over the ``valid`` pixels (0 when there is none)."""
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    valid_f = valid.to(loss.dtype)
    return (loss * valid_f).sum() / valid_f.sum().clamp_min(1.0)


def _conv_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size=3, padding=1), nn.ReLU(inplace=True))


class SPG(WSOLMethod):
    """SPG: CAM training plus three self-produced-guidance BCE losses.

    Args:
        thresholds: ``((h1, l1), (h2, l2), (h3, l3))`` for the ``b2_att``, ``b1_b2i`` and
            ``c_fused`` masks (protocol defaults ``((0.7, 0.01), (0.5, 0.05), (0.7, 0.1))``).
        head_channels: width ``w`` of the guidance heads; ``None`` (default): 512 as the protocol
            (VGG16 / InceptionV3), capped at ``K // 2`` for small models (``vgg_tiny``).
        min_foreground: minimum foreground pixels before the ``0.7 * max`` fallback (protocol 30).
    """

    name = "spg"

    def __init__(
        self,
        thresholds: Sequence[Sequence[float]] = _DEFAULT_THRESHOLDS,
        head_channels: Optional[int] = None,
        min_foreground: int = 30,
    ) -> None:
        super().__init__()
        pairs = tuple(tuple(float(v) for v in p) for p in thresholds)
        if len(pairs) != 3 or any(len(p) != 2 for p in pairs):
            raise ValueError(f"SPG: thresholds must be three (high, low) pairs, got {thresholds!r}")
        for high, low in pairs:
            if not (0.0 <= low <= high <= 1.0):
                raise ValueError(f"SPG: each pair must satisfy 0 <= low <= high <= 1, got {(high, low)}")
        if (head_channels is not None and head_channels < 1) or min_foreground < 0:
            raise ValueError(f"SPG: invalid head_channels={head_channels} / min_foreground={min_foreground}")
        self.thresholds = pairs
        self.head_channels = head_channels
        self.min_foreground = int(min_foreground)

    def attach(self, model: MethodHost) -> None:
        points = tuple(model.point_sets.get("spg", ()))
        if len(points) != 2:
            raise ValueError(f"{model.arch} defines no SPG points (point_sets['spg'] must name two, got {points})")
        p1, p2 = points
        model.check_points((p1, p2))
        w = self.head_channels or max(1, min(512, model.feature_channels // 2))
        self.width = w  # resolved head width of this attachment
        self.points = (p1, p2)
        self.b1 = _conv_relu(model.point_channels[p1], w)
        self.b2 = _conv_relu(model.point_channels[p2], w)
        self.b_shared = nn.Sequential(_conv_relu(w, w), nn.Conv2d(w, 1, kernel_size=1))
        self.c = nn.Sequential(_conv_relu(model.feature_channels, w), nn.Conv2d(w, 1, kernel_size=1))

    def reset_parameters(self) -> None:
        """Xavier-uniform guidance heads, as the protocol."""
        init_new_layers(self, conv_init="xavier")

    def outputs(self, model: MethodHost, images: Tensor, labels: Tensor) -> Dict[str, Tensor]:
        """One SPG pass. Returns (shapes for ``(B, 3, H, W)`` images):

        ``logits`` ``(B, classes)``; ``logits_b1``, ``logits_b2``, ``logits_c`` ``(B, 1, H, W)``
        (upsampled); ``attention`` ``(B, 1, H, W)`` normalised CAM of ``labels``;
        ``fused_attention`` ``(B, 1, H, W)``. Guidance maps are detached.
        """
        size = images.shape[-2:]
        features, _, taps = model.forward_features_with_taps(images, self.points)
        logits = model.forward_head(features)

        def up(x: Tensor) -> Tensor:
            return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

        b1 = up(self.b_shared(self.b1(taps[self.points[0]])))
        b2 = up(self.b_shared(self.b2(taps[self.points[1]])))
        c = up(self.c(features))
        cams = cam(features.detach(), model.fc_weight.detach(), labels, False).unsqueeze(1)
        attention = minmax_normalize(up(cams))
        fused = ((torch.sigmoid(b1) + torch.sigmoid(b2)) / 2).detach()
        return {
            "logits": logits,
            "logits_b1": b1,
            "logits_b2": b2,
            "logits_c": c,
            "attention": attention,
            "fused_attention": fused,
        }

    def losses(self, model: MethodHost, images: Tensor, labels: Tensor) -> Dict[str, Tensor]:
        """``{"cls", "b2_att", "b1_b2i", "c_fused", "loss", "logits"}``; ``loss`` is the sum."""
        out = self.outputs(model, images, labels)
        (h1, l1), (h2, l2), (h3, l3) = self.thresholds
        k = self.min_foreground
        b2i = torch.sigmoid(out["logits_b2"]).detach()
        terms = {
            "cls": F.cross_entropy(out["logits"], labels),
            "b2_att": masked_bce_with_logits(out["logits_b2"], *spg_mask(out["attention"], h1, l1, k)),
            "b1_b2i": masked_bce_with_logits(out["logits_b1"], *spg_mask(b2i, h2, l2, k)),
            "c_fused": masked_bce_with_logits(out["logits_c"], *spg_mask(out["fused_attention"], h3, l3, k)),
        }
        terms["loss"] = terms["cls"] + terms["b2_att"] + terms["b1_b2i"] + terms["c_fused"]
        terms["logits"] = out["logits"]
        return terms

    def training_loss(self, model: MethodHost, images: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
        terms = self.losses(model, images, labels)
        return terms["loss"], terms["logits"]

    def extra_repr(self) -> str:
        return f"thresholds={self.thresholds}, width={getattr(self, 'width', self.head_channels)}"
