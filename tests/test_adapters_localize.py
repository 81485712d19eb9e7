"""wsolx.localize / wsolx.swap_pooling on torchvision and timm models wsolx did not build."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

import wsolx
from wsolx.adapters import resolve_cam_parts

SIZE = 64


@pytest.fixture(scope="module")
def images():
    return torch.randn(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def resnet50():
    torch.manual_seed(0)
    m = torchvision.models.resnet50(weights=None, num_classes=6).eval()
    with torch.no_grad():  # random-init fc weights are tiny; spread them so classes differ
        m.fc.weight.normal_(0, 1)
    return m


def _oracle_cams(feats: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, clamp: bool) -> torch.Tensor:
    w = weight[labels]
    if clamp:
        w = w.clamp_min(0)
    return torch.einsum("bk,bkhw->bhw", w, feats)


@pytest.mark.parametrize("clamp", [False, True], ids=["cam", "nwc"])
def test_resnet50_cams_equal_einsum_of_last_feature_map(resnet50, images, clamp):
    feats = create_feature_extractor(resnet50, {"layer4": "f"})(images)["f"]
    labels = torch.tensor([0, 5, 3])
    with torch.no_grad():
        out = wsolx.localize(resnet50, images, labels, clamp_negative=clamp)
        ref = _oracle_cams(feats, resnet50.fc.weight, labels, clamp)
        logits = resnet50(images)
    assert out.cams.shape == (3, 2, 2)
    torch.testing.assert_close(out.cams, ref, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out.logits, logits, atol=1e-6, rtol=1e-6)
    assert out.labels.tolist() == [0, 5, 3]
    assert out.boxes.dtype == torch.int64 and out.boxes.shape == (3, 4)


def test_predicted_class_when_no_labels_and_pas_boxes(resnet50, images):
    with torch.no_grad():
        out = wsolx.localize(resnet50, images, percentile=90, threshold=0.35, clamp_negative=True)
        pred = resnet50(images).argmax(1)
        feats = create_feature_extractor(resnet50, {"layer4": "f"})(images)["f"]
    assert out.labels.tolist() == pred.tolist()
    ref = _oracle_cams(feats, resnet50.fc.weight, pred, True)
    torch.testing.assert_close(out.cams, ref, atol=1e-6, rtol=1e-6)
    boxes = wsolx.cam_boxes(ref.float(), [0.35], image_size=(SIZE, SIZE), percentile=90)[:, 0]
    assert torch.equal(out.boxes, boxes)
    wide = wsolx.localize(resnet50, images, image_size=(2 * SIZE, 3 * SIZE))
    assert int(wide.boxes[:, 2].max()) <= 3 * SIZE - 1 and int(wide.boxes[:, 3].max()) <= 2 * SIZE - 1


@pytest.mark.parametrize("name", ["test_resnet", "test_convnext", "test_efficientnet"])
@pytest.mark.parametrize("clamp", [False, True], ids=["cam", "nwc"])
def test_timm_cams_equal_einsum_of_forward_features(name, clamp, images):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    m = timm.create_model(name, num_classes=5).eval()
    labels = torch.tensor([4, 0, 2])
    with torch.no_grad():
        out = wsolx.localize(m, images, labels, clamp_negative=clamp, percentile=90, threshold=0.35)
        feats = m.forward_features(images)
        ref = _oracle_cams(feats, m.get_classifier().weight, labels, clamp)
        logits = m(images)
    torch.testing.assert_close(out.cams, ref, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out.logits, logits, atol=1e-6, rtol=1e-6)
    assert torch.equal(out.boxes, wsolx.cam_boxes(ref.float(), [0.35], image_size=(SIZE, SIZE), percentile=90)[:, 0])


@pytest.mark.parametrize("ctor", [torchvision.models.mobilenet_v2])
def test_torchvision_features_classifier_layout(ctor, images):
    torch.manual_seed(0)
    m = ctor(weights=None, num_classes=4).eval()
    with torch.no_grad():
        out = wsolx.localize(m, images)
        feats = m.features(images)
        clf = [x for x in m.classifier if isinstance(x, nn.Linear)][-1]
        torch.testing.assert_close(out.logits, m(images), atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(out.cams, _oracle_cams(feats, clf.weight, out.labels, False), atol=1e-6, rtol=1e-6)


def test_batched_equals_one_at_a_time(resnet50, images):
    with torch.no_grad():
        full = wsolx.localize(resnet50, images)
        for i in range(images.size(0)):
            one = wsolx.localize(resnet50, images[i : i + 1])
            torch.testing.assert_close(one.cams[0], full.cams[i], atol=1e-5, rtol=1e-5)
            assert torch.equal(one.boxes[0], full.boxes[i])


def test_explicit_features_and_classifier():
    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1))
    fc = nn.Linear(8, 3)
    model = nn.ModuleDict({"body": body, "fc": fc}).eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        out = wsolx.localize(model, x, torch.tensor([1, 2]), features=body, classifier=fc)
        feats = body(x)
        torch.testing.assert_close(out.logits, fc(feats.mean((2, 3))))
        torch.testing.assert_close(out.cams, _oracle_cams(feats, fc.weight, torch.tensor([1, 2]), False))
        pooled = wsolx.localize(model, x, features=body, classifier=fc, head=lambda f: fc(f.amax((2, 3))))
        torch.testing.assert_close(pooled.logits, fc(feats.amax((2, 3))))


def test_errors_name_the_problem(images):
    with pytest.raises(ValueError, match=r"no global-pool \+ linear classifier head .*MLP head"):
        wsolx.localize(torchvision.models.vgg11(weights=None, num_classes=3), images)
    with pytest.raises(ValueError, match=r"no global-pool \+ linear classifier head .*MLP head"):
        wsolx.localize(torchvision.models.mobilenet_v3_small(weights=None, num_classes=3), images)
    with pytest.raises(ValueError, match=r"no global-pool \+ linear classifier head .*known torchvision layout"):
        wsolx.localize(
            nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)), images
        )
    fc = nn.Linear(4, 2)
    with pytest.raises(ValueError, match="pass both features= and classifier="):
        wsolx.localize(nn.Identity(), images, features=nn.Identity())
    with pytest.raises(ValueError, match="classifier takes 4 inputs but the feature map has 3 channels"):
        wsolx.localize(fc, images, features=nn.Identity(), classifier=fc)
    m = torchvision.models.resnet18(weights=None, num_classes=3).eval()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        wsolx.localize(m, images, torch.tensor([0, 1, 7]), validate=True)
    with pytest.raises(ValueError, match=r"images must be \(B, C, H, W\)"):
        wsolx.localize(m, images[0])


def test_vit_has_no_cam():
    timm = pytest.importorskip("timm")
    m = timm.create_model("test_vit", num_classes=3).eval()
    x = torch.randn(1, 3, *m.default_cfg["input_size"][1:])
    with pytest.raises(ValueError, match="must be \\(B, K, h, w\\)"):
        wsolx.localize(m, x)


@pytest.mark.skipif(not wsolx.has_extension(), reason="the pure-PyTorch box fallback is not traced by torch.compile")
def test_torch_compile_fullgraph(resnet50, images):
    def run(x):
        return wsolx.localize(resnet50, x, clamp_negative=True, percentile=90, threshold=0.35)

    compiled = torch.compile(run, fullgraph=True, backend="eager")
    with torch.no_grad():
        got = compiled(images)
        ref = run(images)
    torch.testing.assert_close(got.cams, ref.cams)
    assert torch.equal(got.boxes, ref.boxes) and torch.equal(got.labels, ref.labels)


# ------------------------------------------------------------------------------------- swap_pooling
def test_swap_pooling_resnet_uses_tap_and_trains_one_step(images):
    torch.manual_seed(0)
    m = torchvision.models.resnet18(weights=None, num_classes=3)
    feats = create_feature_extractor(m, {"layer4": "f"})(images)["f"]  # before the swap: FX cannot trace TAP
    assert wsolx.swap_pooling(m, wsolx.TAPool(0.1)) is m
    logits = m(images)
    torch.testing.assert_close(logits, m.fc(wsolx.tap_pool(feats, 0.1)), atol=1e-5, rtol=1e-5)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    before = m.fc.weight.detach().clone()
    loss = nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2]))
    loss.backward()
    assert m.layer1[0].conv1.weight.grad is not None and float(m.layer1[0].conv1.weight.grad.abs().sum()) > 0
    opt.step()
    assert not torch.equal(before, m.fc.weight)
    m.eval()
    with torch.no_grad():
        out = wsolx.localize(m, images)
        torch.testing.assert_close(out.logits, m(images))


def test_swap_pooling_timm_keeps_the_head_layout(images):
    timm = pytest.importorskip("timm")
    for name in ("test_resnet", "test_convnext"):
        m = timm.create_model(name, num_classes=3)
        wsolx.swap_pooling(m, wsolx.TAPool(0.2))
        assert sum(isinstance(x, wsolx.TAPool) for x in m.modules()) == 1
        y = m(images)
        assert y.shape == (3, 3)
        y.sum().backward()
        with torch.no_grad():
            feats = m.forward_features(images)
        if name == "test_resnet":
            torch.testing.assert_close(y.detach(), m.fc(wsolx.tap_pool(feats, 0.2)), atol=1e-5, rtol=1e-5)


def test_swap_pooling_errors():
    with pytest.raises(ValueError, match="no global pooling module"):
        wsolx.swap_pooling(torchvision.models.mobilenet_v2(weights=None), wsolx.TAPool(0.1))
    with pytest.raises(TypeError, match="pool must be an nn.Module"):
        wsolx.swap_pooling(torchvision.models.resnet18(weights=None), 0.1)


def test_resolve_kinds():
    assert resolve_cam_parts(torchvision.models.resnet18(weights=None)).kind == "torchvision-resnet"
    assert resolve_cam_parts(torchvision.models.mobilenet_v2(weights=None)).kind == "torchvision-features"
