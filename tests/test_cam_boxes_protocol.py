"""cam_boxes / cam_boxes_both / scoremap_boxes end to end against a transcription of the official
pipeline (tests/protocol_cv2.py: cv2.resize on the float64 CAM, normalize_scoremap in float64,
uint8 quantisation, then one cv2.threshold / findContours per threshold), on every map; on the
C++ extension and on the pure-PyTorch fallback. Also the one argument contract of every backend
(eager, torch.compile, fallback, the C++ op itself), the size limits checked before anything is
allocated, and the torch.library integration (opcheck, compile, export, TorchScript)."""

from __future__ import annotations

import resource

import numpy as np
import pytest
import torch

import wsolx
from wsolx.ops import boxes as boxes_mod
from wsolx.ops.boxes import MultiBoxes, cam_boxes, cam_boxes_both, scoremap_boxes

cv2 = pytest.importorskip("cv2")
from cam_cases import random_scoremaps  # noqa: E402
from protocol_cv2 import protocol_boxes, protocol_cam_boxes  # noqa: E402

BACKENDS = ["fallback"] + (["cpp"] if wsolx.has_extension() else [])
needs_ext = pytest.mark.skipif(not wsolx.has_extension(), reason="wsolx._C not built")
SWEEP = list(np.arange(0, 1, 0.01))


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    if request.param == "fallback":
        monkeypatch.setattr(boxes_mod, "has_extension", lambda: False)
    return request.param


def groups(mb: MultiBoxes) -> list:
    """Ragged output -> per (map, threshold) sorted list of box tuples."""
    boxes, counts = mb.boxes.cpu().tolist(), mb.counts.cpu().flatten().tolist()
    out, start = [], 0
    for c in counts:
        out.append(sorted(map(tuple, boxes[start : start + c])))
        start += c
    assert start == len(boxes)
    return out


