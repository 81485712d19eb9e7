"""Config: defaults, JSON round trip, overrides, and clear errors for bad values and paths."""

from __future__ import annotations

import json

import pytest

from wsolx.engine.config import Config, ConfigError, DataConfig, load_config, parse_override


def test_defaults_validate_and_round_trip(tmp_path):
    cfg = Config().validate()
    cfg.save(tmp_path / "c.json")
    assert load_config(tmp_path / "c.json") == cfg
    assert json.loads((tmp_path / "c.json").read_text())["optim"]["nesterov"] is None  # DEFAULTS fill it
    Config().replace(["optim.nesterov=true"]).save(tmp_path / "n.json")
    assert json.loads((tmp_path / "n.json").read_text())["optim"]["nesterov"] is True


def test_overrides_parse_types():
    cfg = Config().replace(
        [
            "optim.lr=0.05",
            "eval.variants=base,nwc",
            "model.method_kwargs.drop_rate=0.75",
            'data.batch_size="8"',
            "amp=true",
            "model.weights=null",
        ]
    )
    assert cfg.optim.lr == 0.05
    assert cfg.eval.variants == ["base", "nwc"]
    assert cfg.model.method_kwargs == {"drop_rate": 0.75}
    assert cfg.data.batch_size == 8
    assert cfg.amp is True and cfg.model.weights is None
    assert parse_override("out_dir=runs/x") == ("out_dir", "runs/x")


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lr=-1", "optim.lr must be a positive number"),
        ("optim.lr=0", "optim.lr must be a positive number"),
        ("data.image_size=0", "data.image_size must be a positive integer"),
        ("optim.epochs=1.5", "optim.epochs must be an integer"),
        ("optim.momentum=1.5", "optim.momentum must lie in"),
        ("model.tap_theta=2", "model.tap_theta must lie in [0.0, 1.0]"),
        ("model.pooling=max", "model.pooling must be 'tap' or 'gap'"),
        ("eval.variants=base,bogus", "unknown variant 'bogus'"),
        ("eval.pas_percentile=120", "eval.pas_percentile must lie in"),
        ("device=tpu", "device must be"),
        ("data.num_workers=-1", "data.num_workers must be a non-negative integer"),
        ("optim.lr=abc", "optim.lr must be a number"),
        ("amp=maybe", "amp must be true or false"),
        ("nonsense.key=1", "unknown config key 'nonsense'"),
        ("data.nope=1", "unknown config key 'data.nope'"),
    ],
)
def test_bad_values_name_the_field(override, message):
    with pytest.raises(ConfigError) as exc:
        Config().replace([override]).validate()
    assert message in str(exc.value)


def test_bad_override_syntax_and_files(tmp_path):
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("optim.lr")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(tmp_path / "bad.json")
    (tmp_path / "unknown.json").write_text(json.dumps({"optim": {"learning_rate": 1}}))
    with pytest.raises(ConfigError, match="optim.learning_rate"):
        load_config(tmp_path / "unknown.json")


def test_missing_paths_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="data_root is not set"):
        Config().check_paths()
    with pytest.raises(ConfigError, match="does not exist"):
        Config(data=DataConfig(data_root=str(tmp_path / "nowhere"))).check_paths()
    with pytest.raises(ConfigError, match="metadata folder"):
        Config(data=DataConfig(data_root=str(tmp_path))).check_paths()
    (tmp_path / "metadata" / "CUB").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"no metadata for data set 'SYNTH'.*CUB"):
        Config(data=DataConfig(data_root=str(tmp_path))).check_paths()
    (tmp_path / "metadata" / "SYNTH").mkdir()
    cfg = Config(data=DataConfig(data_root=str(tmp_path))).replace([f"model.weights={tmp_path / 'w.pth'}"])
    with pytest.raises(ConfigError, match="model.weights"):
        cfg.check_paths()
