"""The paper's fixed-threshold localisation accuracy (GT-known Loc, Top-1 Loc) with its box rule.

Bae et al.'s released evaluation takes, per image, the largest contour's box at one CAM threshold
(0.2 of the maximum, or 0.35 of the 90th percentile with PaS) with the *paper* box rule
(:mod:`wsolx.metrics.box_rule`: far corner not clamped, no contour -> the whole image) and counts
IoU >= 0.5 against the ground truth (in the paper geometry, :mod:`wsolx.data.geometry`). Here the
IoU is :func:`wsolx.metrics.iou.box_iou` (+1 convention, best over the image's GT boxes).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import Tensor

from wsolx.metrics.base import CounterMetric, DeviceLike, as_image_size
from wsolx.metrics.box import GTBoxes, pad_gt_boxes
from wsolx.metrics.box_rule import cam_boxes_by_rule
from wsolx.metrics.iou import box_iou

__all__ = ["PaperFixedLocalization"]


class PaperFixedLocalization(CounterMetric):
    """Counts GT-known / Top-1 localisation at one threshold with the paper's box rule.

    Args:
        threshold: CAM threshold (fraction of the standard value).
        percentile: 100 (max) or the PaS percentile.
        image_size: ``(H, W)`` of the boxes (network coordinates).
        iou_threshold: IoU needed (the paper: 0.5).
        device: where the counters live.
    """

    def __init__(
        self,
        *,
        threshold: float,
        percentile: float = 100.0,
        image_size: Union[int, Tuple[int, int]] = (224, 224),
        iou_threshold: float = 0.5,
        device: DeviceLike = None,
    ) -> None:
        self.threshold = float(threshold)
        self.percentile = float(percentile)
        self.image_size = as_image_size(image_size)
        self.iou_threshold = float(iou_threshold)
        super().__init__(device)

    def _config(self) -> Dict[str, Any]:
        return {
            "threshold": self.threshold,
            "percentile": self.percentile,
            "image_size": self.image_size,
            "iou_threshold": self.iou_threshold,
        }

    def _zero_counters(self, device: torch.device) -> Dict[str, Tensor]:
        z = lambda: torch.zeros((), dtype=torch.int64, device=device)  # noqa: E731
        return {"gt_known": z(), "top1": z(), "num_labelled": z(), "num_images": z()}

    @torch.no_grad()
    def update(
        self,
        cams: Tensor,
        gt_boxes: GTBoxes,
        gt_counts: Optional[Tensor] = None,
        *,
        gt_labels: Optional[Tensor] = None,
        pred_labels: Optional[Tensor] = None,
    ) -> None:
        """Accumulate ``(B, h, w)`` raw CAMs against their GT boxes (as :class:`BoxEvaluator`)."""
        if cams.dim() != 3 or cams.size(0) == 0:
            raise ValueError(f"PaperFixedLocalization: expected non-empty (B, h, w) CAMs, got {tuple(cams.shape)}")
        device = self._adopt_device(cams)
        b = cams.size(0)
        gt, valid = pad_gt_boxes(gt_boxes, gt_counts, b, device)
        boxes = cam_boxes_by_rule(
            cams.to(device), [self.threshold], box_rule="paper", image_size=self.image_size, percentile=self.percentile
        )[:, 0]
        iou = box_iou(boxes[:, None, :].to(device), gt).masked_fill(~valid, -1.0).amax(1)
        ok = iou >= self.iou_threshold
        self._counters["gt_known"] += ok.sum()
        if pred_labels is not None:
            if gt_labels is None:
                raise ValueError("PaperFixedLocalization: pred_labels needs gt_labels")
            correct = torch.as_tensor(pred_labels).to(device) == torch.as_tensor(gt_labels).to(device)
            self._counters["top1"] += (ok & correct).sum()
            self._counters["num_labelled"] += b
        self._counters["num_images"] += b

    def compute(self) -> Dict[str, Any]:
        """``{"GT-known Loc", "Top-1 Loc"}`` in percent (``Top-1 Loc`` ``None`` without labels)."""
        c = {k: int(v) for k, v in self._counters.items()}
        if c["num_images"] == 0:
            raise RuntimeError("PaperFixedLocalization.compute: no image accumulated")
        m = c["num_labelled"]
        return {
            "GT-known Loc": c["gt_known"] * 100.0 / c["num_images"],
            "Top-1 Loc": c["top1"] * 100.0 / m if m else None,
        }
