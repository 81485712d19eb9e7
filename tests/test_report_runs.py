"""`wsolx report`, `train --report --log csv,tensorboard`, `eval --report`: real tiny runs on the synthetic set.

Two vgg_tiny runs (TAP and GAP, 2 epochs, 32 px) are trained once per module through the CLI; the
tests read what they wrote: report.html and its figures, summary.csv, TensorBoard events,
config.yaml, and a two-run comparison report (also loaded in headless Chromium when installed).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from wsolx.cli import main
from wsolx.data import synthetic

SIZE = 32
COMMON = (
    f"--dataset SYNTH --mask-dataset SYNTH_MASK --arch vgg_tiny --image-size {SIZE} --epochs 2 --batch-size 6 "
    "--workers 0 --device cpu --quiet --lr-step 1 --set eval.cam_curve_interval=0.05 "
    "--set model.method_kwargs.base_width=4 --set eval.variants=base,nwc+pas --set data.resize_size=36"
).split()


def _img_sources(html: str) -> list:
    return re.findall(r'<img src="([^"]+)"', html)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report_runs")
    data = root / "synth"
    synthetic.generate(
        data,
        num_classes=3,
        train_per_class=6,
        val_per_class=3,
        test_per_class=4,
        image_size=SIZE,
        seed=3,
        progress=False,
    )
    tap, gap = root / "tap", root / "gap"
    assert (
        main(
            [
                "train",
                "--data-root",
                str(data),
                *COMMON,
                "--pooling",
                "tap",
                "--out",
                str(tap),
                "--report",
                "--log",
                "tensorboard,csv",
                "--log-images-every",
                "1",
            ]
        )
        == 0
    )
    # GAP tests best.pt, so metrics.json's 'val' (the best epoch's curves) is the tested checkpoint's.
    assert (
        main(
            [
                "train",
                "--data-root",
                str(data),
                *COMMON,
                "--pooling",
                "gap",
                "--out",
                str(gap),
                "--test-checkpoint",
                "best",
            ]
        )
        == 0
    )
    return {"root": root, "data": data, "tap": tap, "gap": gap}


def test_train_report_images_all_exist(runs):
    html_path = runs["tap"] / "report" / "report.html"
    html = html_path.read_text()
    srcs = _img_sources(html)
    names = {Path(s).name for s in srcs}
    assert {
        "box_acc_curves.png",
        "pxap_curves.png",
        "training_curves.png",
        "cams_tap_base.png",
        "cams_tap_nwc_pas.png",
    } <= names
    for s in srcs:
        f = html_path.parent / s
        assert f.is_file(), s
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", s
    # The run's own metrics.json is untouched (the report has its own folder).
    assert "test" in json.loads((runs["tap"] / "metrics.json").read_text())


def test_summary_csv_one_row_per_epoch(runs):
    with (runs["tap"] / "summary.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    log = [json.loads(x) for x in (runs["tap"] / "log.jsonl").read_text().splitlines() if '"epoch"' in x]
    epochs = [r for r in log if r["event"] == "epoch"]
    for row, rec in zip(rows, epochs):
        assert float(row["train_loss"]) == pytest.approx(rec["train_loss"], rel=1e-5)
        assert float(row["val_base_MaxBoxAccV2"]) == pytest.approx(
            rec["val"]["variants"]["base"]["MaxBoxAccV2"], rel=1e-5
        )
    assert not (runs["gap"] / "summary.csv").exists()  # only when asked


def test_tensorboard_events_readable(runs):
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    ea = ea_mod.EventAccumulator(str(runs["tap"] / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    ea.Reload()
    tags = ea.Tags()
    assert {"train/loss", "train/acc", "val/base/MaxBoxAccV2", "val/nwc+pas/PxAP"} <= set(tags["scalars"])
    assert [e.step for e in ea.Scalars("train/loss")] == [1, 2]
    assert {"val/box_acc_curve", "val/cam_overlays"} <= set(tags["images"])
    grid = ea.Images("val/cam_overlays")
    assert [e.step for e in grid] == [1, 2] and grid[0].width > SIZE


def test_config_yaml_written_and_equal(runs):
    pytest.importorskip("yaml")
    from wsolx.engine.config import load_config

    assert load_config(runs["tap"] / "config.yaml") == load_config(runs["tap"] / "config.json")


def _read_table(html: str, heading: str) -> list:
    """Rows (lists of cell texts) of the table under ``<h2>heading</h2>``."""
    part = html.split(f"<h2>{heading}</h2>", 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r) for r in re.findall(r"<tr>(.*?)</tr>", part)]


def _val_chosen_oracle(val_m, test_m, delta):
    """Own transcription: threshold index of the first maximum of the validation curve, test accuracy there."""
    key = next(k for k in val_m["box_acc_curve"] if abs(float(k) - delta) < 1e-9)
    v = val_m["box_acc_curve"][key]
    i = v.index(max(v))
    return test_m["box_acc_curve"][key][i], test_m["thresholds"][i]


def test_two_run_report_table_and_val_thresholds(runs, capsys):
    out = runs["root"] / "both"
    assert main(["report", str(runs["tap"]), str(runs["gap"]), "--out", str(out), "--examples", "4"]) == 0
    assert "report:" in capsys.readouterr().out
    html = (out / "report.html").read_text()
    table = _read_table(html, "Metrics")
    header, body = table[0], table[1:]
    assert [r[0] for r in body] == ["tap: TAP", "tap: TAP+NWC+PaS", "gap: CAM", "gap: CAM+NWC+PaS"]
    for col in ("MaxBoxAcc", "BoxAcc @val thr", "MaxBoxAccV2", "BoxAccV2 @val thr", "PxAP"):
        assert col in header
    for s in _img_sources(html):
        assert (out / s).is_file(), s
    assert sum("cams_" in s for s in _img_sources(html)) == 4  # 2 runs x 2 variants

    # The validation-chosen numbers against a transcription of the rule.
    metrics = json.loads((runs["gap"] / "metrics.json").read_text())
    val_m, test_m = metrics["val"]["variants"]["nwc+pas"], metrics["test"]["variants"]["nwc+pas"]
    accs, thrs = zip(*(_val_chosen_oracle(val_m, test_m, d) for d in (0.3, 0.5, 0.7)))
    row = dict(zip(header, body[3]))
    assert float(row["BoxAccV2 @val thr"]) == pytest.approx(float(np.mean(accs)), abs=0.006)
    # The report shows the trainer's own validation-threshold numbers, once, under its column names.
    assert float(row["BoxAccV2 @val thr"]) == pytest.approx(test_m["BoxAccV2@val_thr"], abs=0.006)
    assert not [c for c in header if c.endswith("@val_thr") or c.startswith("val_threshold")]
    assert float(row["MaxBoxAccV2"]) == pytest.approx(test_m["MaxBoxAccV2"], abs=0.006)
    rep = json.loads((out / "metrics.json").read_text())
    trow = next(r for r in rep["thresholds"] if r["variant"] == "gap: CAM+NWC+PaS")
    assert trow["thr V2@0.5 (val)"] == pytest.approx(thrs[1])
    assert trow["thr V2@0.5 (oracle)"] == pytest.approx(test_m["best_threshold@0.5"])
    assert trow["fixed thr"] == pytest.approx(0.35)


def test_report_reads_extra_columns_and_runs_without_val(runs, tmp_path):
    """Numbers a newer metrics.json carries become columns; the recorded validation-threshold numbers
    are shown without the val section; with neither, only the oracle numbers."""
    run = tmp_path / "copy"
    shutil.copytree(runs["gap"], run)
    m = json.loads((run / "metrics.json").read_text())
    base = m["test"]["variants"]["base"]
    base["Top-1 Loc (val thr)"] = 12.5
    base["val_threshold"] = 0.45
    del m["val"]
    (run / "metrics.json").write_text(json.dumps(m))
    assert main(["report", str(run), "--out", str(tmp_path / "r"), "--no-overlays"]) == 0
    html = (tmp_path / "r" / "report.html").read_text()
    table = _read_table(html, "Metrics")
    header = table[0]
    assert "Top-1 Loc (val thr)" in header
    assert float(dict(zip(header, table[1]))["BoxAcc @val thr"]) == pytest.approx(base["BoxAcc@val_thr"], abs=0.006)
    thr_table = _read_table(html, "Operating thresholds")
    row = dict(zip(thr_table[0], thr_table[1]))
    assert float(row["thr MaxBoxAcc (val)"]) == pytest.approx(0.45)  # the recorded number, not recomputed

    for v in m["test"]["variants"].values():  # no recorded numbers and no val curves: oracle only
        for k in [k for k in v if k.startswith("val_threshold") or k.endswith("@val_thr")]:
            del v[k]
    (run / "metrics.json").write_text(json.dumps(m))
    assert main(["report", str(run), "--out", str(tmp_path / "r2"), "--no-overlays"]) == 0
    header = _read_table((tmp_path / "r2" / "report.html").read_text(), "Metrics")[0]
    assert "MaxBoxAcc" in header and "BoxAcc @val thr" not in header
    assert "cams_" not in html


def test_eval_report(runs, tmp_path, capsys):
    out_json = tmp_path / "e.json"
    assert (
        main(
            [
                "eval",
                str(runs["gap"] / "best.pt"),
                "--variants",
                "base",
                "--out",
                str(out_json),
                "--report",
                str(tmp_path / "er"),
                "--quiet",
            ]
        )
        == 0
    )
    html = (tmp_path / "er" / "report.html").read_text()
    body = _read_table(html, "Metrics")[1:]
    assert [r[0] for r in body] == ["CAM"]
    assert "BoxAcc @val thr" in _read_table(html, "Metrics")[0]  # val curves from the run folder
    assert all((tmp_path / "er" / s).is_file() for s in _img_sources(html))
    # The eval JSON itself is a run for `wsolx report`.
    assert main(["report", str(out_json), "--out", str(tmp_path / "rj"), "--no-overlays"]) == 0
    body = _read_table((tmp_path / "rj" / "report.html").read_text(), "Metrics")[1:]
    assert [r[0] for r in body] == ["CAM"]


def test_report_errors(runs, tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", str(runs["tap"]), "--out", str(runs["gap"])]) == 2
    assert "is a run folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty), "--out", str(tmp_path / "r")]) == 2
    assert "neither metrics.json" in capsys.readouterr().err


def test_best_and_worst_examples_are_ranked(runs):
    """Overlays show the highest- and lowest-IoU test images of the scan."""
    from wsolx.engine.builders import build_dataset
    from wsolx.engine.checkpoint import load_checkpoint
    from wsolx.engine.config import Config
    from wsolx.engine.eval_runs import load_model
    from wsolx.report.examples import best_and_worst_examples, rank_by_iou

    ckpt = load_checkpoint(runs["tap"] / "best.pt")
    cfg = Config.from_dict(ckpt["config"])
    ds = build_dataset(cfg, "test", train=False)
    model = load_model(ckpt, cfg, __import__("torch").device("cpu"), ds.num_classes)
    ranks = rank_by_iou(model, ds, cfg.eval, ["base"], limit=None)
    assert len(ranks["base"]) == len(ds)
    ex = best_and_worst_examples(model, ds, cfg.eval, ["base"], k=2, limit=None)["base"]
    ious = sorted(ranks["base"].tolist())
    assert [e["rank"] for e in ex] == ["best", "best", "worst", "worst"]
    assert [e["iou"] for e in ex[:2]] == pytest.approx(ious[::-1][:2])
    assert sorted(e["iou"] for e in ex[2:]) == pytest.approx(ious[:2])


def test_report_in_headless_browser(runs, tmp_path):
    import browser_check

    exe = browser_check.find_chromium()
    if exe is None:
        pytest.skip("no chromium installed")
    out = runs["root"] / "browser"
    assert main(["report", str(runs["tap"]), str(runs["gap"]), "--out", str(out)]) == 0
    res = browser_check.check_page(out / "report.html", chromium=exe)
    assert res.get("error") is None, res
    assert res["images"] == len(_img_sources((out / "report.html").read_text())) == 7  # 3 curves + 2x2 overlays
    assert res["broken"] == [] and res["console_errors"] == []
    png = browser_check.screenshot(out / "report.html", tmp_path / "shot.png", chromium=exe, height=1200)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_without_data_notes_the_skipped_overlays(runs, tmp_path):
    assert main(["report", str(runs["gap"]), "--out", str(tmp_path / "r"), "--data-root", str(tmp_path / "moved")]) == 0
    html = (tmp_path / "r" / "report.html").read_text()
    assert "Overlays of gap skipped (ConfigError): data.data_root" in html and "cams_" not in html


def test_overlays_rerun_the_tested_checkpoint(runs, tmp_path):
    """The checkpoint re-run for overlays is the one the test metrics are of (metrics.json 'tested')."""
    from wsolx.report.runs import load_run

    run = tmp_path / "copy"
    shutil.copytree(runs["tap"], run)
    m = json.loads((run / "metrics.json").read_text())
    assert m["tested"]["checkpoint"] == "last"  # the protocol's default
    assert load_run(run).checkpoint == run / "last.pt"
    m["tested"]["checkpoint"] = "best"
    (run / "metrics.json").write_text(json.dumps(m))
    assert load_run(run).checkpoint == run / "best.pt"
    (run / "best.pt").unlink()
    assert load_run(run).checkpoint == run / "last.pt"
