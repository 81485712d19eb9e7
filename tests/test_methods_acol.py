"""ACoL: branch B sees the trunk features erased where branch A's normalised CAM >= threshold."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wsolx.methods import ACoL, acol_erase, minmax_normalize
from wsolx.models import get_model
from wsolx.ops import cam


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_acol_erase():
    feats = torch.rand(2, 3, 4, 4) + 1.0
    att = torch.rand(2, 4, 4)
    out = acol_erase(feats, att, 0.6)
    erased = (att >= 0.6).unsqueeze(1).expand_as(feats)
    assert (out[erased] == 0).all() and torch.equal(out[~erased], feats[~erased])
    assert torch.equal(acol_erase(feats, att.unsqueeze(1), 0.6), out)
    with pytest.raises(ValueError):
        acol_erase(feats, torch.rand(2, 3, 3), 0.5)


def test_minmax_normalize():
    m = torch.tensor([[[1.0, 3.0], [2.0, 5.0]], [[2.0, 2.0], [2.0, 2.0]]])
    out = minmax_normalize(m)
    torch.testing.assert_close(out[0], torch.tensor([[0.0, 0.5], [0.25, 1.0]]))
    assert torch.equal(out[1], torch.zeros(2, 2))  # constant map -> zeros, no NaN


@pytest.mark.parametrize("arch", ["vgg_tiny", "resnet50"])
def test_second_branch_input_is_erased_by_first_branch_cam(arch):
    torch.manual_seed(0)
    model = get_model(arch, num_classes=4, method="acol", threshold=0.5).train()
    x = torch.randn(2, 3, 64, 64)
    y = torch.tensor([1, 3])
    out = model.method.branches(model, x, y)
    # Branch A is the model's own CAM path.
    expected_att = minmax_normalize(cam(out.features_a, model.head.fc.weight, y, clamp_negative=False))
    torch.testing.assert_close(out.attention, expected_att)
    assert not out.attention.requires_grad
    keep = (expected_att < 0.5).unsqueeze(1)
    assert (~keep).any() and keep.any()
    torch.testing.assert_close(out.erased_trunk, out.trunk * keep)
    assert (out.erased_trunk.masked_select(~keep) == 0).all()
    # Branch B: its own neck and head on the erased trunk features.
    torch.testing.assert_close(out.features_b, model.method.neck_b(out.erased_trunk))
    torch.testing.assert_close(out.logits_b, model.method.head_b(out.features_b))
    torch.testing.assert_close(out.logits_a, model.forward_head(out.features_a))
    # Loss: CE(A) + CE(B); gradients reach both classifiers.
    torch.manual_seed(5)
    loss, logits = model.training_loss(x, y)
    torch.testing.assert_close(logits, out.logits_a)
    torch.testing.assert_close(loss, F.cross_entropy(out.logits_a, y) + F.cross_entropy(out.logits_b, y))
    loss.backward()
    assert model.head.fc.weight.grad.abs().sum() > 0 and model.method.head_b.fc.weight.grad.abs().sum() > 0


def test_threshold_extremes():
    torch.manual_seed(1)
    model = get_model("vgg_tiny", num_classes=3, method="acol", threshold=0.0, base_width=8).eval()
    x = torch.randn(2, 3, 32, 32)
    y = torch.tensor([0, 2])
    with torch.no_grad():
        assert (model.method.branches(model, x, y).erased_trunk == 0).all()  # everything >= 0
        model.method.threshold = 1.0
        out = model.method.branches(model, x, y)
        # only the peak (normalised value 1) is erased
        erased = (out.erased_trunk == 0).all(dim=1) & (out.trunk != 0).any(dim=1)
        assert torch.equal(erased, out.attention >= 1.0)


def test_fused_cams_and_eval_forward():
    torch.manual_seed(2)
    model = get_model("vgg_tiny", num_classes=3, method="acol", base_width=8).eval()
    plain = get_model("vgg_tiny", num_classes=3, base_width=8).eval()
    missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
    assert not missing and unexpected and all(k.startswith("method.") for k in unexpected)
    with torch.no_grad():
        model.head.fc.weight.normal_()
        model.method.head_b.fc.weight.normal_()
        plain.head.fc.weight.copy_(model.head.fc.weight)
    x = torch.randn(2, 3, 32, 32)
    y = torch.tensor([2, 1])
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x))  # eval forward = plain CAM path
        for clamp in (False, True):
            out = model.method.branches(model, x, y)
            a = cam(out.features_a, model.head.fc.weight, y, clamp)
            b = cam(out.features_b, model.method.head_b.fc.weight, y, clamp)
            expected = torch.maximum(minmax_normalize(a), minmax_normalize(b))
            torch.testing.assert_close(model.cams(x, y, clamp_negative=clamp), expected)
        only_a = get_model("vgg_tiny", num_classes=3, method="acol", cam_fusion="a", base_width=8).eval()
        only_a.load_state_dict(model.state_dict())
        torch.testing.assert_close(only_a.cams(x, y), plain.cams(x, y))
    with pytest.raises(ValueError):
        ACoL(cam_fusion="mean")
    with pytest.raises(ValueError):
        ACoL(threshold=2.0)
