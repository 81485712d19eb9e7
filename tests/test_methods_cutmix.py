"""CutMix: images and labels mixed with the sampled lambda (seeded), only in training."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from wsolx.methods import CutMix, cutmix
from wsolx.models import get_model


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_cutmix_pastes_a_box_from_the_permuted_batch():
    x = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 3, 40, 48).clone()
    y = torch.tensor([0, 1, 2, 3])
    torch.manual_seed(7)
    out = cutmix(x, y, beta=1.0)
    y0, y1, x0, x1 = out.box
    inside = torch.zeros(40, 48, dtype=torch.bool)
    inside[y0:y1, x0:x1] = True
    assert inside.any()
    for i in range(4):
        assert (out.images[i][:, inside] == float(out.index[i])).all()
        assert (out.images[i][:, ~inside] == float(i)).all()
    assert torch.equal(out.labels_a, y) and torch.equal(out.labels_b, y[out.index])
    assert out.lam == pytest.approx(1 - (y1 - y0) * (x1 - x0) / (40 * 48))
    assert torch.equal(x[:, 0, 0, 0], torch.arange(4.0))  # the input is not modified
    # The sampling, replayed by hand with the same seed: lam ~ Beta(1, 1), permutation, centre.
    torch.manual_seed(7)
    t = torch.tensor(1.0)
    lam = float(torch.distributions.Beta(t, t).sample())
    perm = torch.randperm(4)
    cut = math.sqrt(1 - lam)
    cy, cx = int(torch.randint(40, ())), int(torch.randint(48, ()))
    ch, cw = int(40 * cut), int(48 * cut)
    assert torch.equal(out.index, perm)
    assert out.box == (max(cy - ch // 2, 0), min(cy + ch // 2, 40), max(cx - cw // 2, 0), min(cx + cw // 2, 48))


def test_training_loss_mixes_labels_with_lambda():
    torch.manual_seed(0)
    model = get_model("vgg_tiny", num_classes=5, method="cutmix", beta=1.0, prob=1.0, base_width=8).train()
    x = torch.randn(4, 3, 32, 32)
    y = torch.tensor([0, 1, 2, 4])
    torch.manual_seed(3)
    loss, logits = model.training_loss(x, y)
    torch.manual_seed(3)
    mixed = model.method.mix(x, y)
    assert 0.0 <= mixed.lam < 1.0 and not torch.equal(mixed.images, x)
    with torch.no_grad():
        expected_logits = model(mixed.images)
    torch.testing.assert_close(logits, expected_logits)
    expected = mixed.lam * F.cross_entropy(expected_logits, y) + (1 - mixed.lam) * F.cross_entropy(
        expected_logits, y[mixed.index]
    )
    torch.testing.assert_close(loss, expected)


def test_no_mixing_in_eval_or_with_prob_zero():
    torch.manual_seed(1)
    x = torch.randn(3, 3, 16, 16)
    y = torch.tensor([0, 1, 2])
    method = CutMix(beta=1.0, prob=1.0).eval()
    out = method.mix(x, y)
    assert out.images is x and out.lam == 1.0 and torch.equal(out.labels_b, y)
    never = CutMix(beta=1.0, prob=0.0).train()
    assert never.mix(x, y).images is x
    sometimes = CutMix(beta=1.0, prob=0.5).train()
    mixed = sum(sometimes.mix(x, y).images is not x for _ in range(200))
    assert 70 < mixed < 130
    with pytest.raises(ValueError):
        CutMix(prob=2.0)
