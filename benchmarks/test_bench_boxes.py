"""cam_boxes: fused kernel vs the protocol's OpenCV loop vs the pure-PyTorch fallback, on the same
224x224 maps (upsampled from 14x14 CAM-like maps, upsampling not timed), at 100 and 1000
thresholds; raw 14x14 CAMs -> boxes end to end (resize included on both sides; for ratios under
the same load use ``benchmarks/e2e_boxes.py``, which alternates the two sides); plus the full
MaxBoxAccV2 evaluation of N maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import QUICK, devices, sync

from wsolx.ops._boxes_reference import scoremap_boxes_reference
from wsolx.ops.boxes import cam_boxes, scoremap_boxes, upsample_scoremaps

cv2 = pytest.importorskip("cv2")
from cam_cases import random_scoremaps  # noqa: E402
from protocol_cv2 import protocol_boxes, protocol_cam_boxes  # noqa: E402

N_MAPS = 4 if QUICK else 16  # every implementation runs on the same maps


def cams14(n: int) -> torch.Tensor:
    return torch.from_numpy(random_scoremaps(n, (14, 14), seed=0, kinds=["blobs", "cam14"]))


@pytest.fixture(scope="module")
def scoremaps() -> torch.Tensor:
    return upsample_scoremaps(cams14(N_MAPS), (224, 224), normalize=False)


def opencv_loop(maps: np.ndarray, thresholds: np.ndarray, multi: bool) -> list:
    return [protocol_boxes(m, thresholds, 100.0, multi_box=multi) for m in maps]


@pytest.mark.parametrize("T", [100, 1000])
@pytest.mark.parametrize("mode", ["single", "multi"])
@pytest.mark.parametrize("impl", ["wsolx-cpu", "wsolx-cuda", "opencv", "fallback"])
def test_cam_boxes(benchmark, scoremaps, impl, mode, T):
    multi = mode == "multi"
    thresholds = np.arange(0, 1, 1.0 / T)
    thr = torch.tensor(thresholds, dtype=torch.float64)
    n = N_MAPS
    if impl == "wsolx-cuda":
        if "cuda" not in devices():
            pytest.skip("no CUDA kernels")
        s, t = scoremaps.cuda(), thr.cuda()

        def run():
            scoremap_boxes(s, t, 100.0, multi)
            torch.cuda.synchronize()

    elif impl == "wsolx-cpu":

        def run():
            scoremap_boxes(scoremaps, thr, 100.0, multi)

    elif impl == "opencv":
        maps = scoremaps.numpy()

        def run():
            opencv_loop(maps, thresholds, multi)

    else:

        def run():
            scoremap_boxes_reference(scoremaps, thr, 100.0, multi)

    fast = impl.startswith("wsolx")
    benchmark.group = f"cam_boxes {mode} T={T} (cost per map = time / maps)"
    benchmark.extra_info.update(impl=impl, maps=n, T=T, mode=mode)
    benchmark.pedantic(run, rounds=(3 if QUICK else 15) if fast else (2 if QUICK else 3), warmup_rounds=1)


@pytest.mark.parametrize("T", [100, 1000])
@pytest.mark.parametrize("mode", ["single", "multi"])
@pytest.mark.parametrize("impl", ["wsolx-cpu", "official"])
def test_cam_boxes_end_to_end(benchmark, impl, mode, T):
    """Raw 14x14 CAMs -> boxes at 224x224: cam_boxes vs per map cv2.resize(float64) +
    normalize_scoremap + the per-threshold OpenCV loop (identical boxes)."""
    multi = mode == "multi"
    thresholds = np.arange(0, 1, 1.0 / T)
    cams = cams14(N_MAPS)
    if impl == "wsolx-cpu":

        def run():
            cam_boxes(cams, thresholds, image_size=(224, 224), multi_box=multi)

    else:
        raw = cams.numpy()

        def run():
            [protocol_cam_boxes(c, (224, 224), thresholds, 100.0, multi) for c in raw]

    benchmark.group = f"cam_boxes end to end {mode} T={T} (cost per map = time / maps)"
    benchmark.extra_info.update(impl=impl, maps=N_MAPS, T=T, mode=mode)
    fast = impl.startswith("wsolx")
    benchmark.pedantic(run, rounds=(3 if QUICK else 15) if fast else (2 if QUICK else 3), warmup_rounds=1)


@pytest.mark.parametrize("device", devices())
def test_maxboxacc_v2_evaluation(benchmark, device):
    """Full evaluation (upsampling, boxes at 100 thresholds, IoU with GT, accumulation) of N maps."""
    from wsolx.metrics import BoxEvaluator

    n = 16 if QUICK else 256
    cams = cams14(n).to(device)
    g = torch.Generator().manual_seed(0)
    xy = torch.randint(0, 150, (n, 1, 2), generator=g)
    gt = torch.cat([xy, xy + torch.randint(20, 70, (n, 1, 2), generator=g)], dim=2).float()

    def run():
        ev = BoxEvaluator(device=device)
        ev.update(cams, [b for b in gt.to(device)])
        ev.compute()
        sync(device)

    benchmark.group = "MaxBoxAccV2 evaluation"
    benchmark.extra_info.update(device=device, maps=n)
    benchmark.pedantic(run, rounds=2 if QUICK else 3, warmup_rounds=1)
