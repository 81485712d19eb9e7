"""Output shapes of every backbone x WSOL method x pooling, and the 14x14 / 28x28 map claims."""

from __future__ import annotations

import pytest
import torch

from wsolx.methods import list_methods
from wsolx.models import CAMHead, GlobalAvgPool, get_model, list_models, make_pool
from wsolx.ops import TAPool

BACKBONES = ["vgg16", "resnet50", "inception_v3", "mobilenet_v1"]
CHANNELS = {"vgg16": 1024, "resnet50": 2048, "inception_v3": 1024, "mobilenet_v1": 1024, "vgg_tiny": 256}
METHODS = ["cam", "has", "acol", "spg", "adl", "cutmix"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Two cores shared by several jobs: one intra-op thread avoids OpenMP oversubscription stalls.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_registry_lists_every_backbone_and_method():
    assert set(BACKBONES + ["vgg_tiny"]) <= set(list_models())
    assert list_methods() == METHODS


@pytest.mark.parametrize("large", [False, True], ids=["14x14", "28x28"])
@pytest.mark.parametrize("arch", BACKBONES)
def test_feature_map_size_at_224(arch, large):
    # Shape inference on the meta device: the real conv arithmetic, no compute.
    with torch.device("meta"):
        model = get_model(arch, num_classes=5, large_feature_map=large)
    model.eval()
    x = torch.empty(1, 3, 224, 224, device="meta")
    side = 28 if large else 14
    assert tuple(model.forward_features(x).shape) == (1, CHANNELS[arch], side, side)
    assert tuple(model(x).shape) == (1, 5)
    assert tuple(model.cams(x, torch.tensor([3])).shape) == (1, side, side)


@pytest.mark.parametrize("pooling", ["tap", "gap"])
@pytest.mark.parametrize("arch", BACKBONES + ["vgg_tiny"])
def test_builder_pooling_head(arch, pooling):
    with torch.device("meta"):
        model = get_model(arch, num_classes=3, pooling=pooling, tap_theta=0.25)
    assert model.pooling == pooling
    assert isinstance(model.head.pool, TAPool if pooling == "tap" else GlobalAvgPool)
    if pooling == "tap":
        assert model.head.pool.theta == 0.25


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("arch", BACKBONES + ["vgg_tiny"])
def test_shapes_every_model_method_pooling(arch, method):
    # One build per (arch, method); the pooling only lives in the heads (checked through the
    # builder above), so both poolings are exercised by swapping the heads' pooling layer.
    torch.manual_seed(0)
    model = get_model(arch, num_classes=3, method=method)
    assert model.method_name == method
    x = torch.randn(2, 3, 32, 32)
    y = torch.tensor([0, 2])
    side = 4 if arch == "vgg_tiny" else 2  # output stride 8 (tiny) / 16
    heads = [m for m in model.modules() if isinstance(m, CAMHead)]
    assert len(heads) == (2 if method == "acol" else 1)
    for pooling in ("tap", "gap"):
        for head in heads:
            head.pool = make_pool(pooling, 0.1)
        model.train()
        loss, logits = model.training_loss(x, y)
        assert loss.dim() == 0 and torch.isfinite(loss), (pooling, loss)
        assert tuple(logits.shape) == (2, 3)
        if arch == "vgg_tiny":
            loss.backward()
            assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    model.eval()
    with torch.no_grad():
        feats = model.forward_features(x)
        assert tuple(feats.shape) == (2, CHANNELS[arch], side, side)
        for pooling in ("tap", "gap"):
            for head in heads:
                head.pool = make_pool(pooling, 0.1)
            assert tuple(model.forward_head(feats).shape) == (2, 3)
            assert tuple(model.forward_head(feats, pre_logits=True).shape) == (2, CHANNELS[arch])
        assert tuple(model(x).shape) == (2, 3)
        assert tuple(model.cams(x, y, clamp_negative=method == "cam").shape) == (2, side, side)


def test_vgg_tiny_demo_resolutions():
    model = get_model("vgg_tiny", num_classes=4).eval()
    with torch.no_grad():
        assert tuple(model.forward_features(torch.randn(1, 3, 96, 96)).shape) == (1, 256, 12, 12)
        assert tuple(model.forward_features(torch.randn(1, 3, 128, 128)).shape) == (1, 256, 16, 16)
    big = get_model("vgg_tiny", num_classes=4, large_feature_map=True, base_width=8).eval()
    with torch.no_grad():
        assert tuple(big.forward_features(torch.randn(1, 3, 96, 96)).shape) == (1, 128, 24, 24)
