"""Independent OpenCV implementation of the WSOL box protocol (tests only).

Written straight from the logic of the reference evaluation code (wsolevaluation, Choe et al.):
the raw CAM cast to float64 and resized with ``cv2.resize(..., INTER_CUBIC)`` (its inference),
numpy float64 min-max normalisation, ``uint8`` quantisation, a standard value (max or numpy
percentile), ``cv2.threshold`` with an integer threshold, ``cv2.findContours(RETR_TREE)`` and
``cv2.boundingRect``. ``protocol_boxes`` takes maps already at the image size;
``protocol_cam_boxes`` runs the whole pipeline from a raw CAM. ``box_rule="paper"`` is the box
rule of the rethinkingCAM code (far corner not clamped, no contour -> the whole image).
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    "normalize_scoremap",
    "quantize",
    "standard_value",
    "protocol_boxes",
    "protocol_boxes_batch",
    "resize_cam",
    "protocol_scoremap",
    "protocol_cam_boxes",
]

Box = List[int]


def normalize_scoremap(scoremap: np.ndarray) -> np.ndarray:
    """The protocol's min-max normalisation of a ``(H, W)`` map, in float64.

    Zeros if the map holds a NaN or is constant; else ``cam -= cam.min(); cam /= cam.max()``. A
    result holding a NaN (the map had an infinite value) is rejected by the protocol's validity
    check; wsolx defines it as zeros, so this transcription returns zeros too.
    """
    cam = np.array(scoremap, dtype=np.float64, copy=True)
    if np.isnan(cam).any():
        return np.zeros_like(cam)
    if cam.min() == cam.max():
        return np.zeros_like(cam)
    with np.errstate(invalid="ignore", over="ignore"):
        cam -= cam.min()
        cam /= cam.max()
    if np.isnan(cam).any():
        return np.zeros_like(cam)
    return cam


def resize_cam(cam: np.ndarray, image_size: Tuple[int, int]) -> np.ndarray:
    """The protocol's inference: ``cv2.resize(float64(cam), (W, H), INTER_CUBIC)`` -> ``(H, W)``."""
    height, width = image_size
    out = cv2.resize(np.asarray(cam, dtype=np.float64), (int(width), int(height)), interpolation=cv2.INTER_CUBIC)
    return out.reshape(int(height), int(width))


def protocol_scoremap(cam: np.ndarray, image_size: Tuple[int, int]) -> np.ndarray:
    """Raw ``(h, w)`` CAM -> the protocol's ``(H, W)`` float64 score map in [0, 1]."""
    return normalize_scoremap(resize_cam(cam, image_size))


def quantize(scoremap: np.ndarray, normalize: bool = True) -> np.ndarray:
    """``(H, W)`` map -> ``(H, W)`` uint8 ``floor(normalised * 255)`` (float64 arithmetic).

    ``normalize=False``: the map is a saved score map used as it is (must lie in [0, 1]).
    """
    s = normalize_scoremap(scoremap) if normalize else np.asarray(scoremap, dtype=np.float64)
    if not normalize and (np.isnan(s).any() or (s < 0).any() or (s > 1).any()):
        raise ValueError("score map must lie in [0, 1]")
    return (s * 255).astype(np.uint8)


def standard_value(q: np.ndarray, percentile: float = 100.0) -> float:
    """Max of ``q`` (``percentile >= 100``) or ``np.percentile(q, percentile)`` (linear)."""
    if percentile >= 100:
        return float(np.max(q))
    return float(np.percentile(q, percentile))


def protocol_boxes(
    scoremap: np.ndarray,
    thresholds: Sequence[float],
    percentile: float = 100.0,
    multi_box: bool = False,
    normalize: bool = True,
    box_rule: str = "protocol",
) -> List[List[Box]]:
    """Boxes of one ``(H, W)`` score map at every threshold.

    Returns:
        One list per threshold of ``[x0, y0, x1, y1]`` boxes: exactly one box in single mode, every
        contour's box (outer and hole contours, cv2 order) in multi mode; ``[[0, 0, 0, 0]]`` when
        the mask has no contour (``[[0, 0, W, H]]`` under the paper's rule).
    """
    q = quantize(scoremap, normalize)
    return quantized_protocol_boxes(q, thresholds, percentile, multi_box, box_rule)


def quantized_protocol_boxes(
    q: np.ndarray, thresholds: Sequence[float], percentile: float, multi_box: bool, box_rule: str = "protocol"
) -> List[List[Box]]:
    """:func:`protocol_boxes` on an already quantised ``(H, W)`` uint8 map."""
    paper = box_rule == "paper"
    height, width = q.shape
    standard = standard_value(q, percentile)
    out: List[List[Box]] = []
    for t in thresholds:
        _, mask = cv2.threshold(q, int(float(t) * standard), 255, cv2.THRESH_BINARY)
        contours, _ = cv2.findContours(mask, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
        if len(contours) == 0:
            out.append([[0, 0, width, height]] if paper else [[0, 0, 0, 0]])
            continue
        if not multi_box:
            contours = [max(contours, key=cv2.contourArea)]
        boxes: List[Box] = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            if paper:
                boxes.append([int(x), int(y), int(x + w), int(y + h)])
            else:
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


def protocol_cam_boxes(
    cam: np.ndarray,
    image_size: Tuple[int, int],
    thresholds: Sequence[float],
    percentile: float = 100.0,
    multi_box: bool = False,
    normalize: bool = True,
    box_rule: str = "protocol",
) -> List[List[Box]]:
    """The whole pipeline from a raw ``(h, w)`` CAM: resize, normalise, quantise, threshold loop."""
    return protocol_boxes(resize_cam(cam, image_size), thresholds, percentile, multi_box, normalize, box_rule)
