"""Registry, builder arguments and the DEFAULTS table."""

from __future__ import annotations

import inspect

import pytest
import torch

from wsolx import models
from wsolx.models import DEFAULTS, get_defaults, get_model, list_models


def test_list_and_get_models():
    assert list_models() == ["inception_v3", "mobilenet_v1", "resnet50", "vgg16", "vgg_tiny"]
    with pytest.raises(ValueError, match="available"):
        get_model("alexnet", num_classes=3)
    for name in ("vgg16", "resnet50", "inception_v3", "mobilenet_v1", "vgg_tiny"):
        params = inspect.signature(getattr(models, name)).parameters
        assert params["num_classes"].kind is inspect.Parameter.KEYWORD_ONLY
        assert params["pooling"].default == "tap" and params["tap_theta"].default is None  # None: DEFAULTS
        assert params["large_feature_map"].default is False and params["weights"].default is None
        assert params["method"].default == "cam"


def test_builder_argument_errors():
    with torch.device("meta"):
        with pytest.raises(ValueError, match="num_classes"):
            get_model("vgg_tiny", num_classes=0)
        with pytest.raises(ValueError, match="pooling"):
            get_model("vgg_tiny", num_classes=3, pooling="max")
        with pytest.raises(ValueError, match="tap_theta"):
            get_model("vgg_tiny", num_classes=3, tap_theta=1.5)
        with pytest.raises(ValueError, match="unknown WSOL method"):
            get_model("vgg_tiny", num_classes=3, method="gradcam")
        with pytest.raises(TypeError, match="unexpected hyper-parameters"):
            get_model("vgg16", num_classes=3, method="adl", drop_rat=0.5)
        with pytest.raises(TypeError):
            get_model("vgg16", 3)


def test_builder_forwards_method_hyper_parameters():
    with torch.device("meta"):
        m = get_model("resnet50", num_classes=3, method="spg", thresholds=((0.6, 0.1), (0.5, 0.05), (0.7, 0.1)))
        assert m.method.thresholds[0] == (0.6, 0.1)
        assert get_model("vgg16", num_classes=3, method="acol", threshold=0.8).method.threshold == 0.8
        assert get_model("vgg16", num_classes=3, method="cutmix", beta=0.5, prob=0.3).method.prob == 0.3


def test_defaults_table():
    assert DEFAULTS["optimizer"]["momentum"] == 0.9 and DEFAULTS["optimizer"]["nesterov"] is True
    assert DEFAULTS["model"]["tap_theta"] == 0.1 and get_defaults("resnet50")["tap_theta"] == 0.1
    assert DEFAULTS["methods"]["adl"] == {
        "drop_rate": 0.75,
        "gamma": 0.9,
        "source": DEFAULTS["methods"]["adl"]["source"],
    }
    assert DEFAULTS["methods"]["cutmix"]["beta"] == 1.0
    for section in ("datasets", "backbones", "methods"):
        assert all("source" in v for v in DEFAULTS[section].values())
    d = get_defaults("vgg16", "has", "CUB")
    assert d["lr"] > 0 and d["weight_decay"] == 5e-4 and d["epochs"] == 50 and d["batch_size"] == 32
    assert d["method_kwargs"] == {"grid_size": 4, "drop_rate": 0.5}
    assert get_defaults("resnet50", dataset="ILSVRC")["large_feature_map"] is True
    paper = get_defaults("vgg16", profile="paper")
    assert paper["tap_theta"] == 0.1 and paper["epochs"] == 200
    # The paper's code: one lr 0.003, pretrained gradients x0.1 (not a 10x lower lr: weight decay differs).
    assert paper["lr"] == 0.003 and paper["new_lr_ratio"] == 1.0 and paper["pretrained_grad_scale"] == 0.1
    assert d["pretrained_grad_scale"] == 1.0
    assert get_defaults("mobilenet_v1")["lr"] is None  # no published value
    tiny = get_defaults("vgg_tiny", "cutmix")
    assert tiny["new_lr_ratio"] == 1.0 and tiny["input_size"] == 96
    with pytest.raises(KeyError):
        get_defaults("resnet50", profile="paper")
    with pytest.raises(KeyError):
        get_defaults("vgg16", dataset="VOC")
    # Every method's defaults are accepted by the builders as keyword arguments.
    with torch.device("meta"):
        for method, kw in DEFAULTS["methods"].items():
            kwargs = {k: v for k, v in kw.items() if k != "source"}
            assert get_model("vgg16", num_classes=2, method=method, **kwargs).method_name == method
