"""MaskEvaluator (PxAP): a hand-computed case, equality with an independent numpy implementation
(np.histogram, as the protocol), ignore regions, sharding, input forms and errors."""

from __future__ import annotations

from typing import List, Optional

import cv2
import numpy as np
import pytest
import torch

from wsolx.metrics import MaskEvaluator, normalized_scoremaps

# ---------------------------------------------------------------------------------------------
# Independent implementation (numpy), written for this test module.
# ---------------------------------------------------------------------------------------------


def np_normalize(cam: np.ndarray) -> np.ndarray:
    """The protocol's normalize_scoremap, in float64."""
    cam = cam.astype(np.float64).copy()
    if not np.isfinite(cam).all() or cam.min() == cam.max():
        return np.zeros_like(cam)
    cam -= cam.min()
    cam /= cam.max()
    return cam


def np_pxap(
    scoremaps: np.ndarray,
    masks: np.ndarray,
    ignores: Optional[np.ndarray],
    interval: float = 0.001,  # the protocol's cam_curve_interval (MaskEvaluator's default)
    percentile: float = 100.0,
) -> float:
    """PxAP (%) of full-resolution maps, accumulated image by image with np.histogram."""
    edges = np.append(np.arange(0, 1, interval), [1.0, 2.0, 3.0])
    fg_hist = np.zeros(len(edges) - 1)
    bg_hist = np.zeros(len(edges) - 1)
    for i, cam in enumerate(scoremaps):
        s = np_normalize(cam)
        if percentile < 100:
            p = np.percentile(s.astype(np.float64), percentile)
            s = np.minimum(s / p, 3.0) if p > 0 else s
        fg = masks[i].astype(bool)
        ign = ignores[i].astype(bool) & ~fg if ignores is not None else np.zeros_like(fg)
        fg_hist += np.histogram(s[fg], bins=edges)[0]
        bg_hist += np.histogram(s[~fg & ~ign], bins=edges)[0]
    tp = fg_hist[::-1].cumsum()
    fn = fg_hist.sum() - tp
    fp = bg_hist[::-1].cumsum()
    keep = (tp + fp) != 0
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp)
        recall = tp / (tp + fn)
    return float((precision[1:] * np.diff(recall))[keep[1:]].sum() * 100)


