"""YAML configs: round trip, errors naming file, key and line, a one-line error without PyYAML."""

from __future__ import annotations

import sys

import pytest

from wsolx.cli import main
from wsolx.engine.config import Config, ConfigError, DataConfig, EvalConfig, ModelConfig, OptimConfig, load_config

yaml = pytest.importorskip("yaml")


def _custom() -> Config:
    return Config(
        data=DataConfig(dataset="CUB", data_root="/data/x", image_size=96, crop_size=80, batch_size=7),
        model=ModelConfig(arch="vgg_tiny", pooling="gap", tap_theta=0.25, method_kwargs={"base_width": 4}),
        optim=OptimConfig(lr=0.003, epochs=3, lr_milestones=[1, 2], lr_gamma=0.5),
        eval=EvalConfig(variants=["base", "pas"], iou_thresholds=[0.5], pas_percentile=80.0),
        loggers=["csv"],
        resume=None,
    )


def test_yaml_round_trip(tmp_path):
    cfg = _custom()
    cfg.save(tmp_path / "run.yaml")
    assert load_config(tmp_path / "run.yaml") == cfg
    cfg.save(tmp_path / "run.yml")
    assert load_config(tmp_path / "run.yml", ["optim.lr=0.5"]).optim.lr == 0.5
    # JSON and YAML files of the same config load equal.
    cfg.save(tmp_path / "run.json")
    assert load_config(tmp_path / "run.json") == load_config(tmp_path / "run.yaml")


def test_yaml_bad_key_names_file_key_and_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("data:\n  dataset: SYNTH\n  image_sise: 32\nmodel:\n  arch: vgg_tiny\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    msg = str(exc.value)
    assert str(p) in msg and "data.image_sise" in msg and "line 3" in msg
    p.write_text("data:\n  dataset: SYNTH\noptim:\n  epochs: two\n")
    with pytest.raises(ConfigError, match=r"bad.yaml' line 4: optim.epochs must be an integer"):
        load_config(p)


def test_yaml_syntax_error_and_non_mapping(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("data:\n  dataset: [SYNTH\nmodel: {}\n")
    with pytest.raises(ConfigError, match=r"broken.yaml' is not valid YAML at line \d"):
        load_config(p)
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a YAML mapping"):
        load_config(p)


def test_json_errors_name_the_file_too(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('{"optim": {"lr": "fast"}}')
    with pytest.raises(ConfigError, match=r"c.json': optim.lr must be a number"):
        load_config(p)


def test_cli_yaml_without_pyyaml(tmp_path, monkeypatch, capsys):
    p = tmp_path / "run.yaml"
    p.write_text("model:\n  arch: vgg_tiny\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml -> ImportError
    assert main(["train", "--config", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err == (
        f"wsolx train: error: config file {str(p)!r} is YAML but PyYAML is not installed (pip install 'wsolx[yaml]')"
    )


def test_cli_yaml_config_is_used(tmp_path, capsys):
    p = tmp_path / "run.yaml"
    p.write_text("model:\n  arch: vgg_tiny\n  pooling: gap\noptim:\n  epochs: 3\nloggers: [csv]\n")
    assert main(["train", "--config", str(p), "--print-config", "--lr", "0.02"]) == 0
    import json

    cfg = json.loads(capsys.readouterr().out)
    assert cfg["model"]["pooling"] == "gap" and cfg["optim"]["epochs"] == 3 and cfg["optim"]["lr"] == 0.02
    assert cfg["loggers"] == ["csv"]


def test_loggers_are_validated():
    with pytest.raises(ConfigError, match="unknown logger 'wandb'"):
        Config(loggers=["wandb"]).validate()
    with pytest.raises(ConfigError, match="log_images_every"):
        Config(log_images_every=-1).validate()


def test_bad_value_in_file_names_file_and_line(tmp_path):
    p = tmp_path / "v.yaml"
    p.write_text("model:\n  arch: vgg_tiny\n  pooling: max\n")
    with pytest.raises(ConfigError, match=r"v.yaml' line 3: model.pooling must be 'tap' or 'gap'"):
        load_config(p)
    assert load_config(p, ["model.pooling=gap"]).model.pooling == "gap"  # an override may fix it
    j = tmp_path / "v.json"
    j.write_text('{"model": {"pooling": "max"}}')
    with pytest.raises(ConfigError, match=r"v.json': model.pooling must be"):
        load_config(j)
