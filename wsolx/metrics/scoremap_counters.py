"""Metric counters over protocol score maps (already upsampled and in ``[0, 1]``), as the official
standalone evaluator scores saved maps: no min-max normalisation of its own.

:class:`ScoremapBoxCounter` is :class:`wsolx.metrics.BoxEvaluator`'s arithmetic (same counters,
same float64 ``counts * 100. / n``, first argmax) on score maps, plus Top-5 Loc / Cls;
:class:`ScoremapPixelCounter` is :class:`wsolx.metrics.MaskEvaluator`'s PxAP histogram on score
maps. Boxes come from :func:`wsolx.ops.cam_boxes` with ``normalize=False``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from wsolx.metrics.base import CounterMetric, DeviceLike
from wsolx.metrics.iou import box_iou
from wsolx.metrics.mask import pxap_from_histograms

__all__ = ["ScoremapBoxCounter", "ScoremapPixelCounter", "largest_and_all_boxes"]

V1_IOU_THRESHOLD = 0.5


def largest_and_all_boxes(
    maps: Tensor,
    thresholds: Tensor,
    *,
    image_size: Tuple[int, int],
    normalize: bool,
    percentile: float,
    multi_box: bool,
) -> Tuple[Tensor, Optional[Tuple[Tensor, Tensor]]]:
    """Largest box ``(N, T, 4)`` and, with ``multi_box``, ``(boxes (M, 4), counts (N, T))`` of every
    contour. ``maps``: raw CAMs (``normalize=True``: upsampled and normalised in the box op) or
    ``(N, H, W)`` score maps in ``[0, 1]`` used as they are (``normalize=False``)."""
    from wsolx.ops import cam_boxes, cam_boxes_both

    kw = dict(image_size=image_size, percentile=percentile, normalize=normalize)
    if multi_box:
        largest, multi = cam_boxes_both(maps, thresholds, **kw)
        return largest, (multi.boxes, multi.counts)
    return cam_boxes(maps, thresholds, **kw), None


class ScoremapBoxCounter(CounterMetric):
    """MaxBoxAcc, MaxBoxAccV2, GT-known / Top-1 / Top-5 Loc of score maps.

    Args:
        thresholds: the sweep (strictly increasing float64).
        iou_thresholds: the deltas of MaxBoxAccV2 (fractions, e.g. ``(0.3, 0.5, 0.7)``).
        multi_box: the per-delta curves use every contour's box (MaxBoxAccV2) or the largest.
        percentile: standard value (100: max; PaS otherwise).
        fixed_threshold: threshold of GT-known / Top-k Loc (largest box, IoU >= 0.5).
        device: where the counters live.
    """

    def __init__(
        self,
        *,
        thresholds: np.ndarray,
        iou_thresholds: Sequence[float],
        multi_box: bool,
        percentile: float,
        fixed_threshold: float,
        device: DeviceLike = None,
    ) -> None:
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.iou_thresholds = tuple(float(d) for d in iou_thresholds)
        self.multi_box = bool(multi_box)
        self.percentile = float(percentile)
        self.fixed_threshold = float(fixed_threshold)
        self._all = torch.from_numpy(np.append(self.thresholds, self.fixed_threshold))
        super().__init__(device)

    def _config(self) -> Dict[str, Any]:
        return {
            "thresholds": self.thresholds.tolist(),
            "iou_thresholds": self.iou_thresholds,
            "multi_box": self.multi_box,
            "percentile": self.percentile,
            "fixed_threshold": self.fixed_threshold,
        }

    def _zero_counters(self, device: torch.device) -> Dict[str, Tensor]:
        t, d = len(self.thresholds), len(self.iou_thresholds)
        z = lambda *shape: torch.zeros(shape, dtype=torch.int64, device=device)  # noqa: E731
        return {
            "v2_correct": z(d, t),
            "v1_correct": z(t),
            "gt_known": z(),
            "top1_loc": z(),
            "top5_loc": z(),
            "top1_cls": z(),
            "top5_cls": z(),
            "num_labelled": z(),
            "num_images": z(),
        }

    @torch.no_grad()
    def update(
        self,
        scoremaps: Tensor,
        gt_boxes: Tensor,
        gt_valid: Tensor,
        *,
        image_size: Optional[Tuple[int, int]] = None,
        normalize: bool = False,
        labels: Optional[Tensor] = None,
        predictions: Optional[Tensor] = None,
    ) -> None:
        """Accumulate a batch.

        Args:
            scoremaps: ``(B, H, W)`` float64 score maps in ``[0, 1]`` (image frame), or with
                ``normalize`` raw ``(B, h, w)`` CAMs (the box op upsamples and normalises them).
            gt_boxes: ``(B, G, 4)`` ground truth in the image frame; ``gt_valid`` ``(B, G)`` bool.
            image_size: ``(H, W)`` of the image frame (default: the maps' size).
            normalize: the maps are raw CAMs (see ``scoremaps``).
            labels: ``(B,)`` ground-truth classes (with ``predictions``).
            predictions: ``(B, K)`` predicted classes, best first, ``-1`` padding.
        """
        device = self._adopt_device(scoremaps)
        b, t = scoremaps.size(0), len(self.thresholds)
        gt, valid = gt_boxes.to(device), gt_valid.to(device)
        size = image_size if image_size is not None else (int(scoremaps.size(1)), int(scoremaps.size(2)))
        largest, multi = largest_and_all_boxes(
            scoremaps,
            self._all,
            image_size=size,
            normalize=normalize,
            percentile=self.percentile,
            multi_box=self.multi_box,
        )
        iou = box_iou(largest.to(device)[:, :, None, :], gt[:, None, :, :])  # (B, T + 1, G)
        score1 = iou.masked_fill(~valid[:, None, :], -1.0).amax(2)
        self._counters["v1_correct"] += (score1[:, :t] >= V1_IOU_THRESHOLD).sum(0)
        fixed_ok = score1[:, t] >= V1_IOU_THRESHOLD
        self._counters["gt_known"] += fixed_ok.sum()
        if multi is not None:
            boxes, counts = multi[0].to(device), multi[1].to(device)
            flat = counts.flatten()
            group = torch.repeat_interleave(torch.arange(flat.numel(), device=device), flat)  # n * (T + 1) + j
            owner = torch.div(group, t + 1, rounding_mode="floor")
            iou_m = box_iou(boxes[:, None, :], gt[owner]).masked_fill(~valid[owner], -1.0).amax(1)
            score2 = torch.full((b * (t + 1),), -1.0, dtype=iou_m.dtype, device=device)
            score2 = score2.scatter_reduce(0, group, iou_m, reduce="amax", include_self=True).view(b, t + 1)[:, :t]
        else:
            score2 = score1[:, :t]
        deltas = torch.tensor(self.iou_thresholds, dtype=score2.dtype, device=device)
        self._counters["v2_correct"] += (score2[None] >= deltas[:, None, None]).sum(1)
        if predictions is not None:
            lab = labels.to(device=device, dtype=torch.int64)[:, None]
            pred = predictions.to(device=device, dtype=torch.int64)
            top1 = pred[:, 0:1].eq(lab).any(1)
            top5 = pred[:, :5].eq(lab).any(1)
            self._counters["top1_cls"] += top1.sum()
            self._counters["top5_cls"] += top5.sum()
            self._counters["top1_loc"] += (top1 & fixed_ok).sum()
            self._counters["top5_loc"] += (top5 & fixed_ok).sum()
            self._counters["num_labelled"] += b
        self._counters["num_images"] += b

    def compute(self) -> Dict[str, Any]:
        """Metrics in % with :class:`wsolx.metrics.BoxEvaluator`'s keys, plus ``Top-5 Loc`` / ``Top-5 Cls``."""
        c = {k: v.cpu().numpy() for k, v in self._counters.items()}
        n = int(c["num_images"])
        if n == 0:
            raise RuntimeError("ScoremapBoxCounter.compute: no image accumulated")
        out: Dict[str, Any] = {}
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
        out["GT-known Loc"] = float(c["gt_known"]) * 100.0 / n
        m = int(c["num_labelled"])
        for key, counter in (
            ("Top-1 Loc", "top1_loc"),
            ("Top-5 Loc", "top5_loc"),
            ("Top-1 Cls", "top1_cls"),
            ("Top-5 Cls", "top5_cls"),
        ):
            out[key] = float(c[counter]) * 100.0 / m if m else None
        out["num_images"] = n
        return out


class ScoremapPixelCounter(CounterMetric):
    """PxAP histograms of score maps used as they are (bins ``[t_i, t_{i+1})`` then ``[1, 2)``,
    ``[2, 3]``, as ``np.histogram`` with the protocol's edges); ignore pixels count in neither."""

    def __init__(self, *, thresholds: np.ndarray, device: DeviceLike = None) -> None:
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.edges = np.append(self.thresholds, [1.0, 2.0, 3.0])
        self._edges_t = torch.from_numpy(self.edges.copy())
        super().__init__(device)

    def _config(self) -> Dict[str, Any]:
        return {"thresholds": self.thresholds.tolist()}

    def _zero_counters(self, device: torch.device) -> Dict[str, Tensor]:
        nb = len(self.edges) - 1
        return {
            "fg_hist": torch.zeros(nb, dtype=torch.int64, device=device),
            "bg_hist": torch.zeros(nb, dtype=torch.int64, device=device),
            "num_images": torch.zeros((), dtype=torch.int64, device=device),
        }

    @torch.no_grad()
    def update(self, scoremaps: Tensor, masks: Tensor, ignore: Tensor) -> None:
        """``scoremaps (B, H, W)`` float64, ``masks`` / ``ignore`` ``(B, H, W)`` bool (foreground wins)."""
        device = self._adopt_device(scoremaps)
        s = scoremaps.to(torch.float64).flatten(1)
        edges = self._edges_t.to(device)
        nb = len(self.edges) - 1
        idx = torch.bucketize(s, edges, right=True) - 1
        idx = torch.where(s == edges[-1], torch.full_like(idx, nb - 1), idx)
        in_range = (idx >= 0) & (idx < nb)
        fg = masks.to(device).flatten(1)
        counted = ~ignore.to(device).flatten(1) | fg
        self._counters["fg_hist"] += torch.bincount(idx[in_range & fg], minlength=nb)
        self._counters["bg_hist"] += torch.bincount(idx[in_range & ~fg & counted], minlength=nb)
        self._counters["num_images"] += s.size(0)

    def compute(self) -> Dict[str, Any]:
        """``{"PxAP": %, "pxap_curve": {...}, "num_mask_images": n}`` (as :class:`MaskEvaluator`)."""
        n = int(self._counters["num_images"].item())
        if n == 0:
            raise RuntimeError("ScoremapPixelCounter.compute: no image accumulated")
        ap, precision, recall = pxap_from_histograms(
            self._counters["fg_hist"].cpu().numpy(), self._counters["bg_hist"].cpu().numpy()
        )
        curve = {
            "thresholds": self.edges[:-1][::-1].tolist(),
            "precision": [None if np.isnan(v) else float(v) for v in precision],
            "recall": recall.tolist(),
        }
        return {"PxAP": ap, "pxap_curve": curve, "num_mask_images": n}
