"""The README's runnable examples, each run end to end at CI sizes (``--quick``) on generated data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_example(name: str, out: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), "--out", str(out), "--quick", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout


def test_eval_maps_example(tmp_path):
    printed = run_example("eval_maps.py", tmp_path)
    api = float(printed.split("API: MaxBoxAccV2 ")[1].split()[0])
    res = json.loads((tmp_path / "metrics.json").read_text())
    assert res["MaxBoxAccV2"] == pytest.approx(api, abs=0.005)  # the API and the CLI agree
    assert res["num_images"] == 12 and res["PxAP"] is not None and res["Top-1 Cls"] == 100.0
    assert (tmp_path / "report" / "report.html").is_file()


def test_localize_own_model_example(tmp_path):
    printed = run_example("localize_own_model.py", tmp_path)
    assert "CAM+NWC+PaS" in printed and "boxes (9, 4)" in printed


def test_train_own_data_example(tmp_path):
    run_example("train_own_data.py", tmp_path)
    res = json.loads((tmp_path / "run" / "eval_test.json").read_text())
    assert res["dataset"] == "MYDATA" and res["num_images"] == 9
    assert not (tmp_path / "mydata" / "metadata" / "MYDATA" / "class_names.txt").exists()
