"""cam_boxes / scoremap_boxes: the fused kernels against an OpenCV implementation of the protocol
(bit-exact), against the pure-PyTorch fallback, and the torch.library integration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wsolx
from wsolx.ops._boxes_reference import scoremap_boxes_reference
from wsolx.ops.boxes import MultiBoxes, cam_boxes, scoremap_boxes

cv2 = pytest.importorskip("cv2")
from cam_cases import KINDS, random_scoremaps  # noqa: E402
from protocol_cv2 import protocol_boxes, protocol_cam_boxes  # noqa: E402

needs_ext = pytest.mark.skipif(not wsolx.has_extension(), reason="wsolx._C not built")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() and wsolx.has_extension() else [])


def groups(mb: MultiBoxes) -> list:
    """Ragged output -> per (map, threshold) sorted list of box tuples."""
    boxes, counts = mb.boxes.cpu().tolist(), mb.counts.cpu().flatten().tolist()
    out, start = [], 0
    for c in counts:
        out.append(sorted(map(tuple, boxes[start : start + c])))
        start += c
    return out


def assert_equals_protocol(maps: np.ndarray, thresholds, percentile: float, device: str) -> None:
    s = torch.from_numpy(maps).to(device)
    thr = torch.tensor(thresholds, dtype=torch.float64)
    single = scoremap_boxes(s, thr, percentile, False).cpu().numpy()
    multi = groups(scoremap_boxes(s, thr, percentile, True))
    T = len(thresholds)
    for n in range(maps.shape[0]):
        ref_single = protocol_boxes(maps[n], thresholds, percentile, multi_box=False)
        ref_multi = protocol_boxes(maps[n], thresholds, percentile, multi_box=True)
        got = single[n].tolist()
        for j in range(T):
            assert got[j] == ref_single[j][0], (n, j, got[j], ref_single[j])
            assert multi[n * T + j] == sorted(map(tuple, ref_multi[j])), (n, j)


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("percentile", [100.0, 90.0])
@pytest.mark.parametrize("size", [(1, 1), (1, 9), (7, 1), (2, 2), (9, 13), (24, 24), (31, 17)])
def test_kernel_equals_opencv_small(device, percentile, size):
    """Every kind of map (blobs, noise, rings, islands in holes, lines, ties, constant, NaN/inf)."""
    maps = random_scoremaps(3 * len(KINDS), size, seed=hash(size) % 1000 + int(percentile))
    thresholds = list(np.arange(0, 1, 0.05)) + [0.2, 0.2, 0.35, 0.0, 0.999]  # duplicates on purpose
    assert_equals_protocol(maps, thresholds, percentile, device)


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
def test_kernel_equals_opencv_many_maps(device):
    """Thousands of maps in one batch (single mode; multi mode is covered above)."""
    maps = random_scoremaps(2000, (16, 20), seed=5)
    thresholds = np.arange(0, 1, 0.1)
    got = scoremap_boxes(torch.from_numpy(maps).to(device), torch.tensor(thresholds), 100.0).cpu().numpy()
    for n in range(maps.shape[0]):
        ref = [b[0] for b in protocol_boxes(maps[n], thresholds, 100.0)]
        assert got[n].tolist() == ref, n


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("size", [(224, 224), (160, 288)])
def test_kernel_equals_opencv_full_size(device, size):
    maps = random_scoremaps(len(KINDS), size, seed=9)
    assert_equals_protocol(maps, list(np.arange(0, 1, 0.01)), 100.0, device)


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
def test_kernel_equals_fallback(device):
    maps = torch.from_numpy(random_scoremaps(2 * len(KINDS), (28, 28), seed=21)).to(device)
    thr = torch.tensor(np.arange(0, 1, 0.02), dtype=torch.float64, device=device)
    for percentile in (100.0, 90.0, 50.0):
        ref = scoremap_boxes_reference(maps, thr, percentile, False)
        torch.testing.assert_close(scoremap_boxes(maps, thr, percentile), ref, rtol=0, atol=0)
        rb, rc = scoremap_boxes_reference(maps, thr, percentile, True)
        mb = scoremap_boxes(maps, thr, percentile, True)
        torch.testing.assert_close(mb.counts, rc, rtol=0, atol=0)
        assert groups(mb) == groups(MultiBoxes(rb, rc))


def test_cam_boxes_upsamples_like_protocol():
    """Raw 14x14 CAMs: identical to the protocol's cv2.resize(float64, INTER_CUBIC) pipeline."""
    cams = torch.from_numpy(random_scoremaps(12, (14, 14), seed=2, kinds=["blobs", "cam14"]))
    thresholds = np.arange(0, 1, 0.01)
    got = cam_boxes(cams, thresholds, image_size=(224, 224))
    assert got.shape == (12, 100, 4) and got.dtype == torch.int64
    for n in range(12):
        expected = [b[0] for b in protocol_cam_boxes(cams[n].numpy(), (224, 224), thresholds)]
        assert got[n].tolist() == expected, n


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_cam_boxes_dtypes_and_shapes(dtype):
    cams = torch.from_numpy(random_scoremaps(3, (7, 7), seed=4, kinds=["blobs"])).to(dtype)
    out = cam_boxes(cams, [0.2], image_size=(32, 48))
    assert out.shape == (3, 1, 4)
    assert (out[..., 2] <= 47).all() and (out[..., 3] <= 31).all()
    mb = cam_boxes(cams, [0.1, 0.5], image_size=(32, 48), multi_box=True)
    assert mb.counts.shape == (3, 2) and (mb.counts >= 1).all()
    assert mb.boxes.shape == (int(mb.counts.sum()), 4)
    assert mb.group_index().shape == (mb.boxes.shape[0],)


