"""Pooling and classifier heads of the CAM models.

The CAM head of every backbone is ``pooling -> Linear(K, num_classes)`` on the last feature map
``(B, K, h, w)``. Because pooling (GAP or TAP) happens *before* the linear classifier, the class
activation map ``CAM_c = sum_k w[c, k] f_k`` is built from the same features and weights that
produce the logits (:func:`wsolx.ops.cam`).
"""

from __future__ import annotations

from torch import Tensor, nn

from wsolx.ops.tap import TAPool
from wsolx.protocol import TAP_THETA

__all__ = ["POOLINGS", "GlobalAvgPool", "make_pool", "CAMHead"]

POOLINGS = ("tap", "gap")


class GlobalAvgPool(nn.Module):
    """Global average pooling: ``(B, C, H, W) -> (B, C)``."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3))


def make_pool(pooling: str, tap_theta: float = TAP_THETA) -> nn.Module:
    """Pooling layer ``(B, C, H, W) -> (B, C)`` by name.

    Args:
        pooling: ``"tap"`` (Thresholded Average Pooling, Bae et al. 2020) or ``"gap"``
            (global average pooling, the original CAM).
        tap_theta: TAP threshold ratio in ``[0, 1]``; ignored for ``"gap"``.
    """
    if pooling == "tap":
        return TAPool(theta=tap_theta, flatten=True)
    if pooling == "gap":
        return GlobalAvgPool()
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


class CAMHead(nn.Module):
    """``[dropout] -> pooling -> Linear``: features ``(B, K, h, w)`` to logits ``(B, num_classes)``.

    Args:
        in_channels: ``K``, channels of the feature map.
        num_classes: number of classes.
        pooling: ``"tap"`` or ``"gap"``.
        tap_theta: TAP threshold ratio (default: :data:`wsolx.protocol.TAP_THETA`).
        dropout: dropout probability applied to the feature map before pooling, in training only
            (0.5 in the protocol's InceptionV3 head, 0 elsewhere).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        pooling: str = "tap",
        tap_theta: float = TAP_THETA,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not (0.0 <= dropout < 1.0):
            raise ValueError(f"CAMHead: dropout must lie in [0, 1), got {dropout}")
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.pool = make_pool(pooling, tap_theta)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, features: Tensor, pre_logits: bool = False) -> Tensor:
        """``(B, K, h, w) -> (B, num_classes)``, or the pooled ``(B, K)`` with ``pre_logits``."""
        pooled = self.pool(self.dropout(features))
        if pre_logits:
            return pooled
        return self.fc(pooled)
