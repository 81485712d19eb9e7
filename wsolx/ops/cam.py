"""Class activation maps with optional Negative Weight Clamping (NWC, Bae et al. 2020)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["cam"]


def cam(features: Tensor, fc_weight: Tensor, labels: Tensor, clamp_negative: bool = True) -> Tensor:
    """CAM of the given classes: ``CAM_c(h, w) = sum_k w'[c, k] * f_k(h, w)`` (no bias).

    With ``clamp_negative`` (NWC) ``w' = max(w, 0)``; otherwise ``w' = w``. Batched, on the
    features' device, differentiable.

    Args:
        features: ``(B, K, h, w)`` feature maps of the last conv layer.
        fc_weight: ``(num_classes, K)`` classifier weights (a ``(num_classes, K, 1, 1)`` 1x1 conv
            weight is accepted too).
        labels: ``(B,)`` integer class per image.
        clamp_negative: apply Negative Weight Clamping.

    Returns:
        ``(B, h, w)`` raw CAMs in the features' dtype; integer (or bool) features are computed in
        the weights' floating dtype (never by casting the weights to integers).
    """
    if features.dim() != 4:
        raise ValueError(f"cam: features must be (B, K, h, w), got shape {tuple(features.shape)}")
    if fc_weight.dim() == 4 and fc_weight.shape[2:] == (1, 1):
        fc_weight = fc_weight.flatten(1)
    if fc_weight.dim() != 2 or fc_weight.size(1) != features.size(1):
        raise ValueError(
            f"cam: fc_weight must be (num_classes, K={features.size(1)}), got shape {tuple(fc_weight.shape)}"
        )
    if labels.dim() != 1 or labels.size(0) != features.size(0):
        raise ValueError(f"cam: labels must be (B={features.size(0)},), got shape {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise TypeError(f"cam: labels must be integers, got {labels.dtype}")
    if (
        not torch.compiler.is_compiling()
        and labels.numel()
        and (int(labels.min()) < 0 or int(labels.max()) >= fc_weight.size(0))
    ):
        raise ValueError(f"cam: labels must lie in [0, {fc_weight.size(0)}), got {labels.tolist()}")
    if features.is_floating_point():
        dtype = features.dtype
    else:
        dtype = fc_weight.dtype if fc_weight.is_floating_point() else torch.get_default_dtype()
        features = features.to(dtype)
    w = fc_weight.to(device=features.device, dtype=dtype)[labels.to(features.device)]  # (B, K)
    if clamp_negative:
        w = w.clamp_min(0)
    return torch.einsum("bk,bkhw->bhw", w, features)
