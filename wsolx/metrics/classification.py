"""Top-k classification accuracy."""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

import torch
from torch import Tensor

from wsolx.metrics.base import CounterMetric, DeviceLike

__all__ = ["ClassificationAccuracy"]


class ClassificationAccuracy(CounterMetric):
    """Top-k classification accuracy (``"Top-1 Cls"`` in %).

    Args:
        topk: the ``k`` values to report (``compute()`` gives ``"Top-{k} Cls"`` for each).
        device: where the counters live (``None``: the device of the first batch).
    """

    def __init__(self, *, topk: Sequence[int] = (1,), device: DeviceLike = None) -> None:
        ks = tuple(int(k) for k in topk)
        if not ks or min(ks) < 1:
            raise ValueError(f"ClassificationAccuracy: topk must be positive integers, got {topk}")
        self.topk: Tuple[int, ...] = ks
        super().__init__(device)

    def _config(self):
        return {"topk": self.topk}

    def _zero_counters(self, device: torch.device) -> Dict[str, Tensor]:
        return {
            "correct": torch.zeros(len(self.topk), dtype=torch.int64, device=device),
            "total": torch.zeros((), dtype=torch.int64, device=device),
        }

    def update(self, logits: Tensor, labels: Tensor) -> None:
        """Accumulate a batch.

        Args:
            logits: ``(B, C)`` class scores, or ``(B,)`` integer predicted labels (top-1 only).
            labels: ``(B,)`` integer ground-truth labels.
        """
        labels = torch.as_tensor(labels)
        if labels.dim() != 1:
            raise ValueError(f"ClassificationAccuracy: labels must be (B,), got shape {tuple(labels.shape)}")
        if labels.numel() == 0:
            raise ValueError("ClassificationAccuracy: empty batch")
        device = self._adopt_device(logits)
        labels = labels.to(device=device, dtype=torch.int64)
        if logits.dim() == 1:
            if logits.is_floating_point():
                raise ValueError("ClassificationAccuracy: 1-D input must hold integer predicted labels")
            if self.topk != (1,):
                raise ValueError("ClassificationAccuracy: top-k with k > 1 needs (B, C) logits")
            if logits.shape[0] != labels.shape[0]:
                raise ValueError(f"ClassificationAccuracy: {logits.shape[0]} predictions for {labels.shape[0]} labels")
            hits = (logits.to(device) == labels).sum()[None]
        else:
            if logits.dim() != 2 or logits.shape[0] != labels.shape[0]:
                raise ValueError(
                    f"ClassificationAccuracy: expected (B, C) logits for {labels.shape[0]} labels, got {tuple(logits.shape)}"
                )
            if max(self.topk) > logits.shape[1]:
                raise ValueError(f"ClassificationAccuracy: top-{max(self.topk)} of {logits.shape[1]} classes")
            logits = logits.to(device)
            pred1 = logits.argmax(1)
            hits_list = []
            for k in self.topk:
                if k == 1:
                    hits_list.append((pred1 == labels).sum())
                else:
                    top = logits.topk(k, dim=1).indices
                    hits_list.append((top == labels[:, None]).any(1).sum())
            hits = torch.stack(hits_list)
        self._counters["correct"] += hits.to(torch.int64)
        self._counters["total"] += labels.numel()

    def compute(self) -> Dict[str, float]:
        """``{"Top-1 Cls": %, ...}``; raises ``RuntimeError`` when nothing was accumulated."""
        total = int(self._counters["total"].item())
        if total == 0:
            raise RuntimeError("ClassificationAccuracy.compute: no sample accumulated")
        correct = self._counters["correct"].cpu().tolist()
        return {f"Top-{k} Cls": c * 100.0 / total for k, c in zip(self.topk, correct)}
