"""wsolx.viz.overlay: CAM blending and box drawing as uint8 tensors; the matplotlib backend is never switched."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from wsolx.viz.overlay import GT_COLOR, PRED_COLOR, colormap_lut, overlay

ROOT = Path(__file__).resolve().parents[1]


def test_shape_dtype_and_box_colours():
    images = torch.zeros(2, 3, 20, 30, dtype=torch.uint8)
    cams = torch.zeros(2, 5, 5)
    boxes = torch.tensor([[2.0, 3.0, 10.0, 12.0], [0.0, 0.0, 29.0, 19.0]])
    gts = [np.array([[15.0, 5.0, 25.0, 15.0]]), np.zeros((0, 4))]
    out = overlay(images, cams, boxes, gts, alpha=0.0, width=1)
    assert out.shape == (2, 3, 20, 30) and out.dtype == torch.uint8
    px = lambda b, y, x: tuple(out[b, :, y, x].tolist())  # noqa: E731
    assert px(0, 3, 5) == PRED_COLOR and px(0, 7, 10) == PRED_COLOR  # top edge, right edge
    assert px(0, 5, 15) == GT_COLOR and px(0, 15, 20) == GT_COLOR  # left edge, bottom edge
    assert px(0, 7, 5) == (0, 0, 0)  # inside the box, alpha 0: the image
    assert px(1, 0, 0) == PRED_COLOR and px(1, 10, 15) == (0, 0, 0)


def test_cam_colour_and_alpha():
    img = torch.full((1, 8, 8, 3), 100, dtype=torch.uint8)  # channels-last input
    cam = torch.zeros(1, 8, 8)
    cam[0, 2, 3] = 5.0  # the maximum: colormap top after min-max normalisation
    lut = colormap_lut("jet")
    full = overlay(img, cam, alpha=1.0)
    assert tuple(full[0, :, 2, 3].tolist()) == tuple(lut[255].tolist())
    assert tuple(full[0, :, 0, 0].tolist()) == tuple(lut[0].tolist())
    half = overlay(img, cam, alpha=0.5)
    expect = ((100.0 + lut[255].float()) / 2).round().to(torch.uint8)
    assert half[0, :, 2, 3].tolist() == expect.tolist()
    none = overlay(img, cam, alpha=0.0)
    assert torch.equal(none[0], img[0].permute(2, 0, 1))


def test_float_images_and_resized_cams():
    img = torch.ones(1, 3, 16, 16) * 0.5
    cam = torch.rand(1, 4, 4)
    out = overlay(img, cam, alpha=0.0)
    assert out.shape == (1, 3, 16, 16) and int(out[0, 0, 0, 0]) == 128
    assert overlay(img, cam, alpha=0.7).shape == (1, 3, 16, 16)


def test_bad_input_errors():
    img = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(ValueError, match="cams must be"):
        overlay(img, torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="images need 3 channels"):
        overlay(torch.zeros(2, 4, 8, 8), torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match="boxes has 1 entries for 2 images"):
        overlay(img, torch.zeros(2, 8, 8), [np.zeros((1, 4))])
    with pytest.raises(ValueError, match="alpha"):
        overlay(img, torch.zeros(2, 8, 8), alpha=2.0)


def test_boxes_outside_the_image_are_clipped():
    img = torch.zeros(1, 3, 10, 10, dtype=torch.uint8)
    out = overlay(img, torch.zeros(1, 10, 10), torch.tensor([[-5.0, -5.0, 50.0, 50.0]]), alpha=0.0)
    assert tuple(out[0, :, 0, 0].tolist()) == PRED_COLOR and tuple(out[0, :, 9, 9].tolist()) == PRED_COLOR


def test_matplotlib_backend_unchanged(tmp_path):
    """Importing wsolx / wsolx.report and building a report keep the user's backend (and never load pyplot)."""
    script = textwrap.dedent(
        f"""
        import sys
        import matplotlib
        before = matplotlib.get_backend()
        import wsolx, wsolx.report
        assert matplotlib.get_backend() == before, (before, matplotlib.get_backend())
        import numpy as np
        from wsolx.report import ReportEntry, write_report
        th = np.arange(0, 1, 0.1)
        curve = np.linspace(80, 0, th.size)
        ex = [{{"index": 0, "label": 0, "pred": 0, "image": np.zeros((16, 16, 3), np.uint8),
               "gt_boxes": np.array([[2.0, 2.0, 9.0, 9.0]]), "cams": {{"base": np.random.rand(16, 16)}},
               "boxes": {{"base": np.array([3, 3, 10, 10])}}}}]
        e = ReportEntry("CAM", "base", {{"MaxBoxAcc": 5.0, "box_acc_curve": curve.tolist()}}, 1.0, ex, 0.2)
        write_report(r"{tmp_path}", [e], thresholds=th)
        assert matplotlib.get_backend() == before, (before, matplotlib.get_backend())
        assert "matplotlib.pyplot" not in sys.modules
        print("backend", before)
        """
    )
    env = {**os.environ, "MPLBACKEND": "pdf", "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "backend pdf" in res.stdout
    assert (tmp_path / "report.html").is_file()
