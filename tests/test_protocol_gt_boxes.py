"""Ground-truth boxes mapped to the evaluation frame as the protocol does: scaled in float64
(``x * W' / W``) and truncated toward zero, against a transcription of the protocol's
``resize_bbox`` written here; the fractional option; boxes at the image border; images smaller and
larger than the evaluation size; the end-to-end effect on a data set."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Sequence, Tuple

import numpy as np
import pytest
import torch
from PIL import Image

from wsolx.data import get_dataset, resize_boxes


def transcribed_resize_bbox(
    box: Sequence[int], image_size: Tuple[int, int], new_size: Tuple[int, int]
) -> Tuple[int, ...]:
    """The protocol's rule, transcribed: every number to a Python float, ``v * new / old`` left to
    right, then ``int()`` (truncation toward zero)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = (float(v) for v in image_size)
    nw, nh = (float(v) for v in new_size)
    return (int(x0 * nw / w), int(y0 * nh / h), int(x1 * nw / w), int(y1 * nh / h))


# (box, (W, H), (W', H')): hand cases with the expected truncated result.
HAND_CASES = [
    # larger image than the evaluation size: 500x335 (a CUB size) -> 224x224
    ([60, 27, 385, 331], (500, 335), (224, 224), (26, 18, 172, 221)),  # 26.88, 18.05, 172.48, 221.31
    # box on the image border: far corner = W, H (x1 = x + width) maps exactly to 224
    ([0, 0, 500, 335], (500, 335), (224, 224), (0, 0, 224, 224)),
    # far corner one pixel inside the border
    ([0, 0, 499, 334], (500, 335), (224, 224), (0, 0, 223, 223)),  # 223.55, 223.33
    # smaller image than the evaluation size: 100x50 -> 224x224 (x * 2.24, y * 4.48)
    ([10, 5, 60, 30], (100, 50), (224, 224), (22, 22, 134, 134)),
    ([0, 0, 99, 49], (100, 50), (224, 224), (0, 0, 221, 219)),  # 221.76, 219.52
    # exact multiples stay exact
    ([16, 32, 48, 64], (64, 64), (224, 224), (56, 112, 168, 224)),
    # same size: unchanged
    ([3, 4, 200, 223], (224, 224), (224, 224), (3, 4, 200, 223)),
    # non-square target
    ([7, 9, 99, 49], (100, 50), (224, 112), (15, 20, 221, 109)),  # 15.68, 20.16, 221.76, 109.76
]


@pytest.mark.parametrize("box, size, new, expected", HAND_CASES)
def test_hand_cases(box, size, new, expected):
    assert transcribed_resize_bbox(box, size, new) == expected
    got = resize_boxes([box], size, new, dtype=torch.float64)
    assert tuple(int(v) for v in got[0].tolist()) == expected
    assert got.dtype == torch.float64 and torch.equal(got, got.trunc())


def test_fractional_option_keeps_the_scaled_value():
    got = resize_boxes([[60, 27, 385, 331]], (500, 335), (224, 224), dtype=torch.float64, truncate=False)
    assert got[0].tolist() == [60 * 224 / 500, 27 * 224 / 335, 385 * 224 / 500, 331 * 224 / 335]


def test_many_sizes_equal_the_transcription():
    """Every box corner of many image sizes (smaller, equal and larger than 224; odd and even),
    including both borders, equals the transcribed rule bit for bit."""
    rng = np.random.default_rng(0)
    sizes = [(1, 1), (13, 7), (100, 50), (223, 225), (224, 224), (333, 500), (500, 335), (1024, 768), (2049, 17)]
    for (w, h), new in itertools.product(sizes, [(224, 224), (64, 64), (299, 299), (224, 112)]):
        boxes = [[0, 0, w, h], [0, 0, w - 1, h - 1]]
        for _ in range(20):
            x0, x1 = sorted(rng.integers(0, w + 1, 2).tolist())
            y0, y1 = sorted(rng.integers(0, h + 1, 2).tolist())
            boxes.append([x0, y0, x1, y1])
        got = resize_boxes(boxes, (w, h), new, dtype=torch.float64)
        expected = [transcribed_resize_bbox(b, (w, h), new) for b in boxes]
        assert [tuple(int(v) for v in row) for row in got.tolist()] == expected, ((w, h), new)


def test_truncation_rounds_toward_zero_not_nearest():
    # 0.999... stays 0 and 223.99... stays 223 (rounding to nearest would give 1 and 224).
    got = resize_boxes([[1, 1, 999, 999]], (1000, 1000), (224, 224), dtype=torch.float64)
    assert got[0].tolist() == [0.0, 0.0, 223.0, 223.0]


def _one_image_set(root: Path, size: Tuple[int, int], box: Sequence[int]) -> Tuple[Path, Path]:
    w, h = size
    img = root / "data" / "a.png"
    img.parent.mkdir(parents=True)
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(img)
    meta = root / "meta" / "SYNTH" / "test"
    meta.mkdir(parents=True)
    (meta / "image_ids.txt").write_text("a.png\n")
    (meta / "class_labels.txt").write_text("a.png,0\n")
    (meta / "image_sizes.txt").write_text(f"a.png,{w},{h}\n")
    (meta / "localization.txt").write_text("a.png," + ",".join(str(v) for v in box) + "\n")
    return root / "data", root / "meta"


@pytest.mark.parametrize("size", [(500, 335), (100, 50)])
def test_dataset_truncates_by_default(tmp_path, size):
    box = [1, 1, size[0] - 1, size[1] - 1]
    data, meta = _one_image_set(tmp_path, size, box)
    ds = get_dataset("SYNTH", data, meta, "test", train=False)
    assert tuple(int(v) for v in ds.gt_boxes(0)[0].tolist()) == transcribed_resize_bbox(box, size, (224, 224))
    frac = get_dataset("SYNTH", data, meta, "test", train=False, truncate_boxes=False)
    assert frac.gt_boxes(0, dtype=torch.float64)[0].tolist() == [
        1 * 224 / size[0],
        1 * 224 / size[1],
        (size[0] - 1) * 224 / size[0],
        (size[1] - 1) * 224 / size[1],
    ]
