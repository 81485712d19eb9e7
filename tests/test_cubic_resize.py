"""The float64 bicubic upsampler against cv2.resize(float64, INTER_CUBIC), bit for bit.

Both implementations: the C++ kernel (``wsolx::resize_cubic``, the code of
``csrc/ops/cubic_resize.h`` that the box kernels run per map) and the torch float64 fallback
(``wsolx/ops/_cubic_reference.py``). Equality is ``np.array_equal``: no tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wsolx
from wsolx.ops import _cubic_reference
from wsolx.ops.boxes import upsample_scoremaps

cv2 = pytest.importorskip("cv2")
from protocol_cv2 import normalize_scoremap, resize_cam  # noqa: E402

BACKENDS = ["fallback"] + (["cpp"] if wsolx.has_extension() else [])
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


def resize(backend: str, cams: torch.Tensor, size, normalize: bool = False) -> np.ndarray:
    if backend == "cpp":
        x = cams if cams.dtype in (torch.float32, torch.float64) else cams.float()
        return torch.ops.wsolx.resize_cubic(x, size[0], size[1], normalize).numpy()
    out = _cubic_reference.resize_cubic(cams, size)
    return (_cubic_reference.normalize_scoremaps(out) if normalize else out).numpy()


def random_maps(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    """CAM-like maps of random scale: ReLU'd noise, smooth ramps, plateaus and wide-range values."""
    kind = rng.integers(0, 4)
    if kind == 0:
        x = np.maximum(rng.standard_normal((n, h, w)), 0)
    elif kind == 1:
        yy, xx = np.mgrid[0:h, 0:w]
        x = np.stack([np.sin(rng.uniform(0, 1) * yy + rng.uniform(0, 1) * xx) for _ in range(n)])
    elif kind == 2:
        x = rng.integers(0, 3, (n, h, w)).astype(np.float64)  # plateaus and exact ties
    else:
        x = rng.standard_normal((n, h, w)) * 10.0 ** rng.uniform(-8, 8)
    return x * 10.0 ** rng.uniform(-2, 2)


def assert_equal_cv2(backend: str, cams: torch.Tensor, size) -> None:
    got = resize(backend, cams, size)
    src = cams.to(torch.float64).numpy()  # the protocol's t2n
    assert got.shape == (cams.shape[0],) + tuple(size) and got.dtype == np.float64
    for n in range(src.shape[0]):
        ref = resize_cam(src[n], size)
        # equal_nan: float16 overflows to inf on wide-range maps, and cv2 then gives NaN (inf * 0).
        assert np.array_equal(got[n], ref, equal_nan=True), (backend, tuple(src.shape[1:]), size, n)


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_sizes_up_and_down(backend):
    """~2400 maps of random CAM sizes 1..40 and image sizes 1..300 (up- and down-scaling,
    non-square, 1xN and Nx1, identity)."""
    rng = np.random.default_rng(1)
    for case in range(400):
        h, w = (int(v) for v in rng.integers(1, 41, 2))
        if case % 9 == 0:
            size = (h, w)  # identity: a plain copy
        elif case % 9 == 1:
            size = (1, int(rng.integers(1, 300)))
        elif case % 9 == 2:
            size = (int(rng.integers(1, 300)), 1)
        else:
            size = tuple(int(v) for v in rng.integers(1, 301, 2))
        dtype = DTYPES[case % len(DTYPES)]
        cams = torch.from_numpy(random_maps(rng, 6, h, w)).to(dtype)
        assert_equal_cv2(backend, cams, size)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "cam_size,size",
    [
        ((14, 14), (224, 224)),
        ((28, 28), (224, 224)),
        ((7, 9), (224, 224)),
        ((7, 7), (224, 224)),
        ((1, 1), (224, 224)),
        ((1, 14), (224, 224)),
        ((14, 1), (224, 224)),
        ((300, 257), (224, 224)),  # down-scaling
        ((224, 224), (14, 14)),
        ((224, 224), (224, 224)),
        ((13, 300), (300, 13)),
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_protocol_sizes(backend, cam_size, size, dtype):
    rng = np.random.default_rng(cam_size[0] * 1000 + cam_size[1])
    cams = torch.from_numpy(random_maps(rng, 4, *cam_size)).to(dtype)
    assert_equal_cv2(backend, cams, size)


@pytest.mark.parametrize("backend", BACKENDS)
def test_normalised_scoremaps_equal_protocol(backend):
    """resize + normalize_scoremap (float64, cam -= min; cam /= max) bit for bit, degenerate maps too."""
    rng = np.random.default_rng(5)
    cams = random_maps(rng, 8, 14, 14)
    cams[1] = 3.0  # constant: zeros
    cams[2, 4, 4] = np.nan  # NaN: zeros
    cams[3, 0, 0] = np.inf  # the resized map holds NaN (inf * 0 and inf - inf): zeros
    cams[4, 5, 5] = -np.inf
    got = resize(backend, torch.from_numpy(cams), (224, 224), normalize=True)
    for n in range(cams.shape[0]):
        assert np.array_equal(got[n], normalize_scoremap(resize_cam(cams[n], (224, 224)))), n
    for n in (1, 2, 3, 4):
        assert not got[n].any(), n
    assert np.isnan(resize_cam(cams[3], (224, 224))).any()  # what cv2 gives, hence zeros
    assert got[0].min() == 0.0 and got[0].max() == 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_infinite_values_at_identity_size(backend):
    """No interpolation: an infinite value reaches the normalisation, whose result would hold NaN
    (inf / inf, or x - (-inf) = inf): the map becomes zeros; an overflowing max - min too."""
    cams = np.array(
        [
            [[0.0, 1.0], [2.0, np.inf]],
            [[0.0, -np.inf], [2.0, 3.0]],
            [[np.inf, np.inf], [np.inf, np.inf]],
            [[-1.7e308, 1.7e308], [0.0, 1.0]],  # max - min overflows float64
            [[0.0, 1.0], [2.0, 4.0]],
        ]
    )
    got = resize(backend, torch.from_numpy(cams), (2, 2), normalize=True)
    for n in range(cams.shape[0]):
        assert np.array_equal(got[n], normalize_scoremap(cams[n])), n
    assert not got[:4].any()
    assert got[4].tolist() == [[0.0, 0.25], [0.5, 1.0]]


def test_public_upsample_scoremaps_both_backends_identical(monkeypatch):
    rng = np.random.default_rng(9)
    cams = torch.from_numpy(random_maps(rng, 5, 9, 11)).float()
    a = upsample_scoremaps(cams, (60, 45))
    b = upsample_scoremaps(cams, (60, 45), normalize=False)
    monkeypatch.setattr("wsolx.ops.boxes.has_extension", lambda: False)
    assert torch.equal(upsample_scoremaps(cams, (60, 45)), a)
    assert torch.equal(upsample_scoremaps(cams, (60, 45), normalize=False), b)
    assert a.dtype == torch.float64 and a.shape == (5, 60, 45)


def test_upsample_scoremaps_checks_sizes_first():
    with pytest.raises(ValueError, match="image_size"):
        upsample_scoremaps(torch.rand(2, 14, 14), (40000, 40000))
    with pytest.raises(ValueError, match="image_size"):
        upsample_scoremaps(torch.rand(2, 14, 14), (0, 5))
    with pytest.raises(ValueError, match=r"\(N, h, w\)"):
        upsample_scoremaps(torch.rand(14, 14), (20, 20))