def hard_cams(n: int, size, seed: int) -> np.ndarray:
    """Raw CAMs designed to sit on decision edges after the resize: near-ties between two peaks,
    plateaus (integer levels), ReLU'd noise with exact zeros, tiny dynamic ranges, huge offsets."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros((n, h, w))
    for i in range(n):
        kind = i % 6
        if kind == 0:  # two peaks of almost equal height: the largest contour flips on rounding
            a = np.exp(-((yy - rng.uniform(0, h)) ** 2 + (xx - rng.uniform(0, w / 2)) ** 2) / rng.uniform(1, 8))
            b = np.exp(-((yy - rng.uniform(0, h)) ** 2 + (xx - rng.uniform(w / 2, w)) ** 2) / rng.uniform(1, 8))
            out[i] = a + (1 + rng.uniform(-1e-6, 1e-6)) * b
        elif kind == 1:  # plateaus
            out[i] = rng.integers(0, rng.integers(2, 5), (h, w))
        elif kind == 2:  # ReLU'd noise
            out[i] = np.maximum(rng.standard_normal((h, w)), 0)
        elif kind == 3:  # tiny range on a large offset
            out[i] = 1e3 + 1e-9 * rng.random((h, w))
        elif kind == 4:  # smooth ramp: many pixels near every quantisation edge
            out[i] = rng.uniform(-1, 1) * yy + rng.uniform(-1, 1) * xx
        else:
            out[i] = (
                random_scoremaps(1, size, seed=seed + i, kinds=["cam14"])[0] if size == (14, 14) else rng.random((h, w))
            )
    return out.astype(np.float32)


def check_against_protocol(cams: np.ndarray, image_size, thresholds, percentile: float, box_rule="protocol") -> None:
    c = torch.from_numpy(cams)
    single = cam_boxes(c, thresholds, image_size=image_size, percentile=percentile, box_rule=box_rule).numpy()
    multi = groups(
        cam_boxes(c, thresholds, image_size=image_size, percentile=percentile, multi_box=True, box_rule=box_rule)
    )
    t = len(thresholds)
    for n in range(cams.shape[0]):
        ref1 = protocol_cam_boxes(cams[n], image_size, thresholds, percentile, False, box_rule=box_rule)
        refm = protocol_cam_boxes(cams[n], image_size, thresholds, percentile, True, box_rule=box_rule)
        assert single[n].tolist() == [b[0] for b in ref1], (n, percentile)
        assert multi[n * t : (n + 1) * t] == [sorted(map(tuple, b)) for b in refm], (n, percentile)


@pytest.mark.parametrize("percentile", [100.0, 90.0])
@pytest.mark.parametrize("cam_size", [(14, 14), (28, 28), (7, 9)])
def test_raw_cams_to_224_equal_protocol(backend, cam_size, percentile):
    cams = hard_cams(12 if backend == "cpp" else 3, cam_size, seed=cam_size[0] * 7 + int(percentile))
    check_against_protocol(cams, (224, 224), SWEEP, percentile)


@needs_ext
def test_kept_and_unkept_workspaces_in_turn():
    """The CPU kernel keeps each thread's workspace between calls up to 64 MiB and allocates a
    larger one per call: maps of sizes on both sides of that limit, in turn, all equal the protocol."""
    thresholds = [0.05, 0.3, 0.5, 0.7, 0.95]
    for image_size in [(224, 224), (840, 840), (64, 48), (840, 840), (300, 200)]:
        check_against_protocol(hard_cams(2, (14, 14), seed=image_size[0]), image_size, thresholds, 100.0)


@pytest.mark.parametrize(
    "cam_size,image_size",
    [
        ((1, 1), (5, 7)),
        ((1, 6), (20, 9)),
        ((5, 1), (3, 40)),
        ((9, 9), (9, 9)),
        ((30, 20), (12, 17)),
        ((3, 4), (64, 48)),
    ],
)
def test_many_sizes_equal_protocol(backend, cam_size, image_size):
    cams = hard_cams(12, cam_size, seed=image_size[0] + cam_size[1])
    check_against_protocol(cams, image_size, SWEEP + [-0.5, 0.35, 0.35, 1.0, 1.7], 90.0)
    check_against_protocol(cams, image_size, [0.0, 0.2, 0.5, 0.999], 100.0)


@pytest.mark.parametrize("cam_size", [(14, 14), (5, 8)])
def test_paper_box_rule(backend, cam_size):
    """rethinkingCAM's rule: [x, y, x + w, y + h] unclamped, no contour -> [0, 0, W, H]."""
    cams = hard_cams(8, cam_size, seed=3)
    cams[1] = 0.0  # constant map: every mask is empty
    thresholds = [0.0, 0.2, 0.35, 0.8, 1.0, 1.5]
    check_against_protocol(cams, (56, 40), thresholds, 100.0, box_rule="paper")
    check_against_protocol(cams, (56, 40), thresholds, 90.0, box_rule="paper")
    out = cam_boxes(torch.from_numpy(cams), thresholds, image_size=(56, 40), box_rule="paper")
    assert out[1].tolist() == [[0, 0, 40, 56]] * len(thresholds)
    assert int(out[..., 2].max()) == 40 and int(out[..., 3].max()) == 56  # full-image contours, unclamped
    protocol = cam_boxes(torch.from_numpy(cams), thresholds, image_size=(56, 40))
    assert int(protocol[..., 2].max()) == 39 and protocol[1].tolist() == [[0, 0, 0, 0]] * len(thresholds)


def test_scoremap_boxes_is_cam_boxes_at_image_size(backend):
    maps = random_scoremaps(10 if backend == "cpp" else 4, (24, 30), seed=4)
    thr = torch.tensor(SWEEP, dtype=torch.float64)
    a = scoremap_boxes(torch.from_numpy(maps), thr, 90.0)
    assert torch.equal(a, cam_boxes(torch.from_numpy(maps), thr, image_size=(24, 30), percentile=90.0))
    for n in range(maps.shape[0]):
        assert a[n].tolist() == [b[0] for b in protocol_boxes(maps[n], SWEEP, 90.0)]
    # float64 score maps are used as they are (no float32 rounding on the way)
    m64 = torch.from_numpy(maps.astype(np.float64) + 1e-12 * np.arange(24 * 30).reshape(24, 30))
    got = scoremap_boxes(m64, thr)
    for n in range(maps.shape[0]):
        assert got[n].tolist() == [b[0] for b in protocol_boxes(m64[n].numpy(), SWEEP)]


def test_both_equals_two_calls(backend):
    cams = torch.from_numpy(hard_cams(10, (14, 14), seed=8))
    size = (224, 224) if backend == "cpp" else (64, 64)
    for kwargs in ({}, {"percentile": 90.0}, {"box_rule": "paper"}, {"image_size": (40, 33)}):
        kwargs = {"image_size": size, **kwargs}
        one, mb = cam_boxes_both(cams, SWEEP, **kwargs)
        assert torch.equal(one, cam_boxes(cams, SWEEP, **kwargs))
        sep = cam_boxes(cams, SWEEP, multi_box=True, **kwargs)
        assert torch.equal(mb.counts, sep.counts) and groups(mb) == groups(sep)


