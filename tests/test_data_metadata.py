"""Metadata parsing and the errors on bad metadata / missing files."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import numpy as np
import pytest
from PIL import Image

from wsolx.data import MetadataError, canonical_split, dataset_spec, get_dataset, load_metadata

IDS = ["001.a/x1.jpg", "001.a/x2.jpg", "002.b/y1.jpg"]
GOOD = {
    "image_ids.txt": "\n".join(IDS) + "\n",
    "class_labels.txt": "001.a/x1.jpg,0\n001.a/x2.jpg,0\n002.b/y1.jpg,1\n",
    "image_sizes.txt": "001.a/x1.jpg,100,50\n001.a/x2.jpg,40,80\n002.b/y1.jpg,64,64\n",
    "localization.txt": (
        "001.a/x1.jpg,10,5,60,30\n001.a/x1.jpg,0,0,99,49\n001.a/x2.jpg,1,2,3,4\n002.b/y1.jpg,0,0,63,63\n"
    ),
}


def write_split(root: Path, files: Dict[str, Optional[str]], dataset: str = "CUB", split: str = "test") -> Path:
    d = root / "metadata" / dataset / split
    d.mkdir(parents=True, exist_ok=True)
    for name, text in {**GOOD, **files}.items():
        if text is not None:
            (d / name).write_text(text)
    return d


def write_images(root: Path, sizes=((100, 50), (40, 80), (64, 64)), skip=()) -> Path:
    for image_id, size in zip(IDS, sizes):
        if image_id in skip:
            continue
        p = root / "data" / "CUB" / image_id
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).save(p)
    return root / "data"


def test_parse_good_split(tmp_path):
    meta = load_metadata(write_split(tmp_path, {}))
    assert meta.image_ids == IDS
    assert meta.labels == {IDS[0]: 0, IDS[1]: 0, IDS[2]: 1}
    assert meta.sizes[IDS[0]] == (100, 50)
    assert meta.has_boxes and not meta.has_masks
    assert meta.boxes[IDS[0]] == [(10, 5, 60, 30), (0, 0, 99, 49)]


def test_blank_lines_and_spaces_are_tolerated(tmp_path):
    d = write_split(tmp_path, {"class_labels.txt": "\n001.a/x1.jpg, 0\n\n001.a/x2.jpg,0 \n002.b/y1.jpg,1\n\n"})
    assert load_metadata(d).labels[IDS[0]] == 0


@pytest.mark.parametrize(
    "name,text,pattern",
    [
        (
            "class_labels.txt",
            "001.a/x1.jpg,0\n001.a/x2.jpg 0\n002.b/y1.jpg,1\n",
            r"class_labels\.txt:2: expected 'path,label'",
        ),
        (
            "class_labels.txt",
            "001.a/x1.jpg,0\n001.a/x2.jpg,zero\n002.b/y1.jpg,1\n",
            r"class_labels\.txt:2: label must be an integer",
        ),
        (
            "class_labels.txt",
            "001.a/x1.jpg,0\n002.b/y1.jpg,1\n",
            r"class_labels\.txt: no label for 1 image id\(s\), e\.g\. '001\.a/x2\.jpg'",
        ),
        ("image_sizes.txt", "001.a/x1.jpg,100\n", r"image_sizes\.txt:1: expected 'path,W,H'"),
        ("image_sizes.txt", "001.a/x1.jpg,100,0\n", r"image_sizes\.txt:1: width and height must be >= 1"),
        (
            "localization.txt",
            "001.a/x1.jpg,10,5,60,30\n001.a/x2.jpg,1,2,3\n",
            r"localization\.txt:2: expected 'path,x0,y0,x1,y1'",
        ),
        ("localization.txt", "001.a/x1.jpg,10,5,6,30\n", r"localization\.txt:1: box must satisfy x0 <= x1"),
        (
            "localization.txt",
            "001.a/x1.jpg,1,2,3,4\n001.a/x2.jpg,1,2,3,4\n",
            r"localization\.txt: no box for 1 image id",
        ),
        (
            "localization.txt",
            "001.a/x1.jpg,1,2,3,4,5,6\n",
            r"localization\.txt:1: expected 'path,x0,y0,x1,y1' or 'path,mask_path,ignore_path'",
        ),
        ("image_ids.txt", "001.a/x1.jpg\n001.a/x1.jpg\n", r"image_ids\.txt:2: duplicate image id"),
        ("image_ids.txt", "001.a/x1.jpg,0\n", r"image_ids\.txt:1: expected one image path per line"),
        ("image_ids.txt", "\n", r"image_ids\.txt: no image ids"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, name, text, pattern):
    d = write_split(tmp_path, {name: text})
    with pytest.raises(MetadataError, match=pattern):
        load_metadata(d)


@pytest.mark.parametrize("name", ["class_labels.txt", "image_sizes.txt", "localization.txt"])
def test_unknown_image_id_in_secondary_file(tmp_path, name):
    extra = {
        "class_labels.txt": "zzz.jpg,1\n",
        "image_sizes.txt": "zzz.jpg,3,3\n",
        "localization.txt": "zzz.jpg,0,0,1,1\n",
    }
    d = write_split(tmp_path, {name: GOOD[name] + extra[name]})
    n_lines = GOOD[name].count("\n") + 1
    with pytest.raises(
        MetadataError, match=rf"{name}:{n_lines}: unknown image id 'zzz\.jpg' \(not listed in image_ids\.txt\)"
    ):
        load_metadata(d)


def test_missing_files_and_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="metadata folder not found"):
        load_metadata(tmp_path / "nope")
    d = write_split(tmp_path, {"class_labels.txt": None})
    with pytest.raises(FileNotFoundError, match=r"metadata file not found: .*class_labels\.txt"):
        load_metadata(d)
    d = write_split(tmp_path / "b", {"image_sizes.txt": None})
    with pytest.raises(FileNotFoundError, match=r"image_sizes\.txt \(required to map the boxes"):
        load_metadata(d)
    # Without localisation the sizes are optional (train split of the protocol).
    d = write_split(tmp_path / "c", {"image_sizes.txt": None, "localization.txt": None}, split="train")
    meta = load_metadata(d)
    assert not meta.has_boxes and meta.sizes == {}


def test_get_dataset_errors(tmp_path):
    write_split(tmp_path, {})
    data = write_images(tmp_path)
    meta_root = tmp_path / "metadata"
    with pytest.raises(ValueError, match="unknown dataset 'VOC'"):
        get_dataset("VOC", data, meta_root, "test", train=False)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        get_dataset("CUB", data, meta_root, "dev", train=False)
    with pytest.raises(FileNotFoundError, match="metadata_root not found"):
        get_dataset("CUB", data, tmp_path / "missing", "test", train=False)
    with pytest.raises(FileNotFoundError, match=r"metadata folder not found: .*CUB/val"):
        get_dataset("CUB", data, meta_root, "val", train=False)
    with pytest.raises(FileNotFoundError, match="data_root not found"):
        get_dataset("CUB", tmp_path / "nodata", meta_root, "test", train=False)


def test_missing_image_files(tmp_path):
    write_split(tmp_path, {})
    meta_root = tmp_path / "metadata"
    # The first image is checked when the data set is built (catches a wrong data_root early).
    data = write_images(tmp_path / "a", skip=[IDS[0]])
    with pytest.raises(
        FileNotFoundError, match=r"image file not found: '001\.a/x1\.jpg' \(first id of .*image_ids\.txt\)"
    ):
        get_dataset("CUB", data, meta_root, "test", train=False)
    # Any other missing image fails when it is read, naming the path and the id.
    data = write_images(tmp_path / "b", skip=[IDS[2]])
    ds = get_dataset("CUB", data, meta_root, "test", train=False)
    ds[0]
    with pytest.raises(
        FileNotFoundError, match=r"image file not found: .*002\.b/y1\.jpg \(image id '002\.b/y1\.jpg'\)"
    ):
        ds[2]


def test_label_out_of_range(tmp_path):
    write_split(tmp_path, {"class_labels.txt": "001.a/x1.jpg,0\n001.a/x2.jpg,250\n002.b/y1.jpg,1\n"})
    data = write_images(tmp_path)
    with pytest.raises(MetadataError, match="label 250 of '001.a/x2.jpg' is out of range for 200 classes"):
        get_dataset("CUB", data, tmp_path / "metadata", "test", train=False)


def test_mask_format_errors(tmp_path):
    rows = "001.a/x1.jpg,m/1.png,\n001.a/x2.jpg,m/2.png,i/2.png\n002.b/y1.jpg,m/3.png,i/3.png\n"
    d = write_split(tmp_path, {"localization.txt": rows})
    meta = load_metadata(d)
    assert meta.has_masks and meta.masks[IDS[0]].ignore_path is None
    assert meta.masks[IDS[1]].mask_paths == ("m/2.png",)
    bad = rows + "002.b/y1.jpg,m/4.png,i/4.png\n"
    with pytest.raises(MetadataError, match=r"localization\.txt:4: image '002\.b/y1\.jpg' has two ignore masks"):
        load_metadata(write_split(tmp_path / "b", {"localization.txt": bad}))
    mixed = rows + "002.b/y1.jpg,0,0,1,1\n"
    with pytest.raises(MetadataError, match=r"localization\.txt:4: expected 'path,mask_path,ignore_path'"):
        load_metadata(write_split(tmp_path / "c", {"localization.txt": mixed}))


def test_names_and_split_aliases():
    assert dataset_spec("cub-200-2011").name == "CUB"
    assert dataset_spec("OpenImages30k").name == "OpenImages"
    assert dataset_spec("imagenet").name == "ILSVRC"
    assert dataset_spec("synth_mask").name == "SYNTH_MASK"
    assert canonical_split("train-fullsup") == "val"
    assert canonical_split("test") == "test"
