"""Images that are not 8-bit (issue 16, item 2): 16-bit PNGs and float TIFFs are scaled by their
real range instead of saturating white / black; what cannot be converted is an error naming the file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from wsolx.data import datasets
from wsolx.errors import DataError

RAMP = np.tile(np.linspace(0.0, 1.0, 64), (16, 1))  # (16, 64) from 0 to 1


def _read(path):
    return np.asarray(datasets._rgb(path, path.name)).astype(np.float64)


def _assert_ramp(rgb):
    assert rgb.shape == (16, 64, 3)
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])
    np.testing.assert_allclose(rgb[..., 0], np.rint(RAMP * 255), atol=1)


def test_16bit_png_keeps_its_grey_levels(tmp_path):
    p = tmp_path / "a16.png"
    Image.fromarray(np.rint(RAMP * 65535).astype(np.uint16)).save(p)
    with Image.open(p) as img:
        assert img.mode.startswith("I;16")
    rgb = _read(p)
    _assert_ramp(rgb)
    assert 100 < rgb.mean() < 155  # Image.convert("RGB") gives ~255 almost everywhere


def test_float_tiff_in_unit_range(tmp_path):
    p = tmp_path / "f.tif"
    Image.fromarray(RAMP.astype(np.float32)).save(p)
    _assert_ramp(_read(p))


def test_32bit_integer_image_with_8bit_values(tmp_path):
    p = tmp_path / "i.tif"
    Image.fromarray(np.rint(RAMP * 255).astype(np.int32)).save(p)
    with Image.open(p) as img:
        assert img.mode == "I"
    _assert_ramp(_read(p))


@pytest.mark.parametrize("values", [RAMP * 4.0, RAMP - 0.5])
def test_float_image_outside_unit_range_is_an_error(tmp_path, values):
    p = tmp_path / "bad.tif"
    Image.fromarray(values.astype(np.float32)).save(p)
    with pytest.raises(DataError, match=str(p)):
        _read(p)


def test_masks_of_16bit_pngs(tmp_path):
    p = tmp_path / "m16.png"
    m = np.zeros((8, 8), np.uint16)
    m[2:5, 3:6] = 65535
    Image.fromarray(m).save(p)
    g = datasets._gray(p, "mask", "x")
    assert set(np.unique(g)) == {0, 255} and (g > 0).sum() == 9


def test_8bit_images_unchanged(tmp_path):
    p = tmp_path / "c.png"
    a = (np.random.default_rng(0).random((10, 12, 3)) * 255).astype(np.uint8)
    Image.fromarray(a).save(p)
    assert np.array_equal(np.asarray(datasets._rgb(p, "c")), a)
