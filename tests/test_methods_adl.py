"""ADL: drop mask / importance map in training only, identity in eval, at the protocol points."""

from __future__ import annotations

import pytest
import torch

from wsolx.methods import ADLayer
from wsolx.models import get_model


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_maps_follow_the_definition():
    torch.manual_seed(0)
    x = torch.rand(3, 8, 5, 6)
    layer = ADLayer(drop_rate=0.75, gamma=0.9)
    importance, drop = layer.maps(x)
    att = x.mean(dim=1, keepdim=True)
    torch.testing.assert_close(importance, torch.sigmoid(att))
    expected_drop = (att < 0.9 * att.amax(dim=(2, 3), keepdim=True)).float()
    assert torch.equal(drop, expected_drop)
    assert (drop.flatten(1).min(dim=1).values == 0).all()  # the peak is always dropped


def test_training_selects_drop_mask_or_importance_map_eval_is_identity():
    torch.manual_seed(1)
    x = torch.rand(2, 4, 7, 7)
    always_drop = ADLayer(drop_rate=1.0, gamma=0.8).train()
    never_drop = ADLayer(drop_rate=0.0, gamma=0.8).train()
    importance, drop = always_drop.maps(x)
    torch.testing.assert_close(always_drop(x), x * drop)
    torch.testing.assert_close(never_drop(x), x * importance)
    # With drop_rate 0.75 the drop mask is chosen about 3 times in 4 (one draw per forward).
    layer = ADLayer(drop_rate=0.75, gamma=0.8).train()
    torch.manual_seed(2)
    picks = [torch.equal(layer(x), x * drop) for _ in range(400)]
    assert abs(sum(picks) / 400 - 0.75) < 0.07
    layer.eval()
    assert layer(x) is x


@pytest.mark.parametrize(
    "arch,points",
    [
        ("vgg16", ("pool3", "conv4_3", "conv5_3")),
        ("resnet50", ("layer3_0", "layer4_0", "layer4_2")),
        ("inception_v3", ("Mixed_5d", "Mixed_6e", "neck")),
        ("mobilenet_v1", ("features_11", "features_13")),
        ("vgg_tiny", ("pool3", "conv4")),
    ],
)
def test_adl_layers_at_the_protocol_points(arch, points):
    with torch.device("meta"):
        model = get_model(arch, num_classes=3, method="adl", drop_rate=0.5, gamma=0.7)
        plain = get_model(arch, num_classes=3)
    assert tuple(model.point_layers.keys()) == points
    assert all(isinstance(m, ADLayer) and m.drop_rate == 0.5 and m.gamma == 0.7 for m in model.point_layers.values())
    assert len(plain.point_layers) == 0
    # ADL is parameter-free: the state dicts coincide.
    assert model.state_dict().keys() == plain.state_dict().keys()


def test_adl_model_train_vs_eval():
    torch.manual_seed(3)
    model = get_model("vgg_tiny", num_classes=3, method="adl", drop_rate=1.0, gamma=0.5, base_width=8)
    plain = get_model("vgg_tiny", num_classes=3, base_width=8)
    plain.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 32, 32)
    model.eval(), plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x))
        torch.testing.assert_close(model.cams(x, torch.tensor([0, 1])), plain.cams(x, torch.tensor([0, 1])))
    # Training: every ADL point applies its drop mask (drop_rate = 1).
    model.train()
    _, _, taps = model.forward_features_with_taps(x, ("pool3",))
    importance, drop = model.point_layers["pool3"].maps(plain.train().forward_trunk(x, ("pool3",))[1]["pool3"])
    torch.testing.assert_close(taps["pool3"], plain.forward_trunk(x, ("pool3",))[1]["pool3"] * drop)
    assert (drop == 0).any()
