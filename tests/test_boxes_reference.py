"""Tests of the pure-PyTorch CAM -> boxes reference against numpy and an OpenCV protocol."""

from __future__ import annotations

import itertools
from typing import List, Sequence

import cv2
import numpy as np
import pytest
import torch
from cam_cases import KINDS, TOPOLOGY_KINDS, random_scoremaps  # tests/ is on sys.path under pytest
from protocol_cv2 import protocol_boxes, protocol_boxes_batch, quantize

from wsolx.ops import _boxes_reference as ref


@pytest.fixture(autouse=True)
def _one_thread():
    """The reference runs many small ops: one intra-op thread is faster on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# The usual sweep plus duplicates, a negative threshold (full mask) and t >= 1 (empty for PaS).
THRESHOLDS = np.concatenate([np.arange(0.0, 1.0, 0.05), [0.5, 0.5, 0.0, 0.35, -0.1, 1.0, 1.5]])


def _torch_thresholds(thresholds: Sequence[float]) -> torch.Tensor:
    return torch.tensor(np.asarray(thresholds, dtype=np.float64))


def _split_groups(boxes: torch.Tensor, counts: torch.Tensor) -> List[List[List[List[int]]]]:
    """Ragged multi-box output -> per map, per threshold, sorted list of boxes."""
    flat = counts.flatten().tolist()
    rows = boxes.tolist()
    out, pos = [], 0
    for n in range(counts.size(0)):
        per_t = []
        for j in range(counts.size(1)):
            c = flat[n * counts.size(1) + j]
            per_t.append(sorted(rows[pos : pos + c]))
            pos += c
        out.append(per_t)
    assert pos == len(rows)
    return out


def _compare_with_protocol(maps: np.ndarray, thresholds: np.ndarray, percentile: float, multi_box: bool) -> None:
    out = ref.scoremap_boxes_reference(torch.from_numpy(maps), _torch_thresholds(thresholds), percentile, multi_box)
    if not multi_box:
        expected = protocol_boxes_batch(maps, thresholds, percentile)
        assert out.dtype == torch.int64 and tuple(out.shape) == expected.shape
        bad = np.argwhere((out.numpy() != expected).any(axis=2))
        assert bad.size == 0, (
            f"{len(bad)} single boxes differ, first map {bad[0][0]} t={thresholds[bad[0][1]]}: "
            f"got {out[bad[0][0], bad[0][1]].tolist()}, cv2 {expected[bad[0][0], bad[0][1]].tolist()}"
        )
        return
    boxes, counts = out
    assert boxes.dtype == torch.int64 and counts.dtype == torch.int64
    assert tuple(counts.shape) == (maps.shape[0], len(thresholds)) and bool((counts >= 1).all())
    got = _split_groups(boxes, counts)
    for i in range(maps.shape[0]):
        expected = [sorted(b) for b in protocol_boxes(maps[i], thresholds, percentile, multi_box=True)]
        for j in range(len(thresholds)):
            assert got[i][j] == expected[j], f"map {i} t={thresholds[j]}: got {got[i][j]}, cv2 {expected[j]}"


# ----------------------------------------------------------------------------------------------
# Quantisation, standard value, levels
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1, 1), (1, 9), (7, 1), (2, 2), (17, 23), (64, 64)])
def test_quantize_matches_numpy(size):
    maps = random_scoremaps(45, size, seed=11)
    got = ref.quantize_scoremaps(torch.from_numpy(maps))
    assert got.dtype == torch.uint8 and tuple(got.shape) == maps.shape
    expected = np.stack([quantize(m) for m in maps])
    np.testing.assert_array_equal(got.numpy(), expected)


def test_quantize_degenerate_maps_are_zero():
    maps = np.stack(
        [
            np.full((5, 6), 3.0),
            np.where(np.eye(5, 6) > 0, np.nan, 1.0),
            np.where(np.eye(5, 6) > 0, np.inf, 1.0),
            np.where(np.eye(5, 6) > 0, -np.inf, 1.0),
        ]
    ).astype(np.float32)
    assert int(ref.quantize_scoremaps(torch.from_numpy(maps)).max()) == 0


def test_quantize_extremes():
    x = np.array([[[-3.4e38, 3.4e38, 0.0, 1e-45]], [[0.0, 1e-45, 2e-45, 0.0]]], dtype=np.float32)
    got = ref.quantize_scoremaps(torch.from_numpy(x)).numpy()
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(got, np.stack([quantize(m) for m in x]))


@pytest.mark.parametrize("percentile", [0.0, 10.0, 50.0, 90.0, 99.5, 100.0, 33.3, 62.5, 99.99, 0.01])
def test_standard_values_match_np_percentile(percentile):
    q = np.concatenate(
        [
            np.stack([quantize(m) for m in random_scoremaps(30, (13, 17), seed=5)]),
            np.random.default_rng(1).integers(0, 256, (10, 13, 17), dtype=np.uint8),
            np.random.default_rng(2).integers(0, 3, (10, 13, 17), dtype=np.uint8),
        ]
    )
    got = ref.standard_values(torch.from_numpy(q), percentile)
    assert got.dtype == torch.float64
    expected = np.array([float(m.max()) if percentile >= 100 else np.percentile(m, percentile) for m in q])
    # Bit for bit: compare the float64 bit patterns.
    np.testing.assert_array_equal(got.numpy().view(np.int64), expected.astype(np.float64).view(np.int64))


@pytest.mark.parametrize("size", [(1, 1), (1, 2), (2, 1), (3, 3), (224, 224)])
def test_standard_values_small_and_large(size):
    rng = np.random.default_rng(size[0] * 1000 + size[1])
    q = rng.integers(0, 256, (6,) + size, dtype=np.uint8)
    for p in (0.0, 10.0, 50.0, 90.0, 99.5, 100.0):
        got = ref.standard_values(torch.from_numpy(q), p).numpy()
        expected = np.array([float(m.max()) if p >= 100 else np.percentile(m, p) for m in q])
        np.testing.assert_array_equal(got.view(np.int64), expected.view(np.int64))


def test_standard_values_random_percentiles():
    rng = np.random.default_rng(99)
    q = np.stack([quantize(m) for m in random_scoremaps(8, (15, 19), seed=6)])
    for p in np.concatenate([rng.uniform(0, 100, 150), rng.integers(0, 101, 20).astype(np.float64)]):
        got = ref.standard_values(torch.from_numpy(q), float(p)).numpy()
        expected = np.array([float(m.max()) if p >= 100 else np.percentile(m, float(p)) for m in q])
        np.testing.assert_array_equal(got.view(np.int64), expected.view(np.int64), err_msg=f"p={p!r}")


def test_threshold_levels_match_python_int():
    standard = torch.tensor([0.0, 1.0, 7.5, 100.0, 229.5, 255.0], dtype=torch.float64)
    thresholds = [-1e300, -2.0, -0.1, -0.0, 0.0, 0.2, 0.35, 0.5, 0.7, 0.99, 1.0, 1.5, 1e300]
    thresholds += list(np.arange(0, 1, 0.01))
    got = ref.threshold_levels(standard, torch.tensor(thresholds, dtype=torch.float64))
    assert got.dtype == torch.int64
    for i, p in enumerate(standard.tolist()):
        for j, t in enumerate(thresholds):
            expected = min(max(int(t * p) + 1, 0), 256)
            assert int(got[i, j]) == expected, (p, t)


# ----------------------------------------------------------------------------------------------
# Boxes against the OpenCV protocol
# ----------------------------------------------------------------------------------------------

BULK_SIZES = [(8, 8), (12, 12), (16, 16), (9, 23), (31, 17), (24, 24), (40, 40)]


@pytest.mark.parametrize("multi_box", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("percentile", [100.0, 90.0])
@pytest.mark.parametrize("size", BULK_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_matches_protocol_bulk(size, percentile, multi_box):
    maps = random_scoremaps(64, size, seed=size[0] * 131 + size[1] + int(percentile))
    _compare_with_protocol(maps, THRESHOLDS, percentile, multi_box)


@pytest.mark.parametrize("multi_box", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("size", [(1, 1), (1, 2), (2, 1), (1, 13), (11, 1), (2, 2), (3, 3), (2, 7), (5, 3)])
def test_matches_protocol_tiny(size, multi_box):
    maps = random_scoremaps(30, size, seed=size[0] * 7 + size[1])
    for percentile in (100.0, 90.0, 50.0):
        _compare_with_protocol(maps, THRESHOLDS, percentile, multi_box)


@pytest.mark.parametrize("multi_box", [False, True], ids=["single", "multi"])
def test_matches_protocol_224(multi_box):
    kinds = ["blobs", "cam14", "rings", "annuli", "symmetric", "binary_noise", "spiral", "checker"]
    maps = random_scoremaps(len(kinds), 224, seed=224, kinds=kinds)
    _compare_with_protocol(maps[:4], THRESHOLDS, 100.0, multi_box)
    _compare_with_protocol(maps[4:], THRESHOLDS[::3], 90.0, multi_box)


@pytest.mark.parametrize("size", [(4, 4), (3, 4), (2, 6), (1, 12), (12, 1)])
def test_matches_protocol_all_binary_masks(size):
    """Every binary pattern of a small image (all topologies of that size), both modes."""
    h, w = size
    bits = np.array(list(itertools.product([0, 1], repeat=h * w)), dtype=np.uint8).reshape(-1, h, w)
    thr = _torch_thresholds([0.0])
    maps = torch.from_numpy(bits.astype(np.float32))
    single = ref.scoremap_boxes_reference(maps, thr, 100.0, False)[:, 0].tolist()
    boxes, counts = ref.scoremap_boxes_reference(maps, thr, 100.0, True)
    multi = _split_groups(boxes, counts)
    # The protocol at t = 0 is findContours(q > 0) with q > 0 <=> bit set, except for the constant
    # all-ones map, which normalises to zeros (asserted against the full protocol just below).
    masks = bits * 255
    masks[bits.reshape(len(bits), -1).all(axis=1)] = 0
    assert protocol_boxes(bits[-1].astype(np.float32), [0.0]) == [[[0, 0, 0, 0]]]
    for i, mask in enumerate(masks):
        contours, _ = cv2.findContours(mask, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
        rects = [cv2.boundingRect(c) for c in contours]
        expected = [[x, y, min(x + cw, w - 1), min(y + ch, h - 1)] for x, y, cw, ch in rects] or [[0, 0, 0, 0]]
        assert multi[i][0] == sorted(expected), bits[i]
        best = max(range(len(contours)), key=lambda j: cv2.contourArea(contours[j])) if contours else 0
        assert single[i] == expected[best], bits[i]


def test_matches_protocol_non_square_topology():
    maps = random_scoremaps(48, (21, 47), seed=3, kinds=TOPOLOGY_KINDS)
    for multi_box in (False, True):
        _compare_with_protocol(maps, THRESHOLDS, 100.0, multi_box)


# ----------------------------------------------------------------------------------------------
# Output structure, chunking, devices
# ----------------------------------------------------------------------------------------------


def test_multi_box_structure_and_consistency():
    maps = random_scoremaps(30, (20, 20), seed=9)
    thr = _torch_thresholds(THRESHOLDS)
    single = ref.scoremap_boxes_reference(torch.from_numpy(maps), thr, 100.0, False)
    boxes, counts = ref.scoremap_boxes_reference(torch.from_numpy(maps), thr, 100.0, True)
    assert int(counts.sum()) == boxes.size(0)
    groups = _split_groups(boxes, counts)
    rows = THRESHOLDS.tolist()
    for i in range(len(maps)):
        for j in range(len(rows)):
            assert single[i, j].tolist() in groups[i][j]  # the largest component is one of them
            assert groups[i][j] == groups[i][rows.index(rows[j])]  # duplicate thresholds agree


def test_chunking_does_not_change_results(monkeypatch):
    maps = torch.from_numpy(random_scoremaps(6, (18, 26), seed=4))
    thr = _torch_thresholds(THRESHOLDS)
    single = ref.scoremap_boxes_reference(maps, thr, 90.0, False)
    boxes, counts = ref.scoremap_boxes_reference(maps, thr, 90.0, True)
    monkeypatch.setattr(ref, "_MAX_CHUNK_PIXELS", 1)  # one mask per chunk
    assert torch.equal(ref.scoremap_boxes_reference(maps, thr, 90.0, False), single)
    boxes2, counts2 = ref.scoremap_boxes_reference(maps, thr, 90.0, True)
    assert torch.equal(boxes2, boxes) and torch.equal(counts2, counts)


def test_empty_batches():
    thr = _torch_thresholds([0.2, 0.5])
    assert tuple(ref.scoremap_boxes_reference(torch.zeros(0, 5, 5), thr, 100.0, False).shape) == (0, 2, 4)
    boxes, counts = ref.scoremap_boxes_reference(torch.zeros(0, 5, 5), thr, 100.0, True)
    assert tuple(boxes.shape) == (0, 4) and tuple(counts.shape) == (0, 2)
    # One contract on every backend: empty thresholds are an error (tests/test_cam_boxes_protocol.py).
    with pytest.raises(ValueError, match="empty"):
        ref.scoremap_boxes_reference(torch.rand(3, 5, 5), _torch_thresholds([]), 100.0, False)


def test_public_api_matches_protocol():
    from wsolx.ops import scoremap_boxes

    maps = random_scoremaps(16, (24, 30), seed=21)
    thr = _torch_thresholds(THRESHOLDS)
    got = scoremap_boxes(torch.from_numpy(maps), thr, 100.0)
    np.testing.assert_array_equal(got.numpy(), protocol_boxes_batch(maps, THRESHOLDS, 100.0))
    multi = scoremap_boxes(torch.from_numpy(maps), thr, 90.0, multi_box=True)
    groups = _split_groups(multi.boxes, multi.counts)
    for i in range(len(maps)):
        assert groups[i] == [sorted(b) for b in protocol_boxes(maps[i], THRESHOLDS, 90.0, multi_box=True)]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    maps = torch.from_numpy(random_scoremaps(40, (33, 29), seed=8))
    thr = _torch_thresholds(THRESHOLDS)
    for percentile in (100.0, 90.0):
        cpu = ref.scoremap_boxes_reference(maps, thr, percentile, False)
        gpu = ref.scoremap_boxes_reference(maps.cuda(), thr.cuda(), percentile, False)
        assert gpu.device.type == "cuda" and torch.equal(gpu.cpu(), cpu)
        boxes, counts = ref.scoremap_boxes_reference(maps, thr, percentile, True)
        gboxes, gcounts = ref.scoremap_boxes_reference(maps.cuda(), thr.cuda(), percentile, True)
        assert torch.equal(gboxes.cpu(), boxes) and torch.equal(gcounts.cpu(), counts)
    assert torch.equal(ref.quantize_scoremaps(maps.cuda()).cpu(), ref.quantize_scoremaps(maps))


# ----------------------------------------------------------------------------------------------
# Bad inputs
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 5), (1, 1, 5, 5), (5,)])
def test_bad_dims(shape):
    thr = _torch_thresholds([0.5])
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        ref.scoremap_boxes_reference(torch.rand(shape), thr, 100.0, False)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        ref.quantize_scoremaps(torch.rand(shape))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        ref.standard_values(torch.zeros(shape, dtype=torch.uint8), 90.0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int32, torch.uint8, torch.bool])
def test_bad_scoremap_dtype(dtype):
    with pytest.raises(TypeError, match="float32 or float64"):
        ref.scoremap_boxes_reference(torch.zeros(2, 4, 4, dtype=dtype), _torch_thresholds([0.5]), 100.0, False)
    with pytest.raises(TypeError, match="float32 or float64"):
        ref.quantize_scoremaps(torch.zeros(2, 4, 4, dtype=dtype))


def test_bad_thresholds_and_percentile():
    maps = torch.rand(2, 4, 4)
    with pytest.raises(TypeError, match="float64"):
        ref.scoremap_boxes_reference(maps, torch.tensor([0.5], dtype=torch.float32), 100.0, False)
    with pytest.raises(ValueError, match="1-D"):
        ref.scoremap_boxes_reference(maps, torch.tensor([[0.5]], dtype=torch.float64), 100.0, False)
    with pytest.raises(ValueError, match="finite"):
        ref.scoremap_boxes_reference(maps, torch.tensor([float("nan")], dtype=torch.float64), 100.0, False)
    for p in (-1.0, 100.5, float("nan")):
        with pytest.raises(ValueError, match="percentile"):
            ref.scoremap_boxes_reference(maps, _torch_thresholds([0.5]), p, False)
    with pytest.raises(ValueError, match="empty image"):
        ref.scoremap_boxes_reference(torch.zeros(2, 0, 4), _torch_thresholds([0.5]), 100.0, False)
    with pytest.raises(TypeError, match="uint8"):
        ref.standard_values(torch.zeros(2, 4, 4), 90.0)
    with pytest.raises(TypeError, match="float64"):
        ref.threshold_levels(torch.zeros(2), torch.zeros(3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_mismatch():
    with pytest.raises(ValueError, match="cuda|cpu"):
        ref.scoremap_boxes_reference(torch.rand(2, 4, 4), _torch_thresholds([0.5]).cuda(), 100.0, False)


def test_kinds_are_deterministic_and_float32():
    a = random_scoremaps(len(KINDS), (9, 11), seed=123)
    b = random_scoremaps(len(KINDS), (9, 11), seed=123)
    assert a.dtype == np.float32 and a.shape == (len(KINDS), 9, 11)
    np.testing.assert_array_equal(a, b)  # NaNs compare equal here
