"""CAM semantics of the models: CAM = sum_k w_ck f_k (NWC clamps w), heads, TAP gradients,
torch.compile, param groups."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wsolx.models import get_model
from wsolx.ops import tap_pool_reference

ARCHS = ["vgg16", "resnet50", "inception_v3", "mobilenet_v1", "vgg_tiny"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _explicit_cam(features, weight, labels, clamp):
    w = weight[labels]
    if clamp:
        w = w.clamp_min(0)
    return torch.einsum("bk,bkhw->bhw", w, features)


@pytest.mark.parametrize("arch", ARCHS)
def test_cams_equal_weighted_sum_of_features(arch):
    torch.manual_seed(0)
    model = get_model(arch, num_classes=4).eval()
    with torch.no_grad():
        model.head.fc.weight.normal_()  # plenty of negative weights
    x = torch.randn(2, 3, 48, 48)
    y = torch.tensor([3, 1])
    with torch.no_grad():
        feats = model.forward_features(x)
        raw = model.cams(x, y)
        nwc = model.cams(x, y, clamp_negative=True)
    torch.testing.assert_close(raw, _explicit_cam(feats, model.head.fc.weight, y, False))
    torch.testing.assert_close(nwc, _explicit_cam(feats, model.head.fc.weight, y, True))
    assert (model.head.fc.weight < 0).any()
    assert (feats >= 0).all()  # post-ReLU features: NWC can only raise the map
    scale = raw.abs().max()
    assert (nwc >= raw - 1e-5 * scale).all() and not torch.equal(nwc, raw)


@pytest.mark.parametrize("arch", ["vgg_tiny", "mobilenet_v1"])
def test_gap_logits_are_mean_cam_plus_bias(arch):
    torch.manual_seed(1)
    model = get_model(arch, num_classes=5, pooling="gap").eval()
    with torch.no_grad():
        model.head.fc.bias.normal_()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        logits = model(x)
        for c in range(5):
            maps = model.cams(x, torch.full((3,), c))
            torch.testing.assert_close(logits[:, c], maps.mean(dim=(1, 2)) + model.head.fc.bias[c])


def test_tap_head_is_linear_on_thresholded_average():
    torch.manual_seed(2)
    model = get_model("vgg_tiny", num_classes=5, pooling="tap", tap_theta=0.3).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = model.forward_features(x)
        expected = F.linear(tap_pool_reference(feats, 0.3), model.head.fc.weight, model.head.fc.bias)
        torch.testing.assert_close(model(x), expected)
        torch.testing.assert_close(model.forward_head(feats, pre_logits=True), tap_pool_reference(feats, 0.3))
        # TAP differs from GAP on the same features
        assert not torch.allclose(model.forward_head(feats, pre_logits=True), feats.mean(dim=(2, 3)))


@pytest.mark.parametrize("arch", ["vgg_tiny", "vgg16"])
def test_gradients_flow_through_tap(arch):
    torch.manual_seed(3)
    model = get_model(arch, num_classes=3, pooling="tap").train()
    x = torch.randn(2, 3, 32, 32)
    loss, _ = model.training_loss(x, torch.tensor([0, 2]))
    loss.backward()
    first_conv = model.features[0].weight
    neck_conv = model.neck[0].weight
    for p in (first_conv, neck_conv, model.head.fc.weight):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_cams_work_under_torch_compile():
    torch.manual_seed(4)
    model = get_model("vgg_tiny", num_classes=3, method="adl").eval()
    x = torch.randn(2, 3, 32, 32)
    y = torch.tensor([2, 0])
    compiled = torch.compile(model.cams, backend="eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x, y, clamp_negative=True), model.cams(x, y, clamp_negative=True))


@pytest.mark.parametrize("method", ["cam", "acol", "spg"])
@pytest.mark.parametrize("arch", ["vgg16", "resnet50", "inception_v3"])
def test_param_groups(arch, method):
    with torch.device("meta"):
        model = get_model(arch, num_classes=3, method=method)
    groups = model.param_groups(lr=0.01)
    assert [g["name"] for g in groups] == ["pretrained", "new"]
    assert groups[0]["lr"] == 0.01 and groups[1]["lr"] == pytest.approx(0.1)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    names = {id(p): n for n, p in model.named_parameters()}
    base = {names[id(p)] for p in groups[0]["params"]}
    new = {names[id(p)] for p in groups[1]["params"]}
    assert "head.fc.weight" in new and all(not n.startswith(("head.", "neck.", "method.")) for n in base)
    if method != "cam":
        assert any(n.startswith("method.") for n in new)
    if arch == "vgg16":
        assert base == {n for n in names.values() if n.startswith("features.")}
        assert "neck.0.weight" in new
    if arch == "resnet50":  # protocol: layer4 at the classifier's rate
        assert "conv1.weight" in base and "layer3.0.conv2.weight" in base
        assert "layer4.0.conv2.weight" in new
    if arch == "inception_v3":
        assert "Mixed_6e.branch_pool.conv.weight" in base and "neck.1.weight" in new
    assert model.param_groups(lr=0.01, new_lr_ratio=1.0)[1]["lr"] == 0.01
    with pytest.raises(ValueError):
        model.param_groups(lr=0.0)
