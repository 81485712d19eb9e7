"""The ``wsolx`` command line: info, synth, train, eval, demo, and its one-line errors."""

from __future__ import annotations

import json
import runpy
import sys

import pytest
from tiny_runs import train_argv

from wsolx.cli import main


@pytest.fixture(scope="module")
def synth_root(make_synth):
    return make_synth(train_per_class=6, test_per_class=3)


def _train_args(root, out, *extra):
    return train_argv(root, out, *extra)


@pytest.fixture(scope="module")
def checkpoint(synth_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli_run")
    assert main(_train_args(synth_root, out)) == 0
    return out / "best.pt"


def test_info_json(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["backend"] in ("extension", "fallback") and "vgg_tiny" in info["models"]
    assert info["distributed"]["gloo"] is True


def test_python_dash_m_entry_point(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["wsolx", "--help"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_module("wsolx", run_name="__main__")
    assert exc.value.code == 0
    printed = capsys.readouterr().out
    for cmd in ("synth", "train", "eval", "demo", "info"):
        assert cmd in printed


def test_synth_writes_both_variants(synth_root):
    for variant in ("SYNTH", "SYNTH_MASK"):
        for split in ("train", "val", "test"):
            assert (synth_root / "metadata" / variant / split / "image_ids.txt").is_file()


def test_train_writes_run_folder(checkpoint, capsys):
    out = checkpoint.parent
    for name in ("config.json", "log.jsonl", "best.pt", "last.pt", "metrics.json"):
        assert (out / name).is_file(), name
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["optim"]["nesterov"] is True and cfg["optim"]["momentum"] == 0.9
    assert cfg["model"]["arch"] == "vgg_tiny" and cfg["data"]["batch_size"] == 4


def test_print_config_applies_flags_and_sets(synth_root, tmp_path, capsys):
    assert (
        main(_train_args(synth_root, tmp_path, "--pooling", "gap", "--set", "optim.lr_gamma=0.5", "--print-config"))
        == 0
    )
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["model"]["pooling"] == "gap" and cfg["optim"]["lr_gamma"] == 0.5 and cfg["optim"]["epochs"] == 1


@pytest.mark.parametrize(
    "flags, expected",
    [
        ([], ["base", "nwc", "pas", "nwc+pas"]),
        (["--no-nwc", "--no-pas"], ["base"]),
        (["--nwc", "--pas"], ["nwc+pas"]),
        (["--variants", "base,pas", "--pas"], ["pas"]),
    ],
)
def test_eval_variants(checkpoint, tmp_path, capsys, flags, expected):
    out = tmp_path / "eval.json"
    assert main(["eval", str(checkpoint), "--quiet", "--out", str(out), *flags]) == 0
    res = json.loads(out.read_text())
    assert list(res["variants"]) == expected
    for m in res["variants"].values():
        assert {"MaxBoxAcc", "MaxBoxAccV2", "GT-known Loc", "Top-1 Loc", "PxAP"} <= set(m)
    printed = capsys.readouterr().out
    assert "MaxBoxAccV2" in printed and "Top-1 Cls" in printed
    # Beside the oracle numbers: the test accuracy at the thresholds chosen on the val split.
    assert "BoxAcc@val_thr" in printed and "BoxAccV2@val_thr" in printed and res["val_threshold_split"] == "val"
    for m in res["variants"].values():
        assert {"val_threshold", "BoxAcc@val_thr", "BoxAccV2@val_thr", "val_threshold@0.5"} <= set(m)


def test_eval_without_val_thresholds(checkpoint, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert (
        main(["eval", str(checkpoint), "--quiet", "--out", str(out), "--no-val-thresholds", "--variants", "base"]) == 0
    )
    res = json.loads(out.read_text())
    assert "BoxAcc@val_thr" not in res["variants"]["base"] and "val_threshold_split" not in res
    assert "BoxAcc@val_thr" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--data-root", "/no/such/dir"], "data.data_root '/no/such/dir' does not exist"),
        (["train", "--epochs", "0", "--data-root", "."], "optim.epochs must be a positive integer"),
        (["train", "--lr", "-0.1", "--data-root", "."], "optim.lr must be a positive number"),
        (["train", "--set", "optim.bogus=1"], "unknown config key 'optim.bogus'"),
        (["train", "--config", "/no/such.json"], "config file '/no/such.json' does not exist"),
        (["eval", "/no/such/best.pt"], "checkpoint '/no/such/best.pt' does not exist"),
    ],
)
def test_errors_are_one_clear_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.startswith(f"wsolx {argv[0]}: error:")


def test_unknown_arch_and_method(synth_root, tmp_path, capsys):
    assert main(_train_args(synth_root, tmp_path, "--arch", "resnet9000")) == 2
    assert "unknown model.arch 'resnet9000'" in capsys.readouterr().err
    assert main(_train_args(synth_root, tmp_path, "--method", "magic")) == 2
    assert "unknown model.method 'magic'" in capsys.readouterr().err


def test_eval_with_no_variant_left(checkpoint, capsys):
    assert main(["eval", str(checkpoint), "--variants", "base", "--nwc"]) == 2
    assert "no variant left" in capsys.readouterr().err


#: A demo small enough for a test (with --quick).
SMALL_DEMO = "--image-size 32 --num-classes 2 --train-per-class 8 --examples 2 --quiet".split()


def test_demo_smoke(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--quick", "--out", str(out), "--epochs", "1", *SMALL_DEMO]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for label in ("CAM", "CAM+NWC+PaS", "TAP", "TAP+NWC+PaS"):
        assert f"\n{label} " in printed
    assert (out / "report.html").is_file() and (out / "figures" / "box_acc_curves.png").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["variant"] for r in metrics["table"]] == ["CAM", "CAM+NWC+PaS", "TAP", "TAP+NWC+PaS"]
    for row in metrics["table"]:
        assert {"Top-1 Cls", "GT-known Loc", "Top-1 Loc", "MaxBoxAcc", "MaxBoxAccV2", "PxAP"} <= set(row)


def test_demo_is_deterministic(tmp_path):
    """Two runs of the demo in fresh processes print the same table and write the same numbers."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    printed, tables = [], []
    for k in range(2):
        out = tmp_path / f"demo{k}"
        proc = subprocess.run(
            [sys.executable, "-m", "wsolx", "demo", "--quick", "--out", str(out), "--epochs", "2", *SMALL_DEMO],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        printed.append([ln for ln in proc.stdout.splitlines() if ln.startswith(("CAM", "TAP"))])
        tables.append(json.loads((out / "metrics.json").read_text())["table"])
    assert len(printed[0]) == 4 and printed[0] == printed[1]
    assert tables[0] == tables[1]


def test_eval_without_a_val_split(checkpoint, synth_root, tmp_path, capsys):
    import shutil

    meta = tmp_path / "meta"
    shutil.copytree(synth_root / "metadata", meta)
    for name in ("SYNTH", "SYNTH_MASK"):
        shutil.rmtree(meta / name / "val")
    out = tmp_path / "eval.json"
    assert (
        main(
            ["eval", str(checkpoint), "--quiet", "--out", str(out), "--variants", "base", "--metadata-root", str(meta)]
        )
        == 0
    )
    res = json.loads(out.read_text())
    assert res["val_threshold_split"] is None and "BoxAcc@val_thr" not in res["variants"]["base"]
    assert "no validation split" in capsys.readouterr().out
