"""Pixel average precision (PxAP) of CAMs against ground-truth masks (OpenImages protocol).

Protocol definition (Choe et al., CVPR 2020), as computed here:

1. Score map: the protocol's float64 score map, ``cv2.resize(float64 CAM, INTER_CUBIC)`` bit for
   bit and float64 min-max normalisation (:func:`wsolx.ops.upsample_scoremaps` via
   :func:`wsolx.metrics.scoremap.normalized_scoremaps`; no quantisation).
2. Bin edges: the thresholds ``t_0 < ... < t_{T-1}`` (default ``np.arange(0, 1, 0.001)``)
   followed by ``1, 2, 3``, i.e. ``T + 2`` bins ``[e_i, e_{i+1})`` (the last one closed), as
   ``np.histogram`` defines them. A score of exactly 1 falls in ``[1, 2)``.
3. Two histograms pooled over the whole data set: the scores of ground-truth foreground pixels
   and of ground-truth background pixels. Ignore pixels (ignore mask and not foreground) count in
   neither.
4. Walking the bins from the highest to the lowest: ``TP = cumsum(fg_hist reversed)``,
   ``FP = cumsum(bg_hist reversed)``, ``FN = #fg - TP``; ``precision = TP / (TP + FP)``,
   ``recall = TP / (TP + FN)``; point ``i`` of the curve is the threshold ``e_{T+1-i}``
   ("score >= e").
5. ``PxAP = 100 * sum_i precision[i] * (recall[i] - recall[i - 1])`` over ``i >= 1`` where
   ``TP + FP > 0`` (a point with no positive prediction has no precision and is skipped).

With ``percentile < 100`` (PaS) each score map is divided by its ``percentile``-th value (numpy
linear interpolation) so the thresholds are fractions of that standard value; scores above the
last edge are counted in the last bin. ``percentile=100`` is the protocol (the maximum is 1).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from wsolx.metrics.base import CounterMetric, DeviceLike, as_image_size
from wsolx.metrics.scoremap import normalized_scoremaps
from wsolx.metrics.thresholds import as_thresholds, cam_thresholds

__all__ = ["MaskEvaluator", "pxap_from_histograms"]

MaskInput = Union[Tensor, np.ndarray, Sequence[Union[Tensor, np.ndarray]]]


def _stack_masks(masks: MaskInput, what: str, batch: int, size: Tuple[int, int], device: torch.device) -> Tensor:
    if isinstance(masks, (Tensor, np.ndarray)):
        m = torch.as_tensor(masks)
    else:
        items = [torch.as_tensor(x) for x in masks]
        if not items:
            raise ValueError(f"MaskEvaluator: empty list of {what}")
        shapes = {tuple(x.shape) for x in items}
        if len(shapes) != 1:
            raise ValueError(f"MaskEvaluator: {what} of different shapes {sorted(shapes)}")
        m = torch.stack(items)
    if tuple(m.shape) != (batch, size[0], size[1]):
        raise ValueError(f"MaskEvaluator: expected {what} of shape {(batch, size[0], size[1])}, got {tuple(m.shape)}")
    m = m.to(device)
    return m if m.dtype == torch.bool else m != 0


def _percentile_linear(x: Tensor, q: float) -> Tensor:
    """Per-row ``np.percentile(row, q)`` (linear interpolation) of ``(N, K)`` -> ``(N,)`` float64."""
    s = x.to(torch.float64).sort(dim=1).values
    k = s.size(1)
    pos = q / 100.0 * (k - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, k - 1)
    frac = pos - lo
    return s[:, lo] + (s[:, hi] - s[:, lo]) * frac


def pxap_from_histograms(fg_hist: np.ndarray, bg_hist: np.ndarray) -> Tuple[float, np.ndarray, np.ndarray]:
    """PxAP (%) and the precision / recall curves (from the highest bin down) of two histograms.

    The arithmetic is the protocol's, in numpy float64, so the value matches it bit for bit.

    Raises:
        RuntimeError: no foreground pixel, or no pixel at all.
    """
    fg = np.asarray(fg_hist, dtype=np.float64)
    bg = np.asarray(bg_hist, dtype=np.float64)
    num_fg = fg.sum()
    tp = fg[::-1].cumsum()
    fn = num_fg - tp
    fp = bg[::-1].cumsum()
    if ((tp + fn) <= 0).all():
        raise RuntimeError("MaskEvaluator: no foreground (positive) ground-truth pixel accumulated")
    if ((tp + fp) <= 0).all():
        raise RuntimeError("MaskEvaluator: no scored pixel accumulated")
    defined = (tp + fp) != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / (tp + fp)
        recall = tp / (tp + fn)
    ap = (precision[1:] * np.diff(recall))[defined[1:]].sum() * 100
    return float(ap), precision, recall


class MaskEvaluator(CounterMetric):
    """Accumulates the pixel histograms of PxAP (see the module docstring).

    Args:
        thresholds: left bin edges, strictly increasing in ``[0, 1)`` (default
            ``np.arange(0, 1, 0.001)``, :data:`wsolx.protocol.CAM_CURVE_INTERVAL`); ``1, 2, 3`` are
            appended as in the protocol.
        num_bins: instead of ``thresholds``: ``np.arange(0, 1, 1 / num_bins)`` (1000 is the
            protocol's ``cam_curve_interval = 0.001``).
        image_size: ``(H, W)`` of the masks (network coordinates).
        percentile: 100 (protocol) or the PaS percentile (see the module docstring).
        device: where the counters live (``None``: the device of the first batch).
    """

    def __init__(
        self,
        *,
        thresholds: Optional[Union[Sequence[float], np.ndarray, Tensor]] = None,
        num_bins: Optional[int] = None,
        image_size: Union[int, Tuple[int, int]] = (224, 224),
        percentile: float = 100.0,
        device: DeviceLike = None,
    ) -> None:
        if thresholds is not None and num_bins is not None:
            raise ValueError("MaskEvaluator: give thresholds or num_bins, not both")
        if num_bins is not None:
            if int(num_bins) < 1:
                raise ValueError(f"MaskEvaluator: num_bins must be >= 1, got {num_bins}")
            thresholds = cam_thresholds(1.0 / int(num_bins))
        t = as_thresholds(thresholds, "MaskEvaluator")
        if t[0] < 0.0 or t[-1] >= 1.0:
            raise ValueError(f"MaskEvaluator: thresholds must lie in [0, 1), got [{t[0]}, {t[-1]}]")
        self.thresholds = t
        self.edges = np.append(t, [1.0, 2.0, 3.0])
        self.image_size = as_image_size(image_size)
        self.percentile = float(percentile)
        if not 0.0 <= self.percentile <= 100.0:
            raise ValueError(f"MaskEvaluator: percentile must lie in [0, 100], got {percentile}")
        self._edges_t = torch.from_numpy(self.edges.copy())
        super().__init__(device)

    @property
    def num_bins(self) -> int:
        """Number of histogram bins (``len(thresholds) + 2``)."""
        return len(self.edges) - 1

    def _config(self) -> Dict[str, Any]:
        return {"thresholds": self.thresholds.tolist(), "image_size": self.image_size, "percentile": self.percentile}

    def _zero_counters(self, device: torch.device) -> Dict[str, Tensor]:
        nb = len(self.edges) - 1
        return {
            "fg_hist": torch.zeros(nb, dtype=torch.int64, device=device),
            "bg_hist": torch.zeros(nb, dtype=torch.int64, device=device),
            "num_images": torch.zeros((), dtype=torch.int64, device=device),
        }

    @torch.no_grad()
    def update(self, cams: Tensor, masks: MaskInput, ignore: Optional[MaskInput] = None) -> None:
        """Accumulate a batch.

        Args:
            cams: ``(B, h, w)`` raw CAMs of the ground-truth class.
            masks: ``(B, H, W)`` bool foreground masks (or a list of ``(H, W)``), ``(H, W) = image_size``.
            ignore: ``(B, H, W)`` bool ignore regions (or a list), or ``None``; foreground wins
                over ignore.
        """
        if not isinstance(cams, Tensor) or cams.dim() != 3:
            raise ValueError(f"MaskEvaluator: expected (B, h, w) CAMs, got {getattr(cams, 'shape', type(cams))}")
        b = cams.size(0)
        if b == 0:
            raise ValueError("MaskEvaluator: empty batch")
        device = self._adopt_device(cams)
        fg = _stack_masks(masks, "masks", b, self.image_size, device)
        counted = ~_stack_masks(ignore, "ignore masks", b, self.image_size, device) | fg if ignore is not None else None
        scores = normalized_scoremaps(cams.to(device), self.image_size).flatten(1)  # (B, H * W) float64
        if self.percentile < 100.0:
            std = _percentile_linear(scores, self.percentile)
            scores = torch.where(std[:, None] > 0, scores.to(torch.float64) / std[:, None], scores.to(torch.float64))
            scores = scores.clamp(max=float(self.edges[-1]))
        edges = self._edges_t.to(device)
        nb = len(self.edges) - 1
        # np.histogram: bin i holds e_i <= s < e_{i+1}; the last bin also holds s == e_last.
        idx = torch.bucketize(scores.to(torch.float64), edges, right=True) - 1
        idx = torch.where(scores.to(torch.float64) == edges[-1], torch.full_like(idx, nb - 1), idx)
        in_range = (idx >= 0) & (idx < nb)
        fg = fg.flatten(1)
        pos = in_range & fg
        neg = in_range & ~fg
        if counted is not None:
            neg &= counted.flatten(1)
        self._counters["fg_hist"] += torch.bincount(idx[pos], minlength=nb)
        self._counters["bg_hist"] += torch.bincount(idx[neg], minlength=nb)
        self._counters["num_images"] += b

    def compute(self) -> Dict[str, Any]:
        """``{"PxAP": %, "curve": {"thresholds", "precision", "recall"}, "num_mask_images": n}``.

        The curve runs from the highest threshold down (``thresholds[i]`` is the left edge of the
        bin, i.e. the point counts the pixels scoring ``>=`` it); ``precision`` is ``None`` where
        no pixel scores that high (JSON friendly).

        Raises:
            RuntimeError: nothing accumulated, or no foreground pixel.
        """
        fg = self._counters["fg_hist"].cpu().numpy()
        bg = self._counters["bg_hist"].cpu().numpy()
        n = int(self._counters["num_images"].item())
        if n == 0:
            raise RuntimeError("MaskEvaluator.compute: no image accumulated")
        ap, precision, recall = pxap_from_histograms(fg, bg)
        return {
            "PxAP": ap,
            "curve": {
                "thresholds": self.edges[:-1][::-1].tolist(),
                "precision": [None if np.isnan(v) else float(v) for v in precision],
                "recall": recall.tolist(),
            },
            "num_mask_images": n,
        }
