"""Box localisation metrics: MaxBoxAcc (V1), MaxBoxAccV2, GT-known Loc and Top-1 Loc.

Definitions (docs/semantics.md §5, protocol of Choe et al. CVPR 2020, Bae et al. ECCV 2020):

* IoU with inclusive ends: ``area = (x1 - x0 + 1) * (y1 - y0 + 1)`` (:mod:`wsolx.metrics.iou`).
* Boxes of a CAM at each threshold ``t`` of the sweep (default ``np.arange(0, 1, 0.001)``):
  :func:`wsolx.ops.cam_boxes` (``percentile`` 100: max, or PaS); with ``multi_box`` the largest
  and every contour's boxes come from one pass per map (:func:`wsolx.ops.cam_boxes_both`).
* Per image and threshold, the *score* is the best IoU over (predicted boxes) x (GT boxes).
  V1 uses the largest box only; V2 (``multi_box=True``) every contour's box.
* ``BoxAcc(t, delta)`` = % of images whose score at ``t`` is ``>= delta``.
  ``MaxBoxAcc = max_t BoxAcc(t, 0.5)`` with the largest box;
  ``MaxBoxAccV2 = mean over delta in {0.3, 0.5, 0.7} of max_t BoxAcc(t, delta)`` (best threshold
  chosen per delta).
* Fixed threshold (paper: 0.2 for CAM, 0.35 for PaS), largest box, IoU >= 0.5:
  ``GT-known Loc`` = % of images localised; ``Top-1 Loc`` = % localised AND top-1 correct.

The state is integer counters (per threshold and delta), so sharded accumulation followed by
:meth:`~wsolx.metrics.base.CounterMetric.merge` or :meth:`all_reduce` equals one accumulation.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from wsolx import protocol
from wsolx.metrics.base import CounterMetric, DeviceLike, as_image_size
from wsolx.metrics.iou import box_iou
from wsolx.metrics.thresholds import as_thresholds
from wsolx.ops.boxes import cam_boxes, cam_boxes_both

__all__ = ["BoxEvaluator", "pad_gt_boxes"]

GTBoxes = Union[Tensor, Sequence[Tensor], Tuple[Tensor, Tensor]]

V1_IOU_THRESHOLD = 0.5


def pad_gt_boxes(
    gt_boxes: GTBoxes, gt_counts: Optional[Tensor], batch: int, device: torch.device
) -> Tuple[Tensor, Tensor]:
    """Bring ground-truth boxes to a padded form.

    Args:
        gt_boxes: a list of ``B`` ``(G_i, 4)`` tensors; or a padded ``(B, G, 4)`` tensor (with
            ``gt_counts (B,)``, or all ``G`` rows valid); or a ``(B, 4)`` tensor (one box each);
            or a tuple ``(padded, counts)``.
        gt_counts: ``(B,)`` number of valid rows of a padded tensor.
        batch: expected ``B``.

    Returns:
        ``boxes (B, G, 4)`` float64 and ``valid (B, G)`` bool on ``device``.
    """
    if (
        isinstance(gt_boxes, tuple)
        and len(gt_boxes) == 2
        and isinstance(gt_boxes[0], Tensor)
        and gt_boxes[0].dim() == 3
    ):
        if gt_counts is not None:
            raise ValueError("BoxEvaluator: counts given twice (in the tuple and as gt_counts)")
        gt_boxes, gt_counts = gt_boxes
    if isinstance(gt_boxes, Tensor):
        boxes = gt_boxes.to(device=device, dtype=torch.float64)
        if boxes.dim() == 2:
            boxes = boxes[:, None, :]
        if boxes.dim() != 3 or boxes.size(-1) != 4:
            raise ValueError(f"BoxEvaluator: expected (B, G, 4) or (B, 4) GT boxes, got shape {tuple(gt_boxes.shape)}")
        if boxes.size(0) != batch:
            raise ValueError(f"BoxEvaluator: {boxes.size(0)} GT box sets for {batch} CAMs")
        g = boxes.size(1)
        if gt_counts is None:
            counts = torch.full((batch,), g, dtype=torch.int64, device=device)
        else:
            counts = torch.as_tensor(gt_counts).to(device=device, dtype=torch.int64)
            if tuple(counts.shape) != (batch,):
                raise ValueError(f"BoxEvaluator: gt_counts must be ({batch},), got shape {tuple(counts.shape)}")
            if bool((counts > g).any()):
                raise ValueError(f"BoxEvaluator: gt_counts exceed the padded size {g}")
        valid = torch.arange(g, device=device)[None, :] < counts[:, None]
    else:
        if gt_counts is not None:
            raise ValueError("BoxEvaluator: gt_counts only goes with a padded (B, G, 4) tensor")
        items = list(gt_boxes)
        if len(items) != batch:
            raise ValueError(f"BoxEvaluator: {len(items)} GT box sets for {batch} CAMs")
        items = [_as_box_set(b, device) for b in items]
        g = max(b.shape[0] for b in items)
        boxes = torch.zeros((batch, max(g, 1), 4), dtype=torch.float64, device=device)
        valid = torch.zeros((batch, max(g, 1)), dtype=torch.bool, device=device)
        for i, b in enumerate(items):
            boxes[i, : b.shape[0]] = b
            valid[i, : b.shape[0]] = True
        counts = valid.sum(1)
    if bool((counts < 1).any()):
        k = int(torch.nonzero(counts < 1)[0, 0])
        raise ValueError(f"BoxEvaluator: image {k} of the batch has no ground-truth box")
    if not bool(torch.isfinite(boxes[valid]).all()):
        raise ValueError("BoxEvaluator: non-finite ground-truth boxes")
    return boxes, valid


def _as_box_set(b: Any, device: torch.device) -> Tensor:
    t = torch.as_tensor(b)
    if t.dim() == 1 and t.numel() == 4:
        t = t[None]
    if t.dim() != 2 or t.size(-1) != 4:
        raise ValueError(f"BoxEvaluator: each GT box set must be (G, 4), got shape {tuple(t.shape)}")
    return t.to(device=device, dtype=torch.float64)


class BoxEvaluator(CounterMetric):
    """Accumulates MaxBoxAcc, MaxBoxAccV2 and fixed-threshold localisation over batches of CAMs.

    Args:
        thresholds: CAM thresholds of the sweep, fractions of the standard value
            (default ``np.arange(0, 1, 0.001)``; must be strictly increasing).
        iou_thresholds: the IoU deltas of MaxBoxAccV2 (protocol: 0.3, 0.5, 0.7).
        image_size: ``(H, W)`` frame of the CAM boxes and the GT boxes (network coordinates).
        percentile: standard value of :func:`~wsolx.ops.cam_boxes`: 100 (max) or e.g. 90 (PaS).
        fixed_threshold: threshold of ``GT-known Loc`` / ``Top-1 Loc`` (0.2 CAM, 0.35 PaS).
        multi_box: MaxBoxAccV2 with every contour's box (protocol); ``False`` uses the largest.
        device: where the counters live (``None``: the device of the first batch).
    """

    def __init__(
        self,
        *,
        thresholds: Optional[Union[Sequence[float], np.ndarray, Tensor]] = None,
        iou_thresholds: Sequence[float] = protocol.IOU_THRESHOLDS,
        image_size: Union[int, Tuple[int, int]] = (224, 224),
        percentile: float = 100.0,
        fixed_threshold: float = protocol.CAM_THRESHOLD,
        multi_box: bool = protocol.MULTI_CONTOUR,
        device: DeviceLike = None,
    ) -> None:
        self.thresholds = as_thresholds(thresholds, "BoxEvaluator")
        deltas = tuple(float(d) for d in iou_thresholds)
        if not deltas or not all(0.0 < d <= 1.0 for d in deltas):
            raise ValueError(f"BoxEvaluator: iou_thresholds must be a non-empty list in (0, 1], got {iou_thresholds}")
        if len(set(deltas)) != len(deltas):
            raise ValueError(f"BoxEvaluator: duplicate iou_thresholds {iou_thresholds}")
        self.iou_thresholds = deltas
        self.image_size = as_image_size(image_size)
        self.percentile = float(percentile)
        if not 0.0 <= self.percentile <= 100.0:
            raise ValueError(f"BoxEvaluator: percentile must lie in [0, 100], got {percentile}")
        self.fixed_threshold = float(fixed_threshold)
        if not np.isfinite(self.fixed_threshold):
            raise ValueError(f"BoxEvaluator: fixed_threshold must be finite, got {fixed_threshold}")
        self.multi_box = bool(multi_box)
        # Sweep + the fixed threshold, for the single (largest) box pass.
        self._single_thresholds = torch.from_numpy(np.append(self.thresholds, self.fixed_threshold))
        super().__init__(device)

    def _config(self) -> Dict[str, Any]:
        return {
            "thresholds": self.thresholds.tolist(),
            "iou_thresholds": self.iou_thresholds,
            "image_size": self.image_size,
            "percentile": self.percentile,
            "fixed_threshold": self.fixed_threshold,
            "multi_box": self.multi_box,
        }

    def _zero_counters(self, device: torch.device) -> Dict[str, Tensor]:
        t, d = len(self.thresholds), len(self.iou_thresholds)
        z = lambda *shape: torch.zeros(shape, dtype=torch.int64, device=device)  # noqa: E731
        return {
            "v2_correct": z(d, t),  # images with multi-box score >= delta, per (delta, threshold)
            "v1_correct": z(t),  # images with largest-box score >= 0.5, per threshold
            "fixed_gt_known": z(),  # largest box at the fixed threshold, IoU >= 0.5
            "fixed_top1": z(),  # ... and top-1 correct
            "cls_correct": z(),  # top-1 correct (images with predictions)
            "num_labelled": z(),  # images given with pred_labels and gt_labels
            "num_images": z(),
        }

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
        """Accumulate a batch.

        Args:
            cams: ``(B, h, w)`` raw CAMs of the ground-truth class (upsampled to ``image_size``
                bicubically inside, unless already that size).
            gt_boxes: list of ``B`` ``(G_i, 4)`` tensors, or padded ``(B, G, 4)`` (+ ``gt_counts``),
                in ``image_size`` coordinates (``[x0, y0, x1, y1]``, inclusive ends).
            gt_counts: ``(B,)`` valid rows of a padded ``gt_boxes``.
            gt_labels: ``(B,)`` ground-truth classes; needed with ``pred_labels``.
            pred_labels: ``(B,)`` top-1 predicted classes, for ``Top-1 Loc`` / ``Top-1 Cls``.
        """
        if not isinstance(cams, Tensor) or cams.dim() != 3:
            raise ValueError(f"BoxEvaluator: expected (B, h, w) CAMs, got {getattr(cams, 'shape', type(cams))}")
        b = cams.size(0)
        if b == 0:
            raise ValueError("BoxEvaluator: empty batch")
        device = self._adopt_device(cams)
        cams = cams.to(device)
        gt, valid = pad_gt_boxes(gt_boxes, gt_counts, b, device)
        correct: Optional[Tensor] = None
        if pred_labels is not None:
            if gt_labels is None:
                raise ValueError("BoxEvaluator: pred_labels needs gt_labels")
            pred = torch.as_tensor(pred_labels).to(device)
            lab = torch.as_tensor(gt_labels).to(device)
            if tuple(pred.shape) != (b,) or tuple(lab.shape) != (b,):
                raise ValueError(
                    f"BoxEvaluator: pred_labels and gt_labels must be ({b},) class indices, got "
                    f"{tuple(pred.shape)} and {tuple(lab.shape)} (pass logits.argmax(1), not logits)"
                )
            correct = pred.to(torch.int64) == lab.to(torch.int64)
        t = len(self.thresholds)

        # Largest box at every threshold of the sweep and at the fixed threshold: (B, T + 1, 4);
        # with multi_box every contour's boxes too, from the same pass over each map.
        mb = None
        if self.multi_box:
            single, mb = cam_boxes_both(
                cams, self._single_thresholds, image_size=self.image_size, percentile=self.percentile
            )
        else:
            single = cam_boxes(cams, self._single_thresholds, image_size=self.image_size, percentile=self.percentile)
        iou = box_iou(single[:, :, None, :], gt[:, None, :, :])  # (B, T + 1, G)
        score1 = iou.masked_fill(~valid[:, None, :], -1.0).amax(2)  # (B, T + 1)
        self._counters["v1_correct"] += (score1[:, :t] >= V1_IOU_THRESHOLD).sum(0)
        fixed_ok = score1[:, t] >= V1_IOU_THRESHOLD
        self._counters["fixed_gt_known"] += fixed_ok.sum()

        if mb is not None:
            group = mb.group_index().to(device)  # (M,) = n * (T + 1) + j
            owner = torch.div(group, t + 1, rounding_mode="floor")
            j = group - owner * (t + 1)
            keep = j < t  # the sweep; j == T is the fixed threshold
            owner, flat, boxes = owner[keep], owner[keep] * t + j[keep], mb.boxes.to(device)[keep]
            iou_m = box_iou(boxes[:, None, :], gt[owner])  # (M', G)
            iou_m = iou_m.masked_fill(~valid[owner], -1.0).amax(1)
            score2 = torch.full((b * t,), -1.0, dtype=iou_m.dtype, device=device)
            score2 = score2.scatter_reduce(0, flat, iou_m, reduce="amax", include_self=True).view(b, t)
        else:
            score2 = score1[:, :t]
        deltas = torch.tensor(self.iou_thresholds, dtype=score2.dtype, device=device)
        self._counters["v2_correct"] += (score2[None, :, :] >= deltas[:, None, None]).sum(1)

        if correct is not None:
            self._counters["cls_correct"] += correct.sum()
            self._counters["fixed_top1"] += (correct & fixed_ok).sum()
            self._counters["num_labelled"] += b
        self._counters["num_images"] += b

    def compute(self) -> Dict[str, Any]:
        """The metrics in % (floats), from the counters.

        Keys: ``MaxBoxAcc`` (V1), ``best_threshold`` (V1), ``box_acc_curve_v1`` (list per
        threshold), ``MaxBoxAccV2``, ``MaxBoxAccV2@<delta>``, ``best_threshold@<delta>``,
        ``box_acc_curve`` (``{delta: list per threshold}``), ``GT-known Loc``, ``Top-1 Loc`` and
        ``Top-1 Cls`` (``None`` when no ``pred_labels`` were given), ``thresholds``,
        ``fixed_threshold``, ``percentile``, ``multi_box``, ``num_images``.

        Raises:
            RuntimeError: nothing accumulated.
        """
        c = {k: v.cpu().numpy() for k, v in self._counters.items()}
        n = int(c["num_images"])
        if n == 0:
            raise RuntimeError("BoxEvaluator.compute: no image accumulated")
        out: Dict[str, Any] = {}
        # As the protocol: counts * 100. / float(count) in float64, max, first argmax.
        v1 = c["v1_correct"].astype(np.float64) * 100.0 / float(n)
        out["MaxBoxAcc"] = float(v1.max())
        out["best_threshold"] = float(self.thresholds[int(v1.argmax())])
        out["box_acc_curve_v1"] = v1.tolist()
        maxima: List[float] = []
        curves: Dict[float, List[float]] = {}
        for i, delta in enumerate(self.iou_thresholds):
            acc = c["v2_correct"][i].astype(np.float64) * 100.0 / float(n)
            maxima.append(float(acc.max()))
            out[f"MaxBoxAccV2@{delta:g}"] = float(acc.max())
            out[f"best_threshold@{delta:g}"] = float(self.thresholds[int(acc.argmax())])
            curves[delta] = acc.tolist()
        out["MaxBoxAccV2"] = float(np.average(maxima))
        out["box_acc_curve"] = curves
        out["GT-known Loc"] = float(c["fixed_gt_known"]) * 100.0 / n
        m = int(c["num_labelled"])
        out["Top-1 Loc"] = float(c["fixed_top1"]) * 100.0 / m if m else None
        out["Top-1 Cls"] = float(c["cls_correct"]) * 100.0 / m if m else None
        out["thresholds"] = self.thresholds.tolist()
        out["fixed_threshold"] = self.fixed_threshold
        out["percentile"] = self.percentile
        out["multi_box"] = self.multi_box
        out["num_images"] = n
        return out
