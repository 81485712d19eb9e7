"""BoxEvaluator: hand-computed cases, equality with an independent numpy/cv2 implementation of the
protocol, sharded accumulation, input forms and errors.

Runs against the real ``wsolx.ops.cam_boxes`` (C++ extension or its pure-PyTorch fallback).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import pytest
import torch

from wsolx.metrics import BoxEvaluator, pad_gt_boxes

# ---------------------------------------------------------------------------------------------
# Independent implementation of the protocol (numpy + OpenCV), written for this test module.
# ---------------------------------------------------------------------------------------------


def np_normalize(cam: np.ndarray) -> np.ndarray:
    cam = cam.astype(np.float32).copy()
    if not np.isfinite(cam).all() or cam.min() == cam.max():
        return np.zeros_like(cam)
    cam -= cam.min()
    cam /= cam.max()
    return cam


def np_boxes(cam: np.ndarray, thresholds: Sequence[float], percentile: float, multi: bool) -> List[np.ndarray]:
    """Per threshold, an ``(K, 4)`` array of boxes of one full-resolution map."""
    q = (np_normalize(cam) * 255).astype(np.uint8)
    h, w = q.shape
    standard = np.max(q) if percentile >= 100 else np.percentile(q, percentile)
    out = []
    for t in thresholds:
        _, binary = cv2.threshold(q, int(t * standard), 255, cv2.THRESH_BINARY)
        contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) == 0:
            out.append(np.zeros((1, 4)))
            continue
        if not multi:
            contours = [max(contours, key=cv2.contourArea)]
        boxes = []
        for c in contours:
            x, y, bw, bh = cv2.boundingRect(c)
            boxes.append([x, y, min(x + bw, w - 1), min(y + bh, h - 1)])
        out.append(np.asarray(boxes, dtype=np.float64))
    return out


def np_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(Na, 4) x (Nb, 4) -> (Na, Nb)`` with the +1 convention."""
    a, b = a[:, None, :], b[None, :, :]
    ix = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
    iy = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1)
    inter = ix * iy
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    return inter / (area_a + area_b - inter)


def np_box_metrics(
    cams: np.ndarray,
    gts: List[np.ndarray],
    thresholds: np.ndarray,
    deltas=(0.3, 0.5, 0.7),
    percentile: float = 100.0,
    fixed: float = 0.2,
    labels: Optional[np.ndarray] = None,
    preds: Optional[np.ndarray] = None,
) -> Dict[str, float]:
    n, t = len(cams), len(thresholds)
    v2 = {d: np.zeros(t) for d in deltas}
    v1 = np.zeros(t)
    gt_known = top1 = 0
    for i in range(n):
        multi = np_boxes(cams[i], thresholds, percentile, True)
        single = np_boxes(cams[i], list(thresholds) + [fixed], percentile, False)
        best_multi = np.array([np_iou(b, gts[i]).max() for b in multi])
        best_single = np.array([np_iou(b, gts[i]).max() for b in single])
        for d in deltas:
            v2[d][best_multi >= d] += 1
        v1[best_single[:t] >= 0.5] += 1
        ok = best_single[t] >= 0.5
        gt_known += ok
        if preds is not None:
            top1 += ok and preds[i] == labels[i]
    out = {"MaxBoxAcc": (v1 * 100.0 / n).max(), "GT-known Loc": gt_known * 100.0 / n}
    out["best_threshold"] = thresholds[(v1 * 100.0 / n).argmax()]
    maxima = []
    for d in deltas:
        acc = v2[d] * 100.0 / n
        out[f"MaxBoxAccV2@{d:g}"] = acc.max()
        out[f"best_threshold@{d:g}"] = thresholds[acc.argmax()]
        out[f"curve@{d:g}"] = acc.tolist()
        maxima.append(acc.max())
    out["MaxBoxAccV2"] = np.average(maxima)
    if preds is not None:
        out["Top-1 Loc"] = top1 * 100.0 / n
    return out


