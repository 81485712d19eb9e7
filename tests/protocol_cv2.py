"""Independent OpenCV implementation of the WSOL box protocol (tests only).

Written straight from the logic of the reference evaluation code (wsolevaluation, Choe et al.):
numpy float32 min-max normalisation, ``uint8`` quantisation, a standard value (max or numpy
percentile), ``cv2.threshold`` with an integer threshold, ``cv2.findContours(RETR_TREE)`` and
``cv2.boundingRect``. The score maps are taken as already upsampled to the image size.
"""

from __future__ import annotations

from typing import List, Sequence

import cv2
import numpy as np

__all__ = ["normalize_scoremap", "quantize", "standard_value", "protocol_boxes", "protocol_boxes_batch"]

Box = List[int]


def normalize_scoremap(scoremap: np.ndarray) -> np.ndarray:
    """Min-max normalise a ``(H, W)`` map in float32; constant / non-finite maps give zeros."""
    cam = np.array(scoremap, dtype=np.float32, copy=True)
    if not np.isfinite(cam).all():
        return np.zeros_like(cam)
    if cam.min() == cam.max():
        return np.zeros_like(cam)
    cam = cam - cam.min()
    cam = cam / cam.max()
    return cam


def quantize(scoremap: np.ndarray) -> np.ndarray:
    """``(H, W)`` raw map -> ``(H, W)`` uint8 ``floor(normalised * 255)``."""
    return (normalize_scoremap(scoremap) * 255).astype(np.uint8)


def standard_value(q: np.ndarray, percentile: float = 100.0) -> float:
    """Max of ``q`` (``percentile >= 100``) or ``np.percentile(q, percentile)`` (linear)."""
    if percentile >= 100:
        return float(np.max(q))
    return float(np.percentile(q, percentile))


def protocol_boxes(
    scoremap: np.ndarray, thresholds: Sequence[float], percentile: float = 100.0, multi_box: bool = False
) -> List[List[Box]]:
    """Boxes of one ``(H, W)`` score map at every threshold.

    Returns:
        One list per threshold of ``[x0, y0, x1, y1]`` boxes: exactly one box in single mode, every
        contour's box (outer and hole contours, cv2 order) in multi mode; ``[[0, 0, 0, 0]]`` when
        the mask has no contour.
    """
    q = quantize(scoremap)
    height, width = q.shape
    standard = standard_value(q, percentile)
    out: List[List[Box]] = []
    for t in thresholds:
        _, mask = cv2.threshold(q, int(float(t) * standard), 255, cv2.THRESH_BINARY)
        contours, _ = cv2.findContours(mask, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
        if len(contours) == 0:
            out.append([[0, 0, 0, 0]])
            continue
        if not multi_box:
            contours = [max(contours, key=cv2.contourArea)]
        boxes: List[Box] = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            boxes.append([int(x), int(y), int(min(x + w, width - 1)), int(min(y + h, height - 1))])
        out.append(boxes)
    return out


def protocol_boxes_batch(scoremaps: np.ndarray, thresholds: Sequence[float], percentile: float = 100.0) -> np.ndarray:
    """Single-box protocol on ``(N, H, W)`` maps -> ``(N, T, 4)`` int64 boxes."""
    maps = np.asarray(scoremaps)
    if maps.ndim != 3:
        raise ValueError(f"protocol_boxes_batch: expected (N, H, W) maps, got shape {maps.shape}")
    out = np.zeros((maps.shape[0], len(thresholds), 4), dtype=np.int64)
    for i in range(maps.shape[0]):
        boxes = protocol_boxes(maps[i], thresholds, percentile, multi_box=False)
        out[i] = np.asarray([b[0] for b in boxes], dtype=np.int64).reshape(len(thresholds), 4)
    return out
