"""eval-maps: wsolx.metrics.evaluate_scoremaps vs the transcription of the official standalone
evaluator (tests/official_eval.py: numpy + OpenCV, one map at a time) on the same saved 224x224
score maps, both presets. Group "eval-maps <preset>" (time for all maps, from the files on disk)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import QUICK, devices, sync

cv2 = pytest.importorskip("cv2")
import official_eval as oe  # noqa: E402
from cam_cases import random_scoremaps  # noqa: E402

from wsolx.ops import minmax_normalize  # noqa: E402

N_MAPS = 8 if QUICK else 64
SIZE = 224


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """``N_MAPS`` normalised 224x224 maps saved as ``<root>/<image_id>.npy`` and their metadata."""
    root = tmp_path_factory.mktemp("bench_maps")
    cams = random_scoremaps(N_MAPS, (14, 14), seed=0, kinds=["blobs", "cam14"]).astype(np.float64)
    d = root / "metadata" / "BENCH" / "test"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    ids, gt = [], {}
    for k, c in enumerate(cams):
        m = cv2.resize(c, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
        m = minmax_normalize(torch.from_numpy(m)).numpy()
        image_id = f"c{k % 4}/img{k:04d}.jpg"
        (root / "maps" / image_id).parent.mkdir(parents=True, exist_ok=True)
        np.save(root / "maps" / f"{image_id}.npy", m)
        x0, y0 = rng.integers(0, 150, 2)
        w, h = rng.integers(20, 70, 2)
        ids.append(image_id)
        gt[image_id] = [(int(x0), int(y0), int(x0 + w), int(y0 + h))]
    (d / "image_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    (d / "class_labels.txt").write_text("".join(f"{i},{k % 4}\n" for k, i in enumerate(ids)))
    (d / "image_sizes.txt").write_text("".join(f"{i},{SIZE},{SIZE}\n" for i in ids))
    (d / "localization.txt").write_text("".join(f"{i},{b[0]},{b[1]},{b[2]},{b[3]}\n" for i in ids for b in gt[i]))
    return root, ids, gt


def transcription(root, ids, gt, interval: float, multi: bool) -> float:
    maps = {i: np.load(root / "maps" / f"{i}.npy") for i in ids}
    curves = oe.box_accuracy(maps, gt, np.arange(0, 1, interval), [30, 50, 70], multi)
    return oe.headline(curves, multi)


@pytest.mark.parametrize("preset", ["wsolevaluation-cli", "wsolevaluation"])
@pytest.mark.parametrize("impl", ["wsolx-cpu", "wsolx-cuda", "transcription"])
def test_eval_maps(benchmark, saved, impl, preset):
    from wsolx.metrics import evaluate_scoremaps
    from wsolx.metrics.evaluate_maps import PRESETS

    root, ids, gt = saved
    st = PRESETS[preset]
    if impl == "transcription":

        def run():
            return transcription(root, ids, gt, st.cam_curve_interval, st.multi_contour)
    else:
        device = "cuda" if impl == "wsolx-cuda" else "cpu"
        if device not in devices():
            pytest.skip("no CUDA kernels")

        def run():
            res = evaluate_scoremaps(
                root / "maps", metadata_root=root / "metadata", dataset="BENCH", preset=preset, device=device
            )
            sync(device)
            return res["official"]

    value = run()  # also the warm-up; every implementation must give the same number
    assert value == pytest.approx(transcription(root, ids, gt, st.cam_curve_interval, st.multi_contour), abs=0)
    benchmark.group = f"eval-maps {preset} ({N_MAPS} maps)"
    benchmark.extra_info.update(impl=impl, maps=N_MAPS, preset=preset)
    benchmark.pedantic(run, rounds=(2 if QUICK else 3) if impl == "transcription" else (3 if QUICK else 5))