def smooth_cams(n: int, size: int, seed: int) -> np.ndarray:
    """CAM-like maps: a few Gaussian blobs (several components at mid thresholds) + mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    out = np.zeros((n, size, size), dtype=np.float32)
    for i in range(n):
        m = np.zeros((size, size))
        for _ in range(rng.integers(1, 5)):
            cy, cx = rng.uniform(0, size, 2)
            sy, sx = rng.uniform(0.05, 0.3, 2) * size
            m += rng.uniform(0.3, 1.0) * np.exp(-0.5 * (((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2))
        m += rng.uniform(0, 0.03) * rng.random((size, size))
        out[i] = m
    return out


def random_gts(n: int, size: int, seed: int) -> List[np.ndarray]:
    """1-3 float boxes per image (as mapped ground truth is)."""
    rng = np.random.default_rng(seed)
    gts = []
    for _ in range(n):
        g = rng.integers(1, 4)
        xy0 = rng.uniform(0, size * 0.6, (g, 2))
        wh = rng.uniform(size * 0.15, size * 0.6, (g, 2))
        xy1 = np.minimum(xy0 + wh, size - 1)
        gts.append(np.concatenate([xy0, xy1], 1))
    return gts


def _compare(ours: dict, ref: dict, deltas=(0.3, 0.5, 0.7)) -> None:
    for key in ["MaxBoxAcc", "MaxBoxAccV2", "GT-known Loc", "best_threshold"] + [
        f"{k}@{d:g}" for k in ("MaxBoxAccV2", "best_threshold") for d in deltas
    ]:
        assert ours[key] == ref[key], (key, ours[key], ref[key])
    for d in deltas:
        assert ours["box_acc_curve"][d] == ref[f"curve@{d:g}"]
    if "Top-1 Loc" in ref:
        assert ours["Top-1 Loc"] == ref["Top-1 Loc"]


# ---------------------------------------------------------------------------------------------
# Hand-computed cases
# ---------------------------------------------------------------------------------------------


def _block_cams(size: int, blocks) -> torch.Tensor:
    """One full-resolution map per entry of ``blocks``: a list of (y0, y1, x0, x1, value)."""
    cams = torch.zeros(len(blocks), size, size)
    for i, bs in enumerate(blocks):
        for y0, y1, x0, x1, v in bs:
            cams[i, y0 : y1 + 1, x0 : x1 + 1] = v
    return cams


def test_hand_computed_boxes_and_conventions():
    size = 32
    cams = _block_cams(
        size,
        [
            # 0: a big block (largest box) and a small one at 0.6 (only below t = 0.6).
            [(2, 15, 2, 15, 1.0), (22, 27, 22, 29, 0.6)],
            # 1: a block rows 0..9, cols 0..4 -> box [0, 0, 5, 10] (exclusive ends), area 66.
            [(0, 9, 0, 4, 1.0)],
            # 2: a block touching the right and bottom borders -> x1, y1 clamped to 31.
            [(20, 31, 25, 31, 1.0)],
        ],
    )
    gts = [
        torch.tensor([[22.0, 22.0, 29.0, 27.0]]),  # small block of image 0: IoU 48 / 63 with [22, 22, 30, 28]
        torch.tensor([[0.0, 0.0, 11.0, 10.0]]),  # area 132 containing the predicted 66: IoU exactly 0.5
        torch.tensor([[25.0, 20.0, 31.0, 31.0]]),  # equal to the clamped box: IoU 1
    ]
    ev = BoxEvaluator(image_size=(size, size), multi_box=True)
    ev.update(cams, gts, gt_labels=torch.tensor([0, 1, 2]), pred_labels=torch.tensor([0, 1, 5]))
    r = ev.compute()
    assert r["num_images"] == 3
    # V1 (largest box): image 0 fails (big block), 1 passes with IoU == 0.5 (>=), 2 passes.
    assert r["MaxBoxAcc"] == pytest.approx(200 / 3)
    # V2: image 0 passes through its small box for t < 0.6 (0.7619 >= 0.7); image 1 fails 0.7.
    assert r["MaxBoxAccV2@0.3"] == 100.0
    assert r["MaxBoxAccV2@0.5"] == 100.0
    assert r["MaxBoxAccV2@0.7"] == pytest.approx(200 / 3)
    assert r["MaxBoxAccV2"] == pytest.approx((100 + 100 + 200 / 3) / 3)
    assert r["best_threshold@0.5"] == 0.0  # first threshold reaching the maximum
    curve = np.asarray(r["box_acc_curve"][0.5])
    thr = np.asarray(r["thresholds"])
    # The small block (q = floor(0.6 * 255) = 153) survives while int(t * 255) < 153, i.e. t < 0.6.
    assert (curve[thr < 0.595] == 100.0).all()
    np.testing.assert_allclose(curve[thr > 0.605], 200 / 3)
    # Fixed threshold 0.2: same as V1; Top-1 Loc also needs the right class (image 2 is wrong).
    assert r["GT-known Loc"] == pytest.approx(200 / 3)
    assert r["Top-1 Loc"] == pytest.approx(100 / 3)
    assert r["Top-1 Cls"] == pytest.approx(200 / 3)


def test_exclusive_end_convention_iou():
    # A block cols 4..11, rows 5..9 gives the protocol box [4, 5, 12, 10] (x1 = x0 + width), so the
    # tight inclusive ground truth [4, 5, 11, 9] has IoU 40 / 54 < 0.75 and [4, 5, 12, 10] has 1.
    cams = _block_cams(20, [[(5, 9, 4, 11, 1.0)]] * 2)
    gts = [torch.tensor([[4.0, 5.0, 11.0, 9.0]]), torch.tensor([[4.0, 5.0, 12.0, 10.0]])]
    ev = BoxEvaluator(image_size=(20, 20), iou_thresholds=(0.74, 0.75), thresholds=[0.0, 0.5])
    ev.update(cams, gts)
    r = ev.compute()
    assert r["MaxBoxAccV2@0.74"] == 100.0  # 40 / 54 = 0.7407
    assert r["MaxBoxAccV2@0.75"] == 50.0


def test_empty_map_gives_zero_box_and_fixed_threshold_is_separate():
    size = 24
    cams = _block_cams(
        size,
        [
            [],  # constant map: no component -> [0, 0, 0, 0]
            # big block at 0.3 and small block at 1.0: at t = 0.2 the largest is the big one,
            # at t = 0.35 only the small one is left.
            [(0, 15, 0, 15, 0.3), (18, 21, 18, 21, 1.0)],
        ],
    )
    gts = [torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[18.0, 18.0, 22.0, 22.0]])]
    r02 = BoxEvaluator(image_size=size, fixed_threshold=0.2)
    r02.update(cams, gts)
    r035 = BoxEvaluator(image_size=size, fixed_threshold=0.35)
    r035.update(cams, gts)
    a, b = r02.compute(), r035.compute()
    # [0, 0, 0, 0] vs [0, 0, 1, 1]: IoU 1 / 4 -> counted at delta 0.3? no (0.25 < 0.3).
    assert a["GT-known Loc"] == 0.0
    assert b["GT-known Loc"] == 50.0
    # The sweep does not depend on the fixed threshold.
    assert a["MaxBoxAcc"] == b["MaxBoxAcc"] == 50.0
    assert a["box_acc_curve"] == b["box_acc_curve"]


# ---------------------------------------------------------------------------------------------
# Equality with the independent implementation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("percentile,fixed", [(100.0, 0.2), (90.0, 0.35)])
def test_matches_numpy_cv2_protocol(percentile, fixed):
    n, size = 12, 40
    cams = smooth_cams(n, size, seed=1 + int(percentile))
    gts = random_gts(n, size, seed=7)
    # Put one GT box on the strongest blob of some images so that the accuracies are not trivial.
    for i in range(0, n, 2):
        ys, xs = np.nonzero(cams[i] >= cams[i].max() * 0.5)
        gts[i] = np.vstack([gts[i], [xs.min(), ys.min(), xs.max(), ys.max()]])
    labels = np.arange(n) % 3
    preds = np.where(np.arange(n) % 4 == 0, (labels + 1) % 3, labels)
    thresholds = np.arange(0, 1, 0.02)
    ref = np_box_metrics(cams, gts, thresholds, percentile=percentile, fixed=fixed, labels=labels, preds=preds)
    assert 0 < ref["MaxBoxAccV2"] < 100

    ev = BoxEvaluator(thresholds=thresholds, image_size=(size, size), percentile=percentile, fixed_threshold=fixed)
    for lo in range(0, n, 5):  # uneven batches
        sl = slice(lo, lo + 5)
        ev.update(
            torch.from_numpy(cams[sl]),
            [torch.from_numpy(g) for g in gts[sl]],
            gt_labels=torch.from_numpy(labels[sl]),
            pred_labels=torch.from_numpy(preds[sl]),
        )
    _compare(ev.compute(), ref)


def test_default_sweep_with_low_resolution_cams():
    """Raw 7x7 CAMs upsampled inside (bicubic) with the default 1000 thresholds (the protocol's). The reference uses
    cv2.resize(INTER_CUBIC); torch and OpenCV may differ by one quantisation level on a rare
    pixel, so this comparison allows one image of difference per threshold."""
    n, size = 6, 56
    rng = np.random.default_rng(3)
    low = np.maximum(rng.standard_normal((n, 7, 7)), 0).astype(np.float32)
    up = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_CUBIC) for c in low])
    gts = random_gts(n, size, seed=11)
    thresholds = np.arange(0, 1, 0.001)
    ref = np_box_metrics(up, gts, thresholds)
    ev = BoxEvaluator(image_size=(size, size))
    ev.update(torch.from_numpy(low), [torch.from_numpy(g) for g in gts])
    r = ev.compute()
    assert len(r["box_acc_curve"][0.5]) == 1000 and r["thresholds"] == thresholds.tolist()
    for d in (0.3, 0.5, 0.7):
        np.testing.assert_allclose(r["box_acc_curve"][d], ref[f"curve@{d:g}"], atol=100.0 / n + 1e-9)
    assert abs(r["MaxBoxAccV2"] - ref["MaxBoxAccV2"]) <= 100.0 / n + 1e-9


# ---------------------------------------------------------------------------------------------
# Sharding, state and input forms
# ---------------------------------------------------------------------------------------------


def _eval_batches(batches, **kw) -> BoxEvaluator:
    ev = BoxEvaluator(**kw)
    for cams, gts, labels, preds in batches:
        ev.update(cams, gts, gt_labels=labels, pred_labels=preds)
    return ev


def test_sharded_merge_equals_single_accumulation():
    n, size = 10, 32
    cams = torch.from_numpy(smooth_cams(n, size, seed=5))
    gts = [torch.from_numpy(g) for g in random_gts(n, size, seed=6)]
    labels = torch.arange(n) % 4
    preds = torch.tensor([0, 1, 2, 0, 0, 1, 2, 3, 1, 1])
    kw = dict(thresholds=np.arange(0, 1, 0.05), image_size=(size, size))

    whole = _eval_batches([(cams, gts, labels, preds)], **kw).compute()
    shards = [
        _eval_batches([(cams[i : i + 3], gts[i : i + 3], labels[i : i + 3], preds[i : i + 3])], **kw)
        for i in range(0, n, 3)
    ]
    merged = shards[0]
    for s in shards[1:]:
        merged.merge(s)
    assert merged.compute() == whole

    # state_dict round trip (e.g. to gather counters by hand) and reset.
    fresh = BoxEvaluator(**kw)
    fresh.load_state_dict(merged.state_dict())
    assert fresh.compute() == whole
    fresh.reset()
    with pytest.raises(RuntimeError, match="no image"):
        fresh.compute()
    # all_reduce is a no-op without torch.distributed.
    merged.all_reduce()
    assert merged.compute() == whole
    with pytest.raises(ValueError, match="different configurations"):
        merged.merge(BoxEvaluator(thresholds=np.arange(0, 1, 0.1), image_size=(size, size)))


def test_gt_input_forms_agree():
    n, size = 4, 24
    cams = torch.from_numpy(smooth_cams(n, size, seed=9))
    gts = [torch.from_numpy(g).float() for g in random_gts(n, size, seed=10)]
    kw = dict(thresholds=np.arange(0, 1, 0.1), image_size=(size, size))
    a = BoxEvaluator(**kw)
    a.update(cams, gts)
    counts = torch.tensor([g.shape[0] for g in gts])
    padded = torch.full((n, int(counts.max()), 4), 1e6)  # padding must be ignored
    for i, g in enumerate(gts):
        padded[i, : g.shape[0]] = g
    b = BoxEvaluator(**kw)
    b.update(cams, padded, counts)
    c = BoxEvaluator(**kw)
    c.update(cams, (padded, counts))
    assert a.compute() == b.compute() == c.compute()
    # One box per image as (B, 4).
    d = BoxEvaluator(**kw)
    d.update(cams, torch.stack([g[0] for g in gts]))
    e = BoxEvaluator(**kw)
    e.update(cams, [g[:1] for g in gts])
    assert d.compute() == e.compute()
    boxes, valid = pad_gt_boxes(gts, None, n, torch.device("cpu"))
    assert boxes.dtype == torch.float64 and valid.sum(1).tolist() == counts.tolist()


def test_single_box_mode_uses_largest_box_for_v2():
    cams = _block_cams(32, [[(2, 15, 2, 15, 1.0), (22, 27, 22, 29, 0.6)]])
    gts = [torch.tensor([[22.0, 22.0, 29.0, 27.0]])]
    ev = BoxEvaluator(image_size=32, multi_box=False)
    ev.update(cams, gts)
    r = ev.compute()
    assert r["MaxBoxAccV2"] == 0.0 and r["multi_box"] is False
    assert r["Top-1 Loc"] is None and r["Top-1 Cls"] is None


def test_bad_input_errors():
    ev = BoxEvaluator(image_size=16, thresholds=[0.0, 0.5])
    good = torch.rand(2, 4, 4)
    with pytest.raises(ValueError, match="empty batch"):
        ev.update(torch.zeros(0, 4, 4), [])
    with pytest.raises(ValueError, match=r"\(B, h, w\)"):
        ev.update(torch.rand(2, 1, 4, 4), [torch.zeros(1, 4)] * 2)
    with pytest.raises(ValueError, match="1 GT box sets for 2 CAMs"):
        ev.update(good, [torch.zeros(1, 4)])
    with pytest.raises(ValueError, match="no ground-truth box"):
        ev.update(good, [torch.zeros(1, 4), torch.zeros(0, 4)])
    with pytest.raises(ValueError, match=r"must be \(G, 4\)"):
        ev.update(good, [torch.zeros(1, 4), torch.zeros(2, 5)])
    with pytest.raises(ValueError, match="gt_counts exceed"):
        ev.update(good, torch.zeros(2, 1, 4), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="pred_labels needs gt_labels"):
        ev.update(good, [torch.zeros(1, 4)] * 2, pred_labels=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="not logits"):
        ev.update(good, [torch.zeros(1, 4)] * 2, gt_labels=torch.tensor([0, 1]), pred_labels=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="strictly increasing"):
        BoxEvaluator(thresholds=[0.5, 0.1])
    with pytest.raises(ValueError, match="iou_thresholds"):
        BoxEvaluator(iou_thresholds=(0.0, 0.5))
    with pytest.raises(ValueError, match="percentile"):
        BoxEvaluator(percentile=120)
    with pytest.raises(RuntimeError, match="no image"):
        ev.compute()
    # Nothing was accumulated by the failing calls.
    assert int(ev.state_dict()["num_images"]) == 0
