"""Eval mode of every method equals the plain CAM forward path (same weights)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wsolx.methods import CAM, build_method, list_methods
from wsolx.models import get_model


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("method", ["cam", "has", "acol", "spg", "adl", "cutmix"])
@pytest.mark.parametrize("arch", ["vgg_tiny", "mobilenet_v1"])
def test_eval_equals_plain_forward(arch, method):
    torch.manual_seed(0)
    kwargs = {"cam_fusion": "a"} if method == "acol" else {}
    model = get_model(arch, num_classes=4, method=method, **kwargs)
    plain = get_model(arch, num_classes=4)
    missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
    assert not missing and all(k.startswith("method.") for k in unexpected)
    model.eval(), plain.eval()
    x = torch.randn(2, 3, 32, 32)
    y = torch.tensor([3, 0])
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x))
        torch.testing.assert_close(model.forward_features(x), plain.forward_features(x))
        torch.testing.assert_close(model.cams(x, y, clamp_negative=True), plain.cams(x, y, clamp_negative=True))
        if method in ("cam", "has", "adl", "cutmix"):  # no augmentation / dropping in eval
            loss, logits = model.training_loss(x, y)
            torch.testing.assert_close(logits, plain(x))
            torch.testing.assert_close(loss, F.cross_entropy(plain(x), y))


@pytest.mark.parametrize("arch", ["resnet50", "inception_v3"])
def test_eval_equals_plain_forward_adl_heavy(arch):
    # ADL is the only method that changes the trunk itself.
    torch.manual_seed(1)
    model = get_model(arch, num_classes=3, method="adl", drop_rate=1.0).eval()
    plain = get_model(arch, num_classes=3).eval()
    plain.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x))


def test_build_method_and_instances():
    assert list_methods() == ["cam", "has", "acol", "spg", "adl", "cutmix"]
    assert build_method("ADL", gamma=0.8).gamma == 0.8
    with pytest.raises(ValueError, match="unknown WSOL method"):
        build_method("gradcam")
    with pytest.raises(TypeError, match="accepted"):
        build_method("cutmix", alpha=1.0)
    model = get_model("vgg_tiny", num_classes=3, method=CAM(), base_width=8)
    assert model.method_name == "cam"
    with pytest.raises(TypeError):
        get_model("vgg_tiny", num_classes=3, method=CAM(), beta=1.0)
