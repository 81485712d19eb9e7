"""summary.csv and TensorBoard logs: one row / one event per epoch, also across an interrupted + resumed run."""

from __future__ import annotations

import csv
import dataclasses
import shutil

import pytest
from tiny_runs import tiny_config

from wsolx.engine import Config, Trainer
from wsolx.engine.epoch_logs import CSVSummary, flatten_epoch, read_summary

SIZE = 32


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_flatten_epoch():
    rec = {
        "epoch": 3,
        "train_loss": 0.5,
        "lr": 0.1,
        "val_score": 40.0,
        "val": {
            "Top-1 Cls": 50.0,
            "variants": {
                "nwc+pas": {"MaxBoxAccV2": 40.0, "percentile": 90.0, "multi_box": True, "box_acc_curve": {"0.5": [1]}}
            },
        },
    }
    assert flatten_epoch(rec) == {
        "epoch": 3,
        "train_loss": 0.5,
        "lr": 0.1,
        "val_score": 40.0,
        "val_Top-1 Cls": 50.0,
        "val_nwc+pas_MaxBoxAccV2": 40.0,
    }


def test_csv_summary_replaces_and_drops_rows(tmp_path):
    p = tmp_path / "summary.csv"
    s = CSVSummary(p)
    s.log({"epoch": 1, "train_loss": 1.0})
    s.log({"epoch": 2, "train_loss": 0.9, "val_score": 5.0})  # a new column appears
    s.log({"epoch": 3, "train_loss": 0.8})
    assert [r["epoch"] for r in _rows(p)] == ["1", "2", "3"]
    assert _rows(p)[0]["val_score"] == "" and _rows(p)[1]["val_score"] == "5.0"
    resumed = CSVSummary(p, start_epoch=1)  # checkpoint after epoch 1: rows 2 and 3 are gone
    assert [r["epoch"] for r in read_summary(p)] == ["1"]
    resumed.log({"epoch": 2, "train_loss": 0.7})
    assert [(r["epoch"], r["train_loss"]) for r in _rows(p)] == [("1", "1.0"), ("2", "0.7")]
    assert not (tmp_path / "summary.csv.tmp").exists()
    CSVSummary(p)  # a fresh (not resumed) run starts an empty file
    assert read_summary(p) == []


@pytest.fixture(scope="module")
def synth_root(make_synth):
    return make_synth(num_classes=3, train_per_class=6, image_size=SIZE, seed=2, masks=False)


def _cfg(root, out, epochs, **kw) -> Config:
    return tiny_config(
        root, out, optim={"epochs": epochs}, final_test=False, loggers=["csv", "tensorboard"], log_images_every=2, **kw
    )


def test_interrupted_and_resumed_run_has_one_row_per_epoch(synth_root, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    Trainer(_cfg(synth_root, out, 1)).fit()
    shutil.copy(out / "last.pt", tmp_path / "after_epoch1.pt")
    Trainer(_cfg(synth_root, out, 2, resume="auto")).fit()  # epoch 2 is logged ...
    first_two = _rows(out / "summary.csv")
    assert [r["epoch"] for r in first_two] == ["1", "2"]
    # ... then the run is "interrupted" and restarted from the epoch-1 checkpoint, to 3 epochs.
    Trainer(_cfg(synth_root, out, 3, resume=str(tmp_path / "after_epoch1.pt"))).fit()
    rows = _rows(out / "summary.csv")
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert rows[0] == first_two[0]
    # Bit-reproducible resume: the redone epoch 2 has the same loss as the first time.
    assert rows[1]["train_loss"] == first_two[1]["train_loss"]
    ea = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    ea.Reload()
    assert [e.step for e in ea.Scalars("train/loss")] == [1, 2, 3]
    assert [e.step for e in ea.Scalars("val/base/MaxBoxAccV2")] == [1, 2, 3]
    # Grids every 2 epochs and at the last epoch of each invocation (1 of 1, 3 of 3); 2 was redone once.
    assert [e.step for e in ea.Images("val/cam_overlays")] == [1, 2, 3]


def test_tensorboard_missing_is_a_config_error(synth_root, tmp_path, monkeypatch):
    import sys

    from wsolx.engine.config import ConfigError

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ConfigError, match=r"pip install 'wsolx\[tensorboard\]'"):
        Trainer(dataclasses.replace(_cfg(synth_root, tmp_path / "x", 1), loggers=["tensorboard"]))
