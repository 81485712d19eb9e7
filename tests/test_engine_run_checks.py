"""Training runs that lose nothing (issue 16, items 3-5): the best epoch's validation metrics
survive an interruption, a resumed run cannot silently change its settings, and every split is
checked before the first step."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal

import pytest
from tiny_runs import tiny_config as _tiny_config

from wsolx.engine import Config, ConfigError, OptimConfig, Trainer, read_jsonl
from wsolx.engine.checkpoint import load_checkpoint
from wsolx.errors import RunInterrupted

SIZE = 32


@pytest.fixture(scope="module")
def synth_root(make_synth):
    return make_synth(image_size=SIZE, seed=3)


def tiny_config(root, out, **changes) -> Config:
    changes.setdefault("optim", {"epochs": 3})
    return _tiny_config(root, out, data={"batch_size": 4}, **changes)


def test_best_val_metrics_survive_sigterm_and_resume(synth_root, tmp_path, monkeypatch):
    """Best epoch 1, SIGTERM during epoch 2, resume: metrics.json still has epoch 1's val metrics."""
    out = tmp_path / "run"
    scores = iter([90.0, 10.0, 5.0])  # epoch 1 is the best; later epochs are worse
    monkeypatch.setattr(Trainer, "_score", lambda self, metrics: next(scores))
    real_epoch = Trainer.train_one_epoch

    def epoch_then_sigterm(self, epoch):
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler raises RunInterrupted right here
        return real_epoch(self, epoch)

    monkeypatch.setattr(Trainer, "train_one_epoch", epoch_then_sigterm)
    with pytest.raises(RunInterrupted, match="SIGTERM") as exc:
        Trainer(tiny_config(synth_root, out)).fit()
    assert exc.value.exit_status == 128 + signal.SIGTERM and str(out / "last.pt") in str(exc.value)
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is uninstalled

    monkeypatch.setattr(Trainer, "train_one_epoch", real_epoch)
    result = Trainer(tiny_config(synth_root, out, resume="auto")).fit()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best"]["epoch"] == 1 and result.best["epoch"] == 1
    assert metrics["val"] is not None and metrics["test"] is not None
    epoch1 = [r for r in read_jsonl(out / "log.jsonl") if r["event"] == "epoch" and r["epoch"] == 1][0]
    assert metrics["val"]["variants"]["base"]["MaxBoxAccV2"] == epoch1["val"]["variants"]["base"]["MaxBoxAccV2"]
    assert metrics["val"]["num_images"] == epoch1["val"]["num_images"]


def test_best_val_metrics_survive_a_stop_between_epochs(synth_root, tmp_path, monkeypatch):
    """The same without a signal: 1 epoch (no test), then resume to 2 epochs with a worse epoch 2."""
    out = tmp_path / "run"
    scores = iter([90.0, 10.0])
    monkeypatch.setattr(Trainer, "_score", lambda self, metrics: next(scores))
    one = OptimConfig(lr=0.01, weight_decay=1e-4, epochs=1, lr_step=1)
    Trainer(tiny_config(synth_root, out, optim=one, final_test=False)).fit()
    two = dataclasses.replace(one, epochs=2)
    Trainer(tiny_config(synth_root, out, optim=two, resume="auto")).fit()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best"]["epoch"] == 1 and metrics["val"] is not None
    assert metrics["val"]["variants"]["base"]["MaxBoxAccV2"] is not None


@pytest.fixture(scope="module")
def one_epoch_run(synth_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("one_epoch")
    Trainer(
        tiny_config(
            synth_root, out, optim=OptimConfig(lr=0.01, weight_decay=1e-4, epochs=1, lr_step=1), final_test=False
        )
    ).fit()
    return out


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda c: dataclasses.replace(c, optim=dataclasses.replace(c.optim, lr=0.02)), "optim.lr"),
        (lambda c: dataclasses.replace(c, model=dataclasses.replace(c.model, pooling="gap")), "model.pooling"),
        (lambda c: dataclasses.replace(c, data=dataclasses.replace(c.data, batch_size=2)), "data.batch_size"),
        (lambda c: dataclasses.replace(c, seed=7), "seed"),
    ],
)
def test_resume_refuses_changed_settings(synth_root, one_epoch_run, tmp_path, change, key):
    out = tmp_path / "resumed"
    shutil.copytree(one_epoch_run, out)
    before = (out / "config.json").read_text()
    cfg = change(
        tiny_config(synth_root, out, optim=OptimConfig(lr=0.01, weight_decay=1e-4, epochs=2, lr_step=1), resume="auto")
    )
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        Trainer(cfg)
    assert (out / "config.json").read_text() == before  # the record still says what ran


def test_resume_may_extend_epochs_and_change_outputs(synth_root, one_epoch_run, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(one_epoch_run, out)
    cfg = tiny_config(
        synth_root,
        out,
        optim=OptimConfig(lr=0.01, weight_decay=1e-4, epochs=2, lr_step=1),
        resume="auto",
        final_test=False,
        eval_every=2,
        test_checkpoint="best",
        loggers=["csv"],
        log_images_every=0,
    )
    Trainer(cfg).fit()
    assert load_checkpoint(out / "last.pt")["epoch"] == 2
    recorded = json.loads((out / "config.json").read_text())
    assert recorded["optim"]["lr"] == 0.01 and recorded["optim"]["epochs"] == 2
    assert recorded["test_checkpoint"] == "best" and recorded["loggers"] == ["csv"]
    rows = (out / "summary.csv").read_text().splitlines()
    assert rows[-1].split(",")[0] == "2"  # the resumed epoch is logged by the newly enabled logger


def _copy_without_class_names(synth_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(synth_root, root)
    (root / "metadata" / "SYNTH" / "class_names.txt").unlink()  # classes = max label + 1 of each split
    return root


def test_val_label_outside_training_classes_fails_before_training(synth_root, tmp_path):
    root = _copy_without_class_names(synth_root, tmp_path)
    f = root / "metadata" / "SYNTH" / "val" / "class_labels.txt"
    rows = f.read_text().splitlines()
    rows[0] = rows[0].rsplit(",", 1)[0] + ",5"  # the training split has classes 0 and 1
    f.write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=str(f)):
        Trainer(tiny_config(root, out))
    assert not (out / "last.pt").exists()


def test_missing_test_split_fails_before_training(synth_root, tmp_path):
    root = _copy_without_class_names(synth_root, tmp_path)
    shutil.rmtree(root / "metadata" / "SYNTH" / "test")
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="test"):
        Trainer(tiny_config(root, out))
    assert not (out / "last.pt").exists()
    Trainer(tiny_config(root, tmp_path / "no_test", final_test=False))  # not needed: fine
