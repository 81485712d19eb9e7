"""The paper's evaluation geometry (``data.eval_geometry="paper"``): Resize(256) -> CenterCrop(224)
images, ground-truth boxes shifted and clipped as the paper's data set code does it (transcribed
here for its CUB loader, which reads x, y, width, height, and its ImageNet loader, which reads the
corners), masks resized and cropped; and its fixed-threshold localisation with the paper box rule."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import functional as TF

from wsolx.data import IMAGENET_MEAN, IMAGENET_STD, get_dataset
from wsolx.data.geometry import paper_boxes, paper_mask, paper_resize_size
from wsolx.metrics.box_rule import supports_box_rule


def transcribed_cub(x: float, y: float, w: float, h: float, W: int, H: int, image_size=256, crop_size=224) -> List[int]:
    """The paper's CUB loader: float image size, ``shift = (256. - 224) // 2``, near corner
    ``max((v / L * 256. - shift).astype(int), 0)``, far corner from ``v + extent - 1`` and
    ``min(..., crop - 1)`` (numpy float64 arrays as pandas gives them)."""
    image_size = float(image_size)
    shift = (image_size - crop_size) // 2
    xs, ys, ws, hs = (np.array([v], dtype=np.float64) for v in (x, y, w, h))
    Ws, Hs = np.array([W]), np.array([H])
    xmin = np.maximum((xs / Ws * image_size - shift).astype(int), 0)
    ymin = np.maximum((ys / Hs * image_size - shift).astype(int), 0)
    xmax = np.minimum(((xs + ws - 1) / Ws * image_size - shift).astype(int), crop_size - 1)
    ymax = np.minimum(((ys + hs - 1) / Hs * image_size - shift).astype(int), crop_size - 1)
    return [int(xmin[0]), int(ymin[0]), int(xmax[0]), int(ymax[0])]


def transcribed_imagenet(box: Sequence[int], W: int, H: int, image_size=256, crop_size=224) -> List[int]:
    """The paper's ImageNet ``_preprocess_bbox``: ``int(v / L * 256. - shift)``, near corners
    ``np.maximum(., 0)``, far corners ``np.minimum(., crop - 1)``."""
    image_size = float(image_size)
    shift = (image_size - crop_size) // 2
    xmin, ymin, xmax, ymax = box
    return [
        int(np.maximum(int(xmin / W * image_size - shift), 0)),
        int(np.maximum(int(ymin / H * image_size - shift), 0)),
        int(np.minimum(int(xmax / W * image_size - shift), crop_size - 1)),
        int(np.minimum(int(ymax / H * image_size - shift), crop_size - 1)),
    ]


# CUB-style (x, y, width, height) boxes: inside, touching every border, tiny; images larger and
# smaller than 256.
CUB_CASES = [
    ((60.0, 27.0, 325.0, 304.0), (500, 335)),  # a real CUB box and size
    ((0.0, 0.0, 500.0, 335.0), (500, 335)),  # the whole image: clipped to [0, 0, 223, 223]
    ((10.0, 5.0, 1.0, 1.0), (100, 50)),  # one pixel in a small image
    ((30.0, 2.0, 40.0, 47.0), (100, 50)),
    ((99.0, 49.0, 1.0, 1.0), (100, 50)),  # bottom-right pixel: far corner clipped
    ((2.0, 2.0, 2.0, 2.0), (64, 64)),  # entirely in the cropped-away margin: the far corner is -4, as the code gives
]


@pytest.mark.parametrize("xywh, size", CUB_CASES)
def test_paper_boxes_equal_the_cub_loader(xywh, size):
    x, y, w, h = xywh
    W, H = size
    # The protocol's CUB metadata stores x1 = x + width, y1 = y + height.
    got = paper_boxes([[x, y, x + w, y + h]], (W, H), 256, 224, far_corner_offset=-1, dtype=torch.float64)
    assert [int(v) for v in got[0].tolist()] == transcribed_cub(x, y, w, h, W, H)


def test_paper_boxes_equal_the_imagenet_loader():
    rng = np.random.default_rng(0)
    for W, H in [(500, 375), (100, 50), (1024, 683), (224, 224), (17, 300)]:
        boxes = [[0, 0, W, H], [0, 0, W - 1, H - 1]]
        for _ in range(30):
            x0, x1 = sorted(rng.integers(0, W + 1, 2).tolist())
            y0, y1 = sorted(rng.integers(0, H + 1, 2).tolist())
            boxes.append([x0, y0, x1, y1])
        got = paper_boxes(boxes, (W, H), 256, 224, far_corner_offset=0, dtype=torch.float64)
        assert [[int(v) for v in r] for r in got.tolist()] == [transcribed_imagenet(b, W, H) for b in boxes]


def test_hand_values():
    # 60 / 500 * 256 - 16 = 14.72 -> 14;  27 / 335 * 256 - 16 = 4.63 -> 4;
    # (385 - 1) / 500 * 256 - 16 = 180.6 -> 180;  (331 - 1) / 335 * 256 - 16 = 236.2 -> 223 (clipped)
    assert paper_boxes([[60, 27, 385, 331]], (500, 335), 256, 224, -1).tolist() == [[14.0, 4.0, 180.0, 223.0]]
    assert paper_resize_size(224) == 256


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture()
def two_sets(tmp_path):
    """The same two images and boxes as a CUB and an ILSVRC data set (protocol metadata layout)."""
    sizes: Dict[str, Tuple[int, int]] = {"a.png": (500, 335), "b.png": (100, 50)}
    boxes = {"a.png": [60, 27, 385, 331], "b.png": [0, 0, 100, 50]}
    rng = np.random.default_rng(3)
    for name in ("CUB", "ILSVRC"):
        for image_id, (w, h) in sizes.items():
            p = tmp_path / "data" / name / image_id
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(p)
        d = tmp_path / "meta" / name / "test"
        _write(d / "image_ids.txt", "".join(f"{k}\n" for k in sizes))
        _write(d / "class_labels.txt", "".join(f"{k},0\n" for k in sizes))
        _write(d / "image_sizes.txt", "".join(f"{k},{w},{h}\n" for k, (w, h) in sizes.items()))
        _write(d / "localization.txt", "".join(f"{k},{','.join(map(str, b))}\n" for k, b in boxes.items()))
    return tmp_path / "data", tmp_path / "meta", sizes, boxes


def test_dataset_in_paper_geometry(two_sets):
    data, meta, sizes, boxes = two_sets
    cub = get_dataset("CUB", data, meta, "test", train=False, eval_geometry="paper")
    inet = get_dataset("ILSVRC", data, meta, "test", train=False, eval_geometry="paper")
    for i, (image_id, (w, h)) in enumerate(sizes.items()):
        x0, y0, x1, y1 = boxes[image_id]
        assert cub.gt_boxes(i)[0].tolist() == transcribed_cub(x0, y0, x1 - x0, y1 - y0, w, h)
        assert inet.gt_boxes(i)[0].tolist() == transcribed_imagenet(boxes[image_id], w, h)
        # The image: PIL bilinear resize to 256x256, then the central 224x224 (offset 16).
        raw = cub.load_raw(i).resize((256, 256), Image.BILINEAR).crop((16, 16, 240, 240))
        expected = TF.normalize(TF.to_tensor(raw), IMAGENET_MEAN, IMAGENET_STD)
        torch.testing.assert_close(cub[i][0], expected, rtol=0, atol=1e-6)
    # The protocol geometry of the same data: plain resize, truncated scaling.
    prot = get_dataset("CUB", data, meta, "test", train=False)
    assert prot.gt_boxes(0)[0].tolist() == [26.0, 18.0, 172.0, 221.0]
    with pytest.raises(ValueError, match="eval_geometry must be one of"):
        get_dataset("CUB", data, meta, "test", train=False, eval_geometry="crop")


def test_paper_mask_is_resize_then_centre_crop():
    rng = np.random.default_rng(0)
    for h, w in [(335, 500), (50, 100), (256, 256)]:
        m = rng.integers(0, 256, (h, w)).astype(np.uint8)
        want = cv2.resize(m, (256, 256), interpolation=cv2.INTER_NEAREST)[16:240, 16:240]
        assert np.array_equal(paper_mask(m, 256, 224), want)


# ----------------------------------------------------------------------------- paper box rule
@pytest.mark.skipif(not supports_box_rule(), reason="wsolx.ops.cam_boxes has no box_rule argument in this build")
def test_paper_fixed_localization_uses_the_paper_box_rule():
    from wsolx.metrics.paper_loc import PaperFixedLocalization

    s = 16
    cams = torch.zeros(3, s, s)
    cams[0, :, 15] = 1.0  # last column: protocol [15, 0, 15, 15] (IoU 16/34 < 0.5), paper [15, 0, 16, 16]
    # cams[1]: constant, no contour: protocol [0, 0, 0, 0] (IoU 1/256), paper [0, 0, 16, 16] (IoU 256/289)
    cams[2, 2:5, 3:6] = 1.0  # inside: both rules give [3, 2, 6, 5]
    gt = [
        torch.tensor([[15.0, 0.0, 16.0, 16.0]]),
        torch.tensor([[0.0, 0.0, 15.0, 15.0]]),
        torch.tensor([[3.0, 2.0, 6.0, 5.0]]),
    ]
    ev = PaperFixedLocalization(threshold=0.2, image_size=s)
    ev.update(cams, gt, gt_labels=torch.tensor([0, 1, 2]), pred_labels=torch.tensor([0, 1, 0]))
    out = ev.compute()
    assert out["GT-known Loc"] == 100.0 and out["Top-1 Loc"] == pytest.approx(200.0 / 3)
    # The protocol rule on the same maps localises only the third image.
    from wsolx.metrics import BoxEvaluator

    prot = BoxEvaluator(thresholds=[0.5], image_size=s, fixed_threshold=0.2)
    prot.update(cams, gt)
    assert prot.compute()["GT-known Loc"] == pytest.approx(100.0 / 3)


@pytest.mark.skipif(supports_box_rule(), reason="the op has the paper box rule")
def test_paper_geometry_without_the_box_rule_is_a_clear_error(two_sets):
    from wsolx.engine import ConfigError, EvalConfig
    from wsolx.engine.evaluator import VariantMetrics

    with pytest.raises(ConfigError, match="data.eval_geometry=paper needs the paper's box rule"):
        VariantMetrics("base", EvalConfig(), (224, 224), True, False, torch.device("cpu"), "paper")