def random_case(n: int, size: int, seed: int):
    """Smooth maps correlated with elliptic masks; ignore regions (partly overlapping the masks)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    cams = np.zeros((n, size, size), dtype=np.float32)
    masks = np.zeros((n, size, size), dtype=bool)
    ignores = np.zeros((n, size, size), dtype=bool)
    for i in range(n):
        cy, cx = rng.uniform(0.25, 0.75, 2) * size
        ry, rx = rng.uniform(0.1, 0.3, 2) * size
        masks[i] = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        blob = np.exp(-0.5 * (((yy - cy - rng.normal(0, 3)) / (ry * 1.2)) ** 2 + ((xx - cx) / (rx * 1.2)) ** 2))
        cams[i] = blob + rng.uniform(0.1, 0.6) * rng.random((size, size))
        y0, x0 = rng.integers(0, size - 8, 2)
        ignores[i, y0 : y0 + 8, x0 : x0 + 12] = True
    return cams, masks, ignores


# ---------------------------------------------------------------------------------------------


def test_hand_computed_pxap():
    cams = torch.tensor([[[1.0, 0.5], [0.0, 0.25]]])
    mask = torch.tensor([[[True, False], [False, True]]])
    ev = MaskEvaluator(image_size=(2, 2))
    ev.update(cams, mask)
    # Going down: score 1 (fg): P 1, R 1/2; 0.5 (bg): P 1/2; 0.25 (fg): P 2/3, R 1; 0 (bg): P 1/2.
    # AP = 1 * 1/2 + 2/3 * 1/2 = 5/6.
    r = ev.compute()
    assert r["PxAP"] == pytest.approx(500 / 6, abs=1e-12)
    assert r["num_mask_images"] == 1
    curve = r["curve"]
    assert len(curve["precision"]) == len(curve["recall"]) == len(curve["thresholds"]) == 1002  # 1000 thresholds + 1, 2
    assert curve["thresholds"][0] == 2.0 and curve["thresholds"][1] == 1.0 and curve["thresholds"][-1] == 0.0
    assert curve["precision"][0] is None and curve["recall"][-1] == 1.0
    # Ignoring the background pixel scored 0.5 removes the only false positive above 0.25.
    ev2 = MaskEvaluator(image_size=(2, 2), num_bins=100)
    ev2.update(cams, mask, torch.tensor([[[False, True], [False, False]]]))
    assert ev2.compute()["PxAP"] == pytest.approx(100.0, abs=1e-12)
    # Ignore never removes foreground pixels (foreground wins).
    ev3 = MaskEvaluator(image_size=(2, 2))
    ev3.update(cams, mask, torch.ones(1, 2, 2, dtype=torch.bool))
    assert ev3.compute()["PxAP"] == 100.0


@pytest.mark.parametrize("interval", [0.01, 0.05])
def test_matches_numpy_histogram_protocol(interval):
    cams, masks, ignores = random_case(9, 48, seed=2)
    ref = np_pxap(cams, masks, ignores, interval=interval)
    assert 20 < ref < 100
    ev = MaskEvaluator(thresholds=np.arange(0, 1, interval), image_size=(48, 48))
    for lo in range(0, 9, 4):
        sl = slice(lo, lo + 4)
        ev.update(torch.from_numpy(cams[sl]), torch.from_numpy(masks[sl]), torch.from_numpy(ignores[sl]))
    assert ev.compute()["PxAP"] == ref  # same histograms, same float64 arithmetic


def test_percentile_standard_matches_reference():
    cams, masks, ignores = random_case(5, 40, seed=4)
    ref = np_pxap(cams, masks, ignores, percentile=90.0)
    ev = MaskEvaluator(image_size=40, percentile=90.0)
    ev.update(torch.from_numpy(cams), torch.from_numpy(masks), torch.from_numpy(ignores))
    assert ev.compute()["PxAP"] == pytest.approx(ref, abs=1e-9)


def test_low_resolution_cams_are_upsampled_like_cv2():
    rng = np.random.default_rng(8)
    low = np.maximum(rng.standard_normal((4, 7, 7)), 0).astype(np.float32)
    # The protocol's inference: t2n (float64), then cv2.resize on the float64 array.
    up = np.stack([cv2.resize(c.astype(np.float64), (56, 56), interpolation=cv2.INTER_CUBIC) for c in low])
    _, masks, ignores = random_case(4, 56, seed=9)
    ref = np_pxap(up, masks, ignores)
    ev = MaskEvaluator(image_size=(56, 56))
    ev.update(torch.from_numpy(low), torch.from_numpy(masks), torch.from_numpy(ignores))
    assert ev.compute()["PxAP"] == ref  # the same float64 score maps, bit for bit
    s = normalized_scoremaps(torch.from_numpy(low), (56, 56))
    assert s.shape == (4, 56, 56) and s.dtype == torch.float64
    assert float(s.min()) == 0.0 and float(s.amax((1, 2)).min()) == 1.0
    np.testing.assert_array_equal(s.numpy(), np.stack([np_normalize(u) for u in up]))


def test_constant_and_nonfinite_maps_become_zero():
    cams = torch.stack([torch.full((8, 8), 3.0), torch.rand(8, 8)])
    cams[1, 0, 0] = float("nan")
    s = normalized_scoremaps(cams, (8, 8))
    assert torch.equal(s, torch.zeros_like(s))


def test_sharded_merge_and_list_inputs():
    cams, masks, ignores = random_case(7, 32, seed=6)
    whole = MaskEvaluator(image_size=32)
    whole.update(torch.from_numpy(cams), torch.from_numpy(masks), torch.from_numpy(ignores))
    parts: List[MaskEvaluator] = []
    for lo in (0, 2, 5):
        hi = {0: 2, 2: 5, 5: 7}[lo]
        ev = MaskEvaluator(image_size=32)
        # Lists of (H, W) masks (numpy and torch) are accepted, as the engine passes them.
        ev.update(
            torch.from_numpy(cams[lo:hi]), [m for m in masks[lo:hi]], [torch.from_numpy(g) for g in ignores[lo:hi]]
        )
        parts.append(ev)
    merged = parts[0].merge(parts[1]).merge(parts[2])
    assert merged.compute() == whole.compute()
    merged.all_reduce()  # no-op without torch.distributed
    assert merged.compute()["PxAP"] == whole.compute()["PxAP"]
    with pytest.raises(ValueError, match="different configurations"):
        merged.merge(MaskEvaluator(image_size=32, num_bins=10))


def test_bad_input_errors():
    ev = MaskEvaluator(image_size=(8, 8))
    with pytest.raises(ValueError, match="empty batch"):
        ev.update(torch.zeros(0, 4, 4), torch.zeros(0, 8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"masks of shape \(2, 8, 8\)"):
        ev.update(torch.rand(2, 4, 4), torch.zeros(2, 7, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="ignore masks of shape"):
        ev.update(torch.rand(2, 4, 4), torch.zeros(2, 8, 8, dtype=torch.bool), torch.zeros(1, 8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(B, h, w\)"):
        ev.update(torch.rand(8, 8), torch.zeros(1, 8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        MaskEvaluator(thresholds=[0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="not both"):
        MaskEvaluator(thresholds=[0.0, 0.5], num_bins=10)
    with pytest.raises(RuntimeError, match="no image"):
        ev.compute()
    ev.update(torch.rand(1, 4, 4), torch.zeros(1, 8, 8, dtype=torch.bool))
    with pytest.raises(RuntimeError, match="no foreground"):
        ev.compute()
