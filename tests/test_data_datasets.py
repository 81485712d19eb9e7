"""WSOLDataset on small hand-made data sets in the protocol layout: items, transforms, ground truth
mapped to network coordinates (boxes and masks), collate."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from wsolx.data import collate_with_index, denormalize, get_dataset, resize_boxes, resize_mask_nearest

SIZES = {"001.a/x1.jpg": (100, 50), "001.a/x2.jpg": (40, 80), "002.b/y1.png": (64, 64)}
LABELS = {"001.a/x1.jpg": 0, "001.a/x2.jpg": 0, "002.b/y1.png": 1}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture()
def cub(tmp_path):
    """A CUB-like layout: <data>/CUB/<id>, <meta>/CUB/{train,test}/."""
    for i, (image_id, (w, h)) in enumerate(SIZES.items()):
        p = tmp_path / "data" / "CUB" / image_id
        p.parent.mkdir(parents=True, exist_ok=True)
        img = np.zeros((h, w, 3), np.uint8)
        img[..., i] = 200  # a distinct colour per image
        Image.fromarray(img).save(p)
    ids = "".join(f"{k}\n" for k in SIZES)
    for split in ("train", "test"):
        d = tmp_path / "meta" / "CUB" / split
        _write(d / "image_ids.txt", ids)
        _write(d / "class_labels.txt", "".join(f"{k},{v}\n" for k, v in LABELS.items()))
        _write(d / "image_sizes.txt", "".join(f"{k},{w},{h}\n" for k, (w, h) in SIZES.items()))
    _write(
        tmp_path / "meta" / "CUB" / "test" / "localization.txt",
        "001.a/x1.jpg,10,5,60,30\n001.a/x1.jpg,0,0,99,49\n001.a/x2.jpg,1,2,39,79\n002.b/y1.png,0,0,63,63\n",
    )
    return tmp_path / "data", tmp_path / "meta"


def test_eval_items_and_boxes_in_network_coordinates(cub):
    data, meta = cub
    ds = get_dataset("CUB-200-2011", data, meta, "test", train=False)
    assert len(ds) == 3 and ds.num_classes == 200
    assert ds.image_ids == list(SIZES) and ds.labels == [0, 0, 1]
    assert ds.has_boxes and not ds.has_masks
    image, label, index = ds[1]
    assert image.shape == (3, 224, 224) and image.dtype == torch.float32
    assert (label, index) == (0, 1)
    # The image colour survives normalisation (green channel of image 1).
    rgb = denormalize(image)
    assert rgb[1].mean() > 0.7 and rgb[0].mean() < 0.05
    # (W, H) = (100, 50) -> 224 x 224: int(x * 2.24), int(y * 4.48) (the protocol truncates);
    # two boxes for the first image.
    b = ds.gt_boxes(0)
    assert b.dtype == torch.float32 and b.shape == (2, 4)
    assert b[0].tolist() == [22.0, 22.0, 134.0, 134.0]  # 22.4, 22.4, 134.4, 134.4
    assert b[1].tolist() == [0.0, 0.0, 221.0, 219.0]  # 221.76, 219.52
    assert ds.gt_boxes(1, dtype=torch.float64)[0].tolist() == [5.0, 5.0, 218.0, 221.0]  # 5.6, 5.6, 218.4, 221.2
    padded, counts = ds.gt_boxes_batch(torch.tensor([2, 0]))
    assert padded.shape == (2, 2, 4) and counts.tolist() == [1, 2]
    assert padded[0, 0].tolist() == [0.0, 0.0, 220.0, 220.0]  # 63 * 3.5 = 220.5
    # The fractional option keeps x * W' / W.
    frac = get_dataset("CUB-200-2011", data, meta, "test", train=False, truncate_boxes=False)
    torch.testing.assert_close(frac.gt_boxes(0)[0], torch.tensor([22.4, 22.4, 134.4, 134.4]))
    torch.testing.assert_close(
        frac.gt_boxes(1, dtype=torch.float64)[0], torch.tensor([5.6, 5.6, 218.4, 221.2], dtype=torch.float64)
    )
    assert ds.load_raw(0).size == (100, 50)
    assert ds.original_size(1) == (40, 80)
    with pytest.raises(IndexError, match="out of range"):
        ds[3]


def test_smaller_network_size_and_training_transform(cub):
    data, meta = cub
    ev = get_dataset("CUB", data, meta, "test", train=False, image_size=64)
    assert ev[0][0].shape == (3, 64, 64)
    assert ev.gt_boxes(0)[0].tolist() == [6.0, 6.0, 38.0, 38.0]  # int(6.4), int(38.4)
    tr = get_dataset("CUB", data, meta, "train", train=True)
    assert (tr.resize_size, tr.crop_size) == (256, 224)  # protocol: resize 256, random crop 224
    assert tr[0][0].shape == (3, 224, 224)
    assert not tr.has_boxes
    with pytest.raises(ValueError, match="no box annotations"):
        tr.gt_boxes(0)
    small = get_dataset("CUB", data, meta, "train", train=True, image_size=64)
    assert (small.resize_size, small.crop_size) == (73, 64) and small[2][0].shape == (3, 64, 64)
    explicit = get_dataset("CUB", data, meta, "train", train=True, image_size=224, crop_size=224)
    assert explicit.resize_size == 256
    with pytest.raises(ValueError, match="must not exceed resize_size"):
        get_dataset("CUB", data, meta, "train", train=True, crop_size=100, resize_size=90)


def test_data_root_may_be_the_image_folder(cub):
    data, meta = cub
    ds = get_dataset("CUB", data / "CUB", meta, "test", train=False, image_size=32)
    assert ds.image_root == data / "CUB" and ds[2][0].shape == (3, 32, 32)


def test_collate_and_dataloader(cub):
    data, meta = cub
    ds = get_dataset("CUB", data, meta, "test", train=False, image_size=48)
    images, labels, indices = next(iter(DataLoader(ds, batch_size=3, collate_fn=collate_with_index)))
    assert images.shape == (3, 3, 48, 48) and labels.tolist() == [0, 0, 1] and indices.tolist() == [0, 1, 2]
    # torch's default collate gives the same (image, label, index) triple.
    d_images, d_labels, d_indices = next(iter(DataLoader(ds, batch_size=3)))
    assert torch.equal(d_images, images) and torch.equal(d_labels, labels) and torch.equal(d_indices, indices)
    with pytest.raises(ValueError, match="empty batch"):
        collate_with_index([])


@pytest.fixture()
def openimages(tmp_path):
    """An OpenImages-like mask layout with two instances per image and an optional ignore mask."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data" / "OpenImages"
    rows, ids, raw = [], [], {}
    for k, (w, h) in enumerate([(30, 20), (50, 70)]):
        image_id = f"test/img{k}.jpg"
        ids.append(image_id)
        (root / "test").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / image_id)
        inst = []
        for j in range(2):
            m = np.zeros((h, w), np.uint8)
            y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
            m[y0 : y0 + h // 3, x0 : x0 + w // 3] = 255
            p = f"masks/img{k}_{j}.png"
            (root / "masks").mkdir(exist_ok=True)
            Image.fromarray(m).save(root / p)
            inst.append(m)
        ign = np.zeros((h, w), np.uint8)
        ign[: h // 2, : w // 2] = 255  # overlaps the instances
        ignore_path = ""
        if k == 0:
            ignore_path = f"masks/img{k}_ignore.png"
            Image.fromarray(ign).save(root / ignore_path)
        rows += [f"{image_id},masks/img{k}_{j}.png,{ignore_path}" for j in range(2)]
        raw[image_id] = (inst, ign if k == 0 else None)
    d = tmp_path / "meta" / "OpenImages" / "test"
    _write(d / "image_ids.txt", "\n".join(ids) + "\n")
    _write(d / "class_labels.txt", "".join(f"{i},{n}\n" for n, i in enumerate(ids)))
    _write(d / "image_sizes.txt", f"{ids[0]},30,20\n{ids[1]},50,70\n")
    _write(d / "localization.txt", "\n".join(rows) + "\n")
    return tmp_path / "data", tmp_path / "meta", raw


def test_masks_resized_like_opencv(openimages):
    data, meta, raw = openimages
    ds = get_dataset("OpenImages30k", data, meta, "test", train=False, image_size=224)
    assert ds.has_masks and not ds.has_boxes and ds.num_classes == 100
    for i, image_id in enumerate(ds.image_ids):
        mask, ignore = ds.gt_mask(i)
        assert mask.shape == ignore.shape == (224, 224) and mask.dtype == ignore.dtype == torch.bool
        inst, ign = raw[image_id]
        expect = np.zeros((224, 224), bool)
        for m in inst:
            expect |= cv2.resize(m, (224, 224), interpolation=cv2.INTER_NEAREST) > 0
        assert np.array_equal(mask.numpy(), expect)
        if ign is None:
            assert not ignore.any()
        else:
            exp_ign = (cv2.resize(ign, (224, 224), interpolation=cv2.INTER_NEAREST) > 0) & ~expect
            assert np.array_equal(ignore.numpy(), exp_ign) and ignore.any()
            assert not (ignore & mask).any()
    masks, ignores = ds.gt_masks_batch([1, 0])
    assert masks.shape == (2, 224, 224) and torch.equal(masks[1], ds.gt_mask(0)[0])
    with pytest.raises(ValueError, match="no box annotations"):
        ds.gt_boxes(0)


def test_missing_mask_file(openimages):
    data, meta, _ = openimages
    (data / "OpenImages" / "masks" / "img1_0.png").unlink()
    ds = get_dataset("OpenImages", data, meta, "test", train=False)
    with pytest.raises(FileNotFoundError, match=r"mask file not found: .*img1_0\.png \(image id 'test/img1\.jpg'\)"):
        ds.gt_mask(1)


def test_resize_helpers_match_opencv_nearest():
    rng = np.random.default_rng(1)
    for (h, w), (nh, nw) in [
        ((333, 500), (100, 300)),
        ((224, 224), (100, 300)),
        ((20, 30), (224, 224)),
        ((97, 13), (64, 64)),
    ]:
        m = rng.integers(0, 256, (h, w)).astype(np.uint8)
        assert np.array_equal(
            resize_mask_nearest(m, (nw, nh)), cv2.resize(m, (nw, nh), interpolation=cv2.INTER_NEAREST)
        )
    b = resize_boxes([[0, 0, 99, 49]], (100, 50), (224, 112), dtype=torch.float64, truncate=False)
    assert b.tolist() == [[0.0, 0.0, 99 * 224 / 100, 49 * 112 / 50]]
    b = resize_boxes([[0, 0, 99, 49]], (100, 50), (224, 112), dtype=torch.float64)
    assert b.tolist() == [[0.0, 0.0, float(int(99 * 224 / 100)), float(int(49 * 112 / 50))]]
