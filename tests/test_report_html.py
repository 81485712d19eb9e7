"""Report: figures, report.html and metrics.json from synthetic (hand-made) entries."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wsolx.report import ReportEntry, write_report
from wsolx.report.html import html_table
from wsolx.viz.figures import curve_matrix


def _examples(n: int, variants, size: int = 32):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        out.append(
            {
                "index": i,
                "label": i % 3,
                "pred": (i + i // 2) % 3,
                "image": rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
                "gt_boxes": np.array([[4.0, 5.0, 20.0, 25.0]]),
                "cams": {v: rng.random((size, size)) for v in variants},
                "boxes": {v: np.array([6, 6, 22, 24]) for v in variants},
            }
        )
    return out


def test_write_report_makes_all_files(tmp_path):
    th = np.arange(0, 1, 0.05)
    curve = np.stack([np.linspace(90, 0, th.size), np.linspace(70, 0, th.size), np.linspace(40, 0, th.size)])
    entries = [
        ReportEntry(
            "CAM",
            "base",
            {
                "MaxBoxAcc": 50.0,
                "MaxBoxAccV2": 40.0,
                "GT-known Loc": 30.0,
                "box_acc_curve": curve.tolist(),
                "PxAP": 55.0,
            },
            80.0,
            _examples(5, ["base"]),
            0.2,
        ),
        ReportEntry(
            "TAP+NWC+PaS",
            "nwc+pas",
            {
                "MaxBoxAcc": 60.0,
                "MaxBoxAccV2": 45.0,
                "GT-known Loc": 58.0,
                "box_acc_curve": {0.3: curve[0], 0.5: curve[1], 0.7: curve[2]},
            },
            85.0,
            _examples(3, ["nwc+pas"]),
            0.35,
        ),
    ]
    paths = write_report(tmp_path, entries, thresholds=th, title="t", notes=["a note"], settings={"epochs": 2})
    for key in ("html", "metrics", "table", "curves", "cams_cam", "cams_tap_nwc_pas"):
        assert paths[key].is_file() and paths[key].stat().st_size > 0, key
    html = paths["html"].read_text()
    assert "figures/box_acc_curves.png" in html and "TAP+NWC+PaS" in html and "a note" in html
    assert '<td class="best">60.00</td>' in html
    metrics = json.loads(paths["metrics"].read_text())
    assert metrics["table"][0] == {
        "variant": "CAM",
        "Top-1 Cls": 80.0,
        "GT-known Loc": 30.0,
        "MaxBoxAcc": 50.0,
        "MaxBoxAccV2": 40.0,
        "PxAP": 55.0,
    }
    assert metrics["variants"]["TAP+NWC+PaS"]["variant"] == "nwc+pas"
    with open(paths["cams_cam"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_curve_matrix_forms():
    flat = [1.0, 2.0]
    assert curve_matrix(flat, (0.3, 0.5)).shape == (2, 2)
    assert curve_matrix({"50": flat, "30": flat}, (0.3, 0.5)).tolist() == [flat, flat]
    with pytest.raises(KeyError, match="IoU 0.7"):
        curve_matrix({0.5: flat}, (0.7,))


def test_html_table_escapes_and_marks_best():
    t = html_table([{"variant": "<a>", "x": 1.0}, {"variant": "b", "x": 2.0}], ["x"])
    assert "&lt;a&gt;" in t and '<td class="best">2.00</td>' in t


def test_empty_report_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no entries"):
        write_report(tmp_path, [], thresholds=[0.0])


def test_report_shows_val_threshold_columns(tmp_path):
    th = np.arange(0, 1, 0.25)
    m = {
        "MaxBoxAcc": 50.0,
        "BoxAcc@val_thr": 47.5,
        "MaxBoxAccV2": 40.0,
        "BoxAccV2@val_thr": 36.25,
        "val_threshold": 0.25,
        "box_acc_curve": {0.5: [10.0, 50.0, 40.0, 0.0]},
    }
    paths = write_report(tmp_path, [ReportEntry("CAM", "base", m, 80.0)], thresholds=th, iou_thresholds=(0.5,))
    html = paths["html"].read_text()
    assert "<th>BoxAcc@val_thr</th>" in html and "<th>BoxAccV2@val_thr</th>" in html
    assert html.index("<th>MaxBoxAcc</th>") < html.index("<th>BoxAcc@val_thr</th>") < html.index("<th>MaxBoxAccV2</th>")
    metrics = json.loads(paths["metrics"].read_text())
    assert metrics["table"][0]["BoxAcc@val_thr"] == 47.5 and metrics["table"][0]["BoxAccV2@val_thr"] == 36.25
    assert metrics["variants"]["CAM"]["val_threshold"] == 0.25
