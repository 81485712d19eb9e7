"""Synthetic data set: layout, determinism, ground truth consistency, loaders, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wsolx.data import get_dataset
from wsolx.data.synthetic import MAX_CLASSES, class_attributes, class_name, generate, main, render_sample

KW = dict(num_classes=3, train_per_class=4, val_per_class=2, test_per_class=2, image_size=64, progress=False)


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("synth"), seed=3, **KW)


def _files(root: Path):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout(synth):
    meta = synth / "metadata"
    for split in ("train", "val", "test"):
        for f in ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt"):
            assert (meta / "SYNTH" / split / f).is_file()
        for f in ("image_ids.txt", "class_labels.txt", "image_sizes.txt"):
            assert (meta / "SYNTH_MASK" / split / f).is_file()
    # Masks on val / test only (as OpenImages30k); the train split of SYNTH_MASK has no localisation.
    assert not (meta / "SYNTH_MASK" / "train" / "localization.txt").exists()
    assert (meta / "SYNTH_MASK" / "test" / "localization.txt").read_text().splitlines()[0].count(",") == 2
    names = (meta / "SYNTH" / "class_names.txt").read_text().split()
    assert names == [class_name(k) for k in range(3)]
    ids = (meta / "SYNTH" / "test" / "image_ids.txt").read_text().split()
    assert len(ids) == 6 and all(i.startswith("images/test/") and i.endswith(".jpg") for i in ids)
    info = json.loads((synth / "synth_info.json").read_text())
    assert info["num_classes"] == 3 and info["seed"] == 3


def test_deterministic_by_seed(synth, tmp_path):
    again = generate(tmp_path / "again", seed=3, **KW)
    a, b = _files(synth), _files(again)
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)  # byte for byte
    other = generate(
        tmp_path / "other", seed=4, **{**KW, "train_per_class": 1, "val_per_class": 0, "test_per_class": 0}
    )
    c = _files(other)
    first = "images/train/000.red_stripes_circle/train_000_0000.jpg"
    assert c[first] != a[first]
    assert not (other / "metadata" / "SYNTH" / "val").exists()


def test_box_and_mask_ground_truth(synth):
    ds = get_dataset("SYNTH_MASK", synth, synth / "metadata", "test", train=False, image_size=64)
    boxes = get_dataset("SYNTH", synth, synth / "metadata", "test", train=False, image_size=64)
    assert ds.has_masks and boxes.has_boxes and not boxes.has_masks
    for i in range(len(ds)):
        mask, ignore = ds.gt_mask(i)
        assert mask.any() and not (mask & ignore).any()
        ys, xs = torch.nonzero(mask, as_tuple=True)
        # The box is the tight inclusive extent of the mask.
        assert boxes.gt_boxes(i)[0].tolist() == [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())]
        # The ignore band is the one-pixel ring around the object.
        grown = torch.nn.functional.max_pool2d(mask[None, None].float(), 3, 1, 1)[0, 0].bool()
        assert torch.equal(ignore, grown & ~mask)
        # The object covers roughly 10-50% of the image (box area).
        x0, y0, x1, y1 = boxes.gt_boxes(i)[0].tolist()
        assert 0.05 < (x1 - x0 + 1) * (y1 - y0 + 1) / 64**2 < 0.6


def test_loaders_on_synthetic_data(synth):
    meta = synth / "metadata"
    train = get_dataset("SYNTH", synth, meta, "train", train=True, image_size=48)
    assert len(train) == 12 and train.num_classes == 3
    assert train.labels == [0] * 4 + [1] * 4 + [2] * 4
    image, label, index = train[5]
    assert image.shape == (3, 48, 48) and (label, index) == (1, 5)
    # Evaluation at a network size different from the generated one: boxes are scaled (96 / 64) and
    # truncated toward zero as the protocol's resize_bbox.
    test = get_dataset("SYNTH", synth, meta, "test", train=False, image_size=96)
    assert len(test) == 6 and test[0][0].shape == (3, 96, 96)
    line = (meta / "SYNTH" / "test" / "localization.txt").read_text().splitlines()[3]
    image_id, *coords = line.split(",")
    i = test.image_ids.index(image_id)
    assert test.gt_boxes(i)[0].tolist() == [float(int(int(c) * 96 / 64)) for c in coords]
    val = get_dataset("SYNTH", synth, meta, "train-fullsup", train=False, image_size=64)
    assert val.split == "val" and len(val) == 6
    masks = get_dataset("SYNTH_MASK", synth, meta, "val", train=False, image_size=96)
    m, g = masks.gt_mask(0)
    assert m.shape == g.shape == (96, 96)
    assert masks.load_raw(0).size == (64, 64)


def test_classes_and_rendering():
    names = {class_name(k) for k in range(MAX_CLASSES)}
    assert len(names) == MAX_CLASSES == 120
    # Consecutive classes differ in shape, texture and colour.
    for k in range(MAX_CLASSES - 1):
        assert all(a != b for a, b in zip(class_attributes(k), class_attributes(k + 1)))
    with pytest.raises(ValueError, match="class index"):
        class_attributes(MAX_CLASSES)
    image, mask = render_sample(np.random.default_rng(0), 7, 96)
    assert image.shape == (96, 96, 3) and image.dtype == np.uint8 and mask.shape == (96, 96) and mask.any()
    # Background clutter: the background is far from uniform.
    assert image[~mask].std() > 15


def test_generate_errors(tmp_path):
    with pytest.raises(ValueError, match="num_classes"):
        generate(tmp_path, num_classes=0, progress=False)
    with pytest.raises(ValueError, match="num_classes"):
        generate(tmp_path, num_classes=MAX_CLASSES + 1, progress=False)
    with pytest.raises(ValueError, match="image_size"):
        generate(tmp_path, image_size=8, progress=False)
    with pytest.raises(ValueError, match="not all 0"):
        generate(tmp_path, train_per_class=0, val_per_class=0, test_per_class=0, progress=False)


def test_cli(tmp_path, capsys):
    root = tmp_path / "cli"
    args = [
        "--root",
        str(root),
        "--num-classes",
        "2",
        "--train-per-class",
        "1",
        "--val-per-class",
        "1",
        "--test-per-class",
        "1",
        "--image-size",
        "32",
        "--no-masks",
        "--quiet",
    ]
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    assert (root / "metadata" / "SYNTH" / "test" / "localization.txt").is_file()
    assert not (root / "metadata" / "SYNTH_MASK").exists() and not (root / "masks").exists()
    with Image.open(next((root / "images" / "train").rglob("*.jpg"))) as im:
        assert im.size == (32, 32)
    with pytest.raises(SystemExit):
        main(["--root", str(root), "--num-classes", "0", "--quiet"])
