"""Bounded fuzz test of the raw CAM -> boxes pipeline: the C++ kernel, the pure-PyTorch fallback
and the OpenCV transcription of the official pipeline (tests/protocol_cv2.py) on a few thousand
small random cases (random CAM and image sizes, map kinds, thresholds, percentiles, box rules,
normalisation), single and multi box. Deterministic (fixed seeds), well under a minute."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wsolx
from wsolx.ops import boxes as boxes_mod
from wsolx.ops.boxes import MultiBoxes, cam_boxes_both

cv2 = pytest.importorskip("cv2")
from protocol_cv2 import protocol_cam_boxes  # noqa: E402

ROUNDS = 600  # x MAPS maps
MAPS = 12


def random_cam(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    kind = int(rng.integers(0, 8))
    if kind == 0:
        return rng.random((h, w))
    if kind == 1:  # plateaus: few integer levels
        return rng.integers(0, int(rng.integers(2, 6)), (h, w)).astype(np.float64)
    if kind == 2:  # sparse spikes
        return (rng.random((h, w)) < 0.15) * rng.random((h, w))
    if kind == 3:  # ReLU'd noise
        return np.maximum(rng.standard_normal((h, w)), 0)
    if kind == 4:  # smooth blob
        yy, xx = np.mgrid[0:h, 0:w]
        return np.exp(-((yy - rng.uniform(0, h)) ** 2 + (xx - rng.uniform(0, w)) ** 2) / rng.uniform(0.5, 20))
    if kind == 5:  # constant
        return np.full((h, w), rng.uniform(-2, 2))
    if kind == 6:  # near-constant: tiny range on an offset
        return 5.0 + 1e-10 * rng.random((h, w))
    return rng.standard_normal((h, w)) * 10.0 ** rng.uniform(-6, 6)


def random_thresholds(rng: np.random.Generator) -> list:
    t = list(rng.uniform(-0.2, 1.2, int(rng.integers(1, 10))))
    t += list(rng.choice([0.0, 0.2, 0.35, 0.5, 0.999, 1.0], int(rng.integers(0, 4))))
    if len(t) > 1 and rng.random() < 0.3:
        t.append(t[0])  # duplicate
    return [float(x) for x in t]


def split(mb: MultiBoxes, n: int, t: int) -> list:
    boxes, counts = mb.boxes.tolist(), mb.counts.flatten().tolist()
    out, pos = [], 0
    for c in counts:
        out.append(sorted(map(tuple, boxes[pos : pos + c])))
        pos += c
    return [out[i * t : (i + 1) * t] for i in range(n)]


def run_both(cams: torch.Tensor, thresholds, **kwargs):
    one, mb = cam_boxes_both(cams, thresholds, **kwargs)
    return one.tolist(), split(mb, cams.size(0), len(thresholds))


def test_fuzz_cpp_fallback_opencv(monkeypatch):
    rng = np.random.default_rng(20261202)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the fallback's many small ops; the kernel is fast either way
    try:
        for r in range(ROUNDS):
            h, w = (int(v) for v in rng.integers(1, 11, 2))
            normalize = rng.random() > 0.15
            size = (h, w) if not normalize or rng.random() < 0.15 else tuple(int(v) for v in rng.integers(1, 33, 2))
            maps = np.stack([random_cam(rng, h, w) for _ in range(MAPS)])
            if not normalize:  # saved [0, 1] score maps at the image size
                maps = np.clip(maps - maps.min(axis=(1, 2), keepdims=True), 0, None)
                maps = maps / np.maximum(maps.max(axis=(1, 2), keepdims=True), 1e-300)
                maps = np.clip(maps, 0.0, 1.0)
            cams = torch.from_numpy(maps).to(torch.float64 if rng.random() < 0.5 else torch.float32)
            thresholds = random_thresholds(rng)
            percentile = float(rng.choice([100.0, 90.0, 50.0, 0.0, rng.uniform(0, 100)]))
            rule = "paper" if rng.random() < 0.25 else "protocol"
            kwargs = dict(image_size=size, percentile=percentile, normalize=normalize, box_rule=rule)
            case = f"round {r}: cam {h}x{w} -> {size}, {kwargs}, thresholds {thresholds}"

            if wsolx.has_extension():
                cpp = run_both(cams, thresholds, **kwargs)
            with monkeypatch.context() as m:
                m.setattr(boxes_mod, "has_extension", lambda: False)
                fb = run_both(cams, thresholds, **kwargs)
            if wsolx.has_extension():
                assert cpp == fb, case
            src = cams.to(torch.float64).numpy()
            for n in range(MAPS):
                ref1 = protocol_cam_boxes(src[n], size, thresholds, percentile, False, normalize, rule)
                refm = protocol_cam_boxes(src[n], size, thresholds, percentile, True, normalize, rule)
                assert fb[0][n] == [b[0] for b in ref1], f"{case}, map {n} single"
                assert fb[1][n] == [sorted(map(tuple, b)) for b in refm], f"{case}, map {n} multi"
    finally:
        torch.set_num_threads(threads)
