"""SPG: self-produced guidance masks and the three auxiliary BCE losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wsolx.methods import SPG, masked_bce_with_logits, minmax_normalize, spg_mask
from wsolx.models import get_model
from wsolx.ops import cam


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_mask_foreground_background_ignore():
    att = torch.zeros(2, 1, 8, 8)
    att[0, 0, :6, :6] = 0.9  # 36 foreground pixels (>= 30)
    att[0, 0, 6:, :] = 0.5  # ignored band
    att[0, 0, :6, 6:] = 0.005  # background
    att[1, 0] = torch.linspace(0.0, 0.6, 64).view(8, 8)  # nothing above 0.7: fallback 0.7 * max
    target, valid = spg_mask(att, high=0.7, low=0.01)
    assert target.shape == valid.shape == (2, 1, 8, 8)
    assert (target[0, 0, :6, :6] == 1).all() and valid[0, 0, :6, :6].all()
    assert not valid[0, 0, 6:, :].any()
    assert (target[0, 0, :6, 6:] == 0).all() and valid[0, 0, :6, 6:].all()
    fallback_fg = att[1] > 0.7 * 0.6
    assert torch.equal(target[1].bool(), fallback_fg)
    assert torch.equal(valid[1], fallback_fg | (att[1] < 0.01))
    # Too few foreground pixels: the per-image fallback threshold.
    small = torch.zeros(1, 1, 8, 8)
    small[0, 0, 0, :5] = torch.tensor([0.95, 0.9, 0.8, 0.5, 0.2])
    t, v = spg_mask(small, high=0.7, low=0.01)
    assert torch.equal(t[0, 0, 0, :5], torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0]))
    # Background wins over foreground.
    t, v = spg_mask(torch.full((1, 1, 4, 4), 0.5), high=0.1, low=0.9, min_foreground=0)
    assert (t == 0).all() and v.all()


def test_masked_bce():
    logits = torch.randn(2, 1, 4, 4)
    target = (torch.rand(2, 1, 4, 4) > 0.5).float()
    valid = torch.rand(2, 1, 4, 4) > 0.3
    expected = F.binary_cross_entropy_with_logits(logits[valid], target[valid])
    torch.testing.assert_close(masked_bce_with_logits(logits, target, valid), expected)
    assert masked_bce_with_logits(logits, target, torch.zeros_like(valid)) == 0


@pytest.mark.parametrize("arch", ["vgg_tiny", "inception_v3"])
def test_spg_outputs_and_auxiliary_losses(arch):
    torch.manual_seed(0)
    model = get_model(arch, num_classes=3, method="spg").train()
    x = torch.randn(2, 3, 48, 48)
    y = torch.tensor([2, 0])
    spg = model.method
    p1, p2 = model.point_sets["spg"]
    assert spg.b1[0].in_channels == model.point_channels[p1] and spg.c[0][0].in_channels == model.feature_channels
    assert spg.width == (128 if arch == "vgg_tiny" else 512)  # protocol 512, capped at K // 2
    torch.manual_seed(1)  # dropout (InceptionV3) is re-drawn: compare under the same seed
    out = spg.outputs(model, x, y)
    for k in ("logits_b1", "logits_b2", "logits_c", "attention", "fused_attention"):
        assert out[k].shape == (2, 1, 48, 48), k
    assert out["logits"].shape == (2, 3)
    assert not out["attention"].requires_grad and not out["fused_attention"].requires_grad
    # Guidance of B2: the normalised, upsampled CAM of the label.
    if arch == "vgg_tiny":  # no dropout: the features are reproducible
        feats = model.forward_features(x)
        up = F.interpolate(cam(feats, model.head.fc.weight, y, False).unsqueeze(1), size=(48, 48), mode="bilinear")
        torch.testing.assert_close(out["attention"], minmax_normalize(up))
    fused = (torch.sigmoid(out["logits_b1"]) + torch.sigmoid(out["logits_b2"])) / 2
    torch.testing.assert_close(out["fused_attention"], fused.detach())

    torch.manual_seed(1)
    terms = spg.losses(model, x, y)
    (h1, l1), (h2, l2), (h3, l3) = spg.thresholds
    torch.testing.assert_close(terms["cls"], F.cross_entropy(out["logits"], y))
    torch.testing.assert_close(
        terms["b2_att"], masked_bce_with_logits(out["logits_b2"], *spg_mask(out["attention"], h1, l1))
    )
    b2i = torch.sigmoid(out["logits_b2"]).detach()
    torch.testing.assert_close(terms["b1_b2i"], masked_bce_with_logits(out["logits_b1"], *spg_mask(b2i, h2, l2)))
    torch.testing.assert_close(
        terms["c_fused"], masked_bce_with_logits(out["logits_c"], *spg_mask(out["fused_attention"], h3, l3))
    )
    for k in ("b2_att", "b1_b2i", "c_fused"):
        assert torch.isfinite(terms[k]) and terms[k] > 0, k
    torch.testing.assert_close(terms["loss"], terms["cls"] + terms["b2_att"] + terms["b1_b2i"] + terms["c_fused"])
    # The guidance losses train the SPG heads (the classification loss alone does not reach them).
    terms["loss"].backward()
    for head in (spg.b1, spg.b2, spg.b_shared, spg.c):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
    torch.manual_seed(1)
    loss, logits = model.training_loss(x, y)
    torch.testing.assert_close(loss, terms["loss"])


def test_spg_eval_is_plain_cam_and_arguments():
    torch.manual_seed(2)
    model = get_model("vgg_tiny", num_classes=3, method="spg", base_width=8).eval()
    plain = get_model("vgg_tiny", num_classes=3, base_width=8).eval()
    plain.load_state_dict(model.state_dict(), strict=False)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x))
        torch.testing.assert_close(model.cams(x, torch.tensor([0, 1])), plain.cams(x, torch.tensor([0, 1])))
    with pytest.raises(ValueError):
        SPG(thresholds=((0.7, 0.01), (0.5, 0.05)))
    with pytest.raises(ValueError):
        SPG(thresholds=((0.1, 0.5), (0.5, 0.05), (0.7, 0.1)))