def test_cam_boxes_empty_batch_and_empty_masks():
    assert cam_boxes(torch.zeros(0, 14, 14), [0.5]).shape == (0, 1, 4)
    const = torch.ones(2, 14, 14)
    assert cam_boxes(const, [0.0, 0.5]).tolist() == [[[0, 0, 0, 0]] * 2] * 2
    nan = torch.rand(1, 14, 14)
    nan[0, 3, 3] = float("nan")
    assert cam_boxes(nan, [0.5]).tolist() == [[[0, 0, 0, 0]]]
    mb = cam_boxes(const, [0.5], multi_box=True)
    assert mb.counts.tolist() == [[1], [1]] and mb.boxes.tolist() == [[0, 0, 0, 0]] * 2


def test_cam_boxes_bad_inputs():
    with pytest.raises(ValueError, match=r"\(N, h, w\)"):
        cam_boxes(torch.rand(14, 14), [0.5])
    with pytest.raises(TypeError, match="floating"):
        cam_boxes(torch.ones(1, 14, 14, dtype=torch.int64), [0.5])
    with pytest.raises(ValueError, match="finite"):
        cam_boxes(torch.rand(1, 14, 14), [float("nan")])
    with pytest.raises(ValueError, match="empty"):
        cam_boxes(torch.rand(1, 14, 14), [])
    with pytest.raises(ValueError, match="percentile"):
        cam_boxes(torch.rand(1, 14, 14), [0.5], percentile=120)
    with pytest.raises(ValueError, match="image_size"):
        cam_boxes(torch.rand(1, 14, 14), [0.5], image_size=(0, 5))


OP_ARGS = (224, 224, 100.0, True, "protocol")


@needs_ext
def test_op_checks_in_cpp():
    thr = torch.tensor([0.5], dtype=torch.float64)
    with pytest.raises(RuntimeError, match="float32 or float64"):
        torch.ops.wsolx.cam_boxes(torch.rand(1, 4, 4).half(), thr, *OP_ARGS)
    with pytest.raises(RuntimeError, match="float64"):
        torch.ops.wsolx.cam_boxes(torch.rand(1, 4, 4), torch.tensor([0.5]), *OP_ARGS)
    with pytest.raises(ValueError, match="box_rule"):
        torch.ops.wsolx.cam_boxes(torch.rand(1, 4, 4), thr, 224, 224, 100.0, True, "other")