def test_normalize_false_uses_saved_scoremaps(backend):
    """normalize=False: the map is a saved [0, 1] score map (the standalone evaluator)."""
    rng = np.random.default_rng(2)
    maps = (rng.random((6, 20, 24)) * rng.uniform(0.2, 1.0, (6, 1, 1))).astype(np.float64)
    maps[2] = 0.5  # constant: normalize=True would zero it, normalize=False keeps q = 127
    thr = [0.0, 0.3, 0.5, 0.9]
    got = cam_boxes(torch.from_numpy(maps), thr, image_size=(20, 24), normalize=False)
    for n in range(6):
        assert got[n].tolist() == [b[0] for b in protocol_boxes(maps[n], thr, normalize=False)], n
    assert got[2].tolist() == [[0, 0, 23, 19]] * 4  # q = 127 everywhere, int(t * 127) < 127
    assert not torch.equal(got, cam_boxes(torch.from_numpy(maps), thr, image_size=(20, 24)))


@pytest.mark.parametrize("bad,what", [(1.5, "outside"), (-0.25, "outside"), (float("nan"), "NaN")])
def test_normalize_false_rejects_bad_maps_naming_the_index(backend, bad, what):
    maps = torch.rand(5, 8, 8, dtype=torch.float64)
    maps[3, 2, 2] = bad
    for multi in (False, True):
        with pytest.raises(ValueError, match=f"score map 3 .*{what}"):
            cam_boxes(maps, [0.5], image_size=(8, 8), normalize=False, multi_box=multi)


def test_normalize_false_checks_the_resized_map(backend):
    """Bicubic overshoot takes a [0, 1] CAM outside [0, 1]: rejected after the resize, as the
    protocol's validity check would."""
    cam = torch.zeros(2, 6, 6, dtype=torch.float64)
    cam[1, 2:4, 2:4] = 1.0
    with pytest.raises(ValueError, match="score map 1 has values outside"):
        cam_boxes(cam, [0.5], image_size=(24, 24), normalize=False)


# ----------------------------------------------------------------------------------------------
# One contract for every backend (issue 16 items 8 and 9)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("thresholds", [[float("nan")], [0.2, float("inf")], [-float("inf")], []])
def test_bad_thresholds_raise_everywhere(backend, thresholds):
    cams = torch.rand(2, 14, 14)
    for multi in (False, True):
        with pytest.raises(ValueError, match="finite|empty"):
            cam_boxes(cams, thresholds, multi_box=multi)
    with pytest.raises(ValueError, match="finite|empty"):
        cam_boxes_both(cams, thresholds)
    with pytest.raises(ValueError, match="finite|empty"):
        scoremap_boxes(cams, torch.tensor(thresholds, dtype=torch.float64))


@needs_ext
@pytest.mark.parametrize("thresholds", [[float("nan")], [0.2, float("inf")], []])
def test_bad_thresholds_raise_in_the_cpp_op_and_under_compile(thresholds):
    cams = torch.rand(2, 14, 14)
    thr = torch.tensor(thresholds, dtype=torch.float64)
    for op in (torch.ops.wsolx.cam_boxes, torch.ops.wsolx.cam_all_boxes, torch.ops.wsolx.cam_boxes_both):
        with pytest.raises(ValueError, match="thresholds"):
            op(cams, thr, 224, 224, 100.0, True, "protocol")
    if thresholds:  # an empty list is rejected while tracing (static shape)
        torch._dynamo.reset()
        compiled = torch.compile(lambda c, t: cam_boxes(c, t), fullgraph=True, backend="eager")
        with pytest.raises(ValueError, match="finite"):
            compiled(cams, thr)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@pytest.mark.parametrize("size", [(40000, 40000), (32767, 32767), (16384, 16384), (0, 224), (224, 32768)])
def test_huge_image_size_fails_before_allocating(backend, size):
    """The issue's reproducer: 40000^2 used to allocate 6.4 GB (C++) or OOM (fallback) first."""
    cams = torch.rand(4, 14, 14)
    before = _peak_rss_mb()
    for call in (
        lambda: cam_boxes(cams, [0.5], image_size=size),
        lambda: cam_boxes(cams, [0.5], image_size=size, multi_box=True),
        lambda: cam_boxes_both(cams, [0.5], image_size=size),
        lambda: boxes_mod.upsample_scoremaps(cams, size),
    ):
        with pytest.raises(ValueError, match="image_size"):
            call()
    assert _peak_rss_mb() - before < 64


