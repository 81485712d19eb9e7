"""Seeding: one call seeds Python, NumPy and torch (CPU and CUDA)."""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["seed_everything", "epoch_seed"]


def seed_everything(seed: int) -> None:
    """Seed ``random``, NumPy and torch (all devices) with ``seed``."""
    seed = int(seed) % (2**32)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of one epoch on one rank.

    Reseeding at the start of every epoch makes an epoch's randomness (augmentation, dropout,
    method-specific erasing, DataLoader worker seeds) depend only on ``(seed, epoch, rank)``, so a
    run resumed at an epoch boundary reproduces an uninterrupted one exactly.
    """
    return (int(seed) * 1_000_003 + int(epoch) * 10_007 + int(rank) * 101) % (2**32)