@needs_ext
def test_opcheck_and_compile():
    maps = torch.from_numpy(random_scoremaps(4, (12, 12), seed=1, kinds=["blobs", "rings"]))
    thr = torch.tensor([0.1, 0.5], dtype=torch.float64)
    args = (maps, thr, 24, 20, 90.0, True, "protocol")
    torch.library.opcheck(torch.ops.wsolx.cam_boxes.default, args)
    for op in (torch.ops.wsolx.cam_all_boxes.default, torch.ops.wsolx.cam_boxes_both.default):
        torch.library.opcheck(op, args, test_utils=("test_schema", "test_faketensor"))
    torch._dynamo.reset()
    compiled = torch.compile(lambda c: cam_boxes(c, thr, image_size=(24, 24)), fullgraph=True, backend="eager")
    cams = torch.rand(3, 6, 6)
    assert torch.equal(compiled(cams), cam_boxes(cams, thr, image_size=(24, 24)))


def _disc_pair_with_hole(rng: np.random.Generator, size=(64, 96)) -> np.ndarray:
    """Two compact discs, one with a small hole, of nearly equal area: which one is the largest
    contour depends on the hole-filled area (the kernel's area bounds and exact fill)."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros(size, dtype=np.float32)
    r1 = rng.uniform(10, 16)
    r2 = r1 + rng.uniform(-1.5, 1.5)
    c1 = (rng.uniform(r1 + 1, h - r1 - 1), rng.uniform(r1 + 1, w / 2 - 1))
    c2 = (rng.uniform(r2 + 1, h - r2 - 1), rng.uniform(w / 2 + 1, w - r2 - 1))
    out[(yy - c1[0]) ** 2 + (xx - c1[1]) ** 2 <= r1**2] = 1.0
    out[(yy - c2[0]) ** 2 + (xx - c2[1]) ** 2 <= r2**2] = 1.0
    hr = rng.uniform(0.6, 4.0)  # hole radius
    hy, hx = c1[0] + rng.uniform(-3, 3), c1[1] + rng.uniform(-3, 3)
    out[(yy - hy) ** 2 + (xx - hx) ** 2 <= hr**2] = 0.0
    if rng.random() < 0.5:  # an island inside the hole
        out[int(round(hy)), int(round(hx))] = 1.0
    return out + 0.001 * rng.random(size).astype(np.float32)  # several levels, same structure


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
def test_kernel_holed_components_compete(device):
    """Components with holes against hole-less ones of almost the same area: the winner needs
    the exact hole-filled area in about half of the cases (checked below with cv2)."""
    rng = np.random.default_rng(7)
    maps = np.stack([_disc_pair_with_hole(rng) for _ in range(200)])
    decided_by_filling = 0
    for m in maps:
        mask = (m > 0.5).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        if len(contours) == 2:
            filled = sorted(cv2.contourArea(c) for c in contours)
            decided_by_filling += int(filled[0] != filled[1])
    assert decided_by_filling > 100
    assert_equals_protocol(maps, [0.0, 0.3, 0.5, 0.9], 100.0, device)


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
def test_kernel_equals_opencv_more_than_65536_pixels(device):
    maps = random_scoremaps(4, (260, 270), seed=11, kinds=["blobs", "cam14", "rings", "binary_noise"])
    assert_equals_protocol(maps, list(np.arange(0, 1, 0.1)), 100.0, device)


@needs_ext
def test_kernel_batch_equals_one_map_at_a_time():
    """Maps of very different cost in one batch, on several threads: the same boxes as one by one."""
    maps = torch.from_numpy(random_scoremaps(48, (64, 64), seed=13))
    thr = torch.tensor(np.arange(0, 1, 0.01))
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        batch = scoremap_boxes(maps, thr)
        multi = scoremap_boxes(maps, thr, multi_box=True)
    finally:
        torch.set_num_threads(previous)
    for n in range(maps.size(0)):
        assert torch.equal(batch[n], scoremap_boxes(maps[n : n + 1], thr)[0])
    one_by_one = [groups(scoremap_boxes(maps[n : n + 1], thr, multi_box=True)) for n in range(maps.size(0))]
    assert groups(multi) == [g for per_map in one_by_one for g in per_map]
