"""Independent transcription of the official standalone WSOL evaluator's rules (tests and benchmark only).

Written from the rules of ``evaluation.py`` of the protocol of Choe et al. (CVPR 2020,
clovaai/wsolevaluation), in this project's own words, one map at a time with numpy and OpenCV:

* score maps are used as given: 2-D float64, no NaN, values in ``[0, 1]``;
* ground-truth boxes are scaled to the evaluation frame with ``int(x * new / old)`` per coordinate;
* per threshold ``t``: ``q = uint8(s * 255)``, mask ``q > int(t * max(q))``, contours of
  ``cv2.findContours(RETR_TREE, CHAIN_APPROX_SIMPLE)``; none -> one ``[0, 0, 0, 0]`` box; single
  mode keeps the contour of largest ``cv2.contourArea``; box ``[x, y, min(x + w, W - 1),
  min(y + h, H - 1)]`` of ``cv2.boundingRect``;
* IoU with the ``+1`` convention, 0 for a non-positive union; an image counts as correct at a
  threshold when its best IoU over (boxes x GT boxes) reaches the IoU threshold;
* accuracy ``= correct * 100 / n`` per threshold, the maximum over thresholds per IoU threshold;
  headline: mean over IoU thresholds (multi-IoU) or the value at IoU 50;
* PxAP: masks resized nearest-neighbour, foreground ``> 0.5`` (union of instances), ignore region
  ``> 0.5`` minus the foreground; histograms with edges ``thresholds + [1, 2, 3]`` of the scores of
  foreground and background pixels; precision / recall from the highest bin down; AP sums
  ``precision * delta recall`` where defined.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

Box = Tuple[int, int, int, int]


def check_map(scoremap: np.ndarray) -> None:
    if not isinstance(scoremap, np.ndarray) or scoremap.dtype != np.float64:
        raise TypeError("score map must be a float64 numpy array")
    if scoremap.ndim != 2:
        raise ValueError("score map must be 2-D")
    if np.isnan(scoremap).any():
        raise ValueError("score map has NaN")
    if scoremap.min() < 0 or scoremap.max() > 1:
        raise ValueError("score map must lie in [0, 1]")


def scale_box(box: Sequence[float], old_wh: Tuple[int, int], new_wh: Tuple[int, int]) -> Box:
    (w, h), (nw, nh) = (float(old_wh[0]), float(old_wh[1])), (float(new_wh[0]), float(new_wh[1]))
    x0, y0, x1, y1 = (float(v) for v in box)
    return int(x0 * nw / w), int(y0 * nh / h), int(x1 * nw / w), int(y1 * nh / h)


def boxes_at_thresholds(scoremap: np.ndarray, thresholds: Sequence[float], multi_contour: bool) -> List[List[Box]]:
    check_map(scoremap)
    height, width = scoremap.shape
    q = (scoremap * 255).astype(np.uint8)
    top = int(q.max())
    result: List[List[Box]] = []
    for t in thresholds:
        level = int(t * top)
        binary = np.where(q > level, 255, 0).astype(np.uint8)
        contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) == 0:
            result.append([(0, 0, 0, 0)])
            continue
        chosen = contours if multi_contour else [max(contours, key=cv2.contourArea)]
        boxes = []
        for c in chosen:
            x, y, w, h = cv2.boundingRect(c)
            boxes.append((x, y, min(x + w, width - 1), min(y + h, height - 1)))
        result.append(boxes)
    return result


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.int64)[:, None, :]
    b = np.asarray(b, dtype=np.int64)[None, :, :]
    iw = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
    ih = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    union = area_a + area_b - inter
    bad = union <= 0
    out = inter / np.where(bad, 1, union)
    out[bad] = 0
    return out


def box_accuracy(
    scoremaps: Dict[str, np.ndarray],
    gt_boxes: Dict[str, List[Box]],
    thresholds: Sequence[float],
    iou_percents: Sequence[int],
    multi_contour: bool,
) -> Dict[int, np.ndarray]:
    """``{iou percent: accuracy curve (%) over the thresholds}``."""
    correct = {p: np.zeros(len(thresholds)) for p in iou_percents}
    for image_id, s in scoremaps.items():
        per_thr = boxes_at_thresholds(s, thresholds, multi_contour)
        best = np.array([iou_matrix(np.array(bx), np.array(gt_boxes[image_id])).max() for bx in per_thr])
        for p in iou_percents:
            correct[p][best >= p / 100] += 1
    n = float(len(scoremaps))
    return {p: c * 100.0 / n for p, c in correct.items()}


def headline(curves: Dict[int, np.ndarray], multi_iou: bool) -> float:
    maxima = [curves[p].max() for p in curves]
    return float(np.average(maxima)) if multi_iou else float(curves[50].max())


def gt_mask(instance_masks: List[np.ndarray], ignore: np.ndarray, size: int) -> Tuple[np.ndarray, np.ndarray]:
    """``(foreground, ignore)`` bool at ``size x size`` from grey ``uint8`` instance / ignore masks."""

    def resized(m: np.ndarray) -> np.ndarray:
        return cv2.resize(np.float32(m), (size, size), interpolation=cv2.INTER_NEAREST) > 0.5

    fg = np.stack([resized(m) for m in instance_masks]).any(0)
    return fg, resized(ignore) & ~fg


def pxap(
    scoremaps: Dict[str, np.ndarray], masks: Dict[str, Tuple[np.ndarray, np.ndarray]], thresholds: Sequence[float]
) -> float:
    edges = np.append(np.asarray(thresholds, dtype=np.float64), [1.0, 2.0, 3.0])
    fg_hist = np.zeros(len(edges) - 1)
    bg_hist = np.zeros(len(edges) - 1)
    for image_id, s in scoremaps.items():
        check_map(s)
        fg, ign = masks[image_id]
        fg_hist += np.histogram(s[fg], bins=edges)[0]
        bg_hist += np.histogram(s[~fg & ~ign], bins=edges)[0]
    tp = fg_hist[::-1].cumsum()
    fp = bg_hist[::-1].cumsum()
    fn = fg_hist.sum() - tp
    defined = (tp + fp) != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / (tp + fp)
        recall = tp / (tp + fn)
    return float((precision[1:] * np.diff(recall))[defined[1:]].sum() * 100)