@needs_ext
def test_cpp_op_checks_sizes_first():
    cams = torch.rand(2, 14, 14)
    thr = torch.tensor([0.5], dtype=torch.float64)
    before = _peak_rss_mb()
    for op in (torch.ops.wsolx.cam_boxes, torch.ops.wsolx.cam_all_boxes, torch.ops.wsolx.cam_boxes_both):
        with pytest.raises(ValueError, match="image_size"):
            op(cams, thr, 40000, 40000, 100.0, True, "protocol")
    with pytest.raises(ValueError, match="image_size"):
        torch.ops.wsolx.resize_cubic(cams, 40000, 40000, True)
    assert _peak_rss_mb() - before < 64
    with pytest.raises(ValueError, match="CAM size"):
        torch.ops.wsolx.cam_boxes(torch.rand(1, 1, 40000), thr, 224, 224, 100.0, True, "protocol")


def test_fallback_processes_large_batches_in_bounded_chunks(monkeypatch):
    """No (N, H, W) intermediate: the fallback resizes at most _FALLBACK_CHUNK_PIXELS at once."""
    from wsolx.ops import _cubic_reference

    cams = torch.from_numpy(hard_cams(23, (7, 7), seed=1))
    expected_single = cam_boxes(cams, SWEEP, image_size=(32, 32))
    expected_multi = groups(cam_boxes(cams, SWEEP, image_size=(32, 32), multi_box=True))
    monkeypatch.setattr(boxes_mod, "has_extension", lambda: False)
    monkeypatch.setattr(boxes_mod, "_FALLBACK_CHUNK_PIXELS", 5 * 32 * 32)
    seen = []
    real = _cubic_reference.resize_cubic

    def spy(maps, size):
        seen.append(maps.size(0))
        return real(maps, size)

    monkeypatch.setattr(_cubic_reference, "resize_cubic", spy)
    assert torch.equal(cam_boxes(cams, SWEEP, image_size=(32, 32)), expected_single)
    assert groups(cam_boxes(cams, SWEEP, image_size=(32, 32), multi_box=True)) == expected_multi
    assert max(seen) == 5 and sum(seen) == 2 * 23


# ----------------------------------------------------------------------------------------------
# torch.library integration
# ----------------------------------------------------------------------------------------------


@needs_ext
def test_opcheck_all_ops():
    cams = torch.from_numpy(hard_cams(4, (7, 9), seed=2))
    thr = torch.tensor([0.1, 0.5], dtype=torch.float64)
    for rule in ("protocol", "paper"):
        args = (cams, thr, 30, 20, 90.0, True, rule)
        torch.library.opcheck(torch.ops.wsolx.cam_boxes.default, args)
        for op in (torch.ops.wsolx.cam_all_boxes.default, torch.ops.wsolx.cam_boxes_both.default):
            torch.library.opcheck(op, args, test_utils=("test_schema", "test_faketensor"))
    torch.library.opcheck(torch.ops.wsolx.resize_cubic.default, (cams, 30, 20, True))
    torch.library.opcheck(torch.ops.wsolx.resize_cubic.default, (cams.double(), 7, 9, False))


@needs_ext
def test_compile_export_and_torchscript():
    cams = torch.from_numpy(hard_cams(3, (7, 7), seed=5))
    thr = torch.tensor(SWEEP, dtype=torch.float64)
    eager = cam_boxes(cams, thr, image_size=(40, 40), box_rule="paper")
    torch._dynamo.reset()
    compiled = torch.compile(
        lambda c: cam_boxes(c, thr, image_size=(40, 40), box_rule="paper"), fullgraph=True, backend="aot_eager"
    )
    assert torch.equal(compiled(cams), eager)

    class Boxes(torch.nn.Module):
        def forward(self, c: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return torch.ops.wsolx.cam_boxes(c, t, 40, 40, 100.0, True, "paper")

    ep = torch.export.export(Boxes(), (cams, thr))
    assert torch.equal(ep.module()(cams, thr), eager)
    scripted = torch.jit.script(Boxes())
    assert torch.equal(scripted(cams, thr), eager)
