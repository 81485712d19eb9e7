"""CutMix (Yun et al., ICCV 2019), as in the protocol (Choe et al.).

In training, with probability ``prob``: ``lam ~ Beta(beta, beta)``, a random permutation of the
batch, a box of size ``(int(H * sqrt(1 - lam)), int(W * sqrt(1 - lam)))`` centred at a uniform
random pixel (clipped to the image) is pasted from the permuted images; ``lam`` is then
recomputed as the kept area fraction and the loss is
``lam * CE(logits, labels) + (1 - lam) * CE(logits, labels[perm])``. Otherwise, and always in
eval mode, plain cross-entropy.

All randomness comes from torch's global generator (seed with ``torch.manual_seed``).
Defaults: ``beta=1.0``, ``prob=1.0`` (protocol ``config.py``; CutMix paper's ImageNet setting).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from wsolx.methods.base import WSOLMethod
from wsolx.methods.host import MethodHost

__all__ = ["CutMix", "CutMixResult", "cutmix", "cutmix_box"]


class CutMixResult(NamedTuple):
    """Mixed batch: ``images`` ``(B, C, H, W)``, ``labels_a`` / ``labels_b`` ``(B,)``, ``lam`` in
    [0, 1] (weight of ``labels_a``), ``box`` ``(y0, y1, x0, x1)`` (exclusive ends) and ``index``
    ``(B,)``, the permutation the pasted patches come from (``labels_b = labels[index]``)."""

    images: Tensor
    labels_a: Tensor
    labels_b: Tensor
    lam: float
    box: Tuple[int, int, int, int]
    index: Tensor


def cutmix_box(height: int, width: int, lam: float) -> Tuple[int, int, int, int]:
    """Random box ``(y0, y1, x0, x1)`` covering about ``1 - lam`` of an ``H x W`` image."""
    cut = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * cut), int(width * cut)
    cy = int(torch.randint(height, ()).item())
    cx = int(torch.randint(width, ()).item())
    y0, y1 = min(max(cy - cut_h // 2, 0), height), min(max(cy + cut_h // 2, 0), height)
    x0, x1 = min(max(cx - cut_w // 2, 0), width), min(max(cx + cut_w // 2, 0), width)
    return y0, y1, x0, x1


def cutmix(images: Tensor, labels: Tensor, beta: float = 1.0) -> CutMixResult:
    """Mix a batch with CutMix (a new tensor; ``images`` is not modified).

    Args:
        images: ``(B, C, H, W)``.
        labels: ``(B,)`` integer labels.
        beta: parameter of the ``Beta(beta, beta)`` prior of ``lam`` (> 0).
    """
    if images.dim() != 4:
        raise ValueError(f"cutmix: expected (B, C, H, W) images, got shape {tuple(images.shape)}")
    if beta <= 0:
        raise ValueError(f"cutmix: beta must be positive, got {beta}")
    b, _, h, w = images.shape
    t = torch.tensor(float(beta))
    lam = float(torch.distributions.Beta(t, t).sample())
    perm = torch.randperm(b).to(images.device)
    y0, y1, x0, x1 = cutmix_box(h, w, lam)
    mixed = images.clone()
    mixed[:, :, y0:y1, x0:x1] = images[perm, :, y0:y1, x0:x1]
    lam = 1.0 - (y1 - y0) * (x1 - x0) / float(h * w)
    return CutMixResult(mixed, labels, labels[perm.to(labels.device)], lam, (y0, y1, x0, x1), perm)


class CutMix(WSOLMethod):
    """CutMix training objective.

    Args:
        beta: Beta distribution parameter (protocol default 1.0; 0 disables mixing).
        prob: probability of mixing a batch (protocol default 1.0).
    """

    name = "cutmix"

    def __init__(self, beta: float = 1.0, prob: float = 1.0) -> None:
        super().__init__()
        if beta < 0:
            raise ValueError(f"CutMix: beta must be >= 0, got {beta}")
        if not (0.0 <= prob <= 1.0):
            raise ValueError(f"CutMix: prob must lie in [0, 1], got {prob}")
        self.beta = float(beta)
        self.prob = float(prob)

    def mix(self, images: Tensor, labels: Tensor) -> CutMixResult:
        """The batch the loss is computed on: mixed with probability ``prob`` in training mode,
        unchanged (``lam = 1``, ``labels_b = labels``) otherwise."""
        if self.training and self.beta > 0 and self.prob > 0 and float(torch.rand(())) < self.prob:
            return cutmix(images, labels, self.beta)
        index = torch.arange(images.shape[0], device=images.device)
        return CutMixResult(images, labels, labels, 1.0, (0, 0, 0, 0), index)

    def training_loss(self, model: MethodHost, images: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
        mixed = self.mix(images, labels)
        logits = model(mixed.images)
        loss = F.cross_entropy(logits, mixed.labels_a)
        if mixed.lam < 1.0:
            loss = mixed.lam * loss + (1.0 - mixed.lam) * F.cross_entropy(logits, mixed.labels_b)
        return loss, logits

    def extra_repr(self) -> str:
        return f"beta={self.beta}, prob={self.prob}"
