"""One source for every default: DEFAULTS entries reach a resolved config and the builders, the
protocol's numbers are unchanged, a run's settings are validated once, one min-max normalisation."""

from __future__ import annotations

import inspect

import pytest
import torch

from wsolx import protocol
from wsolx.engine.builders import resolve_defaults
from wsolx.engine.config import Config, ConfigError, DataConfig, EvalConfig, ModelConfig, OptimConfig
from wsolx.methods import build_method
from wsolx.models import DEFAULTS, get_defaults, get_model
from wsolx.ops import minmax_normalize


def _cfg(**model) -> Config:
    return Config(data=DataConfig(dataset="SYNTH"), model=ModelConfig(arch="vgg_tiny", **model))


def test_protocol_numbers_unchanged():
    cfg = resolve_defaults(_cfg(method="spg"))
    assert cfg.model.tap_theta == 0.1 and protocol.TAP_THETA == 0.1
    assert cfg.optim.momentum == 0.9 and cfg.optim.nesterov is True
    assert cfg.model.method_kwargs == {"thresholds": [[0.7, 0.01], [0.5, 0.05], [0.7, 0.1]]}
    ev = EvalConfig()
    assert (ev.fixed_threshold, ev.pas_threshold, ev.pas_percentile) == (0.2, 0.35, 90.0)
    assert get_defaults("vgg16", profile="paper")["tap_theta"] == 0.1


@pytest.mark.parametrize("method", ["has", "acol", "spg", "adl", "cutmix"])
def test_method_defaults_match_the_methods(method):
    # The method classes' own keyword defaults agree with DEFAULTS (used when built directly).
    params = inspect.signature(type(build_method(method)).__init__).parameters
    for k, v in DEFAULTS["methods"][method].items():
        if k != "source":
            assert params[k].default == v, (method, k)


def test_editing_defaults_changes_the_resolved_config(monkeypatch):
    monkeypatch.setitem(DEFAULTS["model"], "tap_theta", 0.25)
    monkeypatch.setitem(DEFAULTS["methods"]["has"], "grid_size", 8)
    monkeypatch.setitem(DEFAULTS["optimizer"], "momentum", 0.5)
    cfg = resolve_defaults(_cfg(method="has"))
    assert cfg.model.tap_theta == 0.25
    assert cfg.model.method_kwargs == {"grid_size": 8, "drop_rate": 0.5}
    assert cfg.optim.momentum == 0.5
    # What the config sets wins over the table.
    cfg = resolve_defaults(_cfg(method="has", tap_theta=0.3, method_kwargs={"grid_size": 2}))
    assert cfg.model.tap_theta == 0.3 and cfg.model.method_kwargs == {"grid_size": 2, "drop_rate": 0.5}
    # The builders read the same entries.
    with torch.device("meta"):
        m = get_model("vgg_tiny", num_classes=2, method="has")
    assert m.tap_theta == 0.25 and m.method.grid_size == 8


def test_resolved_config_is_validated_once(monkeypatch):
    calls = []
    orig = Config.validate

    def counting(self, **kw):
        calls.append(kw)
        return orig(self, **kw)

    monkeypatch.setattr(Config, "validate", counting)
    resolve_defaults(_cfg())
    assert len(calls) == 1


@pytest.mark.parametrize(
    "cfg, message",
    [
        (
            Config(
                data=DataConfig(dataset="SYNTH"), model=ModelConfig(arch="vgg_tiny"), optim=OptimConfig(profile="x")
            ),
            "optim.profile must be 'protocol' or 'paper', got 'x'",
        ),
        (
            Config(data=DataConfig(dataset="SYNTH", eval_batch_size=0), model=ModelConfig(arch="vgg_tiny")),
            "data.eval_batch_size must be a positive integer, got 0",
        ),
        (
            Config(
                data=DataConfig(dataset="SYNTH"), model=ModelConfig(arch="vgg_tiny"), optim=OptimConfig(lr_gamma=0.0)
            ),
            r"optim.lr_gamma must lie in \(0.0, 1.0\], got 0.0",
        ),
        (
            Config(data=DataConfig(dataset="SYNTH"), model=ModelConfig(arch="vgg_tiny", tap_theta=2.0)),
            r"model.tap_theta must lie in \[0.0, 1.0\], got 2.0",
        ),
        (
            Config(data=DataConfig(dataset="SYNTH"), model=ModelConfig(arch="mobilenet_v1")),
            "optim.lr, optim.weight_decay have no default",
        ),
    ],
)
def test_resolve_errors_name_the_setting(cfg, message):
    with pytest.raises(ConfigError, match=message):
        resolve_defaults(cfg)


def test_replace_keeps_a_dataclass_and_checks_keys():
    cfg = Config().replace(["optim.lr=0.5", "model.method_kwargs.grid_size=3", "eval.variants=base"])
    assert cfg.optim.lr == 0.5 and cfg.model.method_kwargs == {"grid_size": 3} and cfg.eval.variants == ["base"]
    assert Config().optim.lr is None  # a copy
    with pytest.raises(ConfigError, match="unknown config key 'model.arch' in override 'model.arch.x'"):
        Config().replace(["model.arch.x=1"])
    with pytest.raises(ConfigError, match="unknown config key 'optim.lrr'"):
        Config().replace(["optim.lrr=1"])
    with pytest.raises(ConfigError, match="data.image_size must be an integer"):
        Config().replace(["data.image_size=abc"])


def test_minmax_normalize_protocol_rule():
    maps = torch.tensor(
        [[[1.0, 3.0], [2.0, 5.0]], [[2.0, 2.0], [2.0, 2.0]], [[0.0, float("nan")], [1.0, 2.0]]], dtype=torch.float64
    )
    out = minmax_normalize(maps)
    assert out.dtype == torch.float64
    assert torch.equal(out[0], (maps[0] - 1.0) / 4.0)
    assert torch.equal(out[1], torch.zeros(2, 2, dtype=torch.float64))
    assert torch.equal(out[2], torch.zeros(2, 2, dtype=torch.float64))
    assert minmax_normalize(maps, dtype=torch.float32).dtype == torch.float32
    assert minmax_normalize(maps[:, None]).shape == (3, 1, 2, 2)
