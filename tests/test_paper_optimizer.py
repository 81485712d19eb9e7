"""The paper profile's optimiser equals the update rule of the paper's released code: SGD (lr 0.003,
Nesterov momentum 0.9, weight decay 5e-4) over all parameters, with the gradients of every
``main_layers`` parameter except the last conv's weight and bias (i.e. the pretrained VGG16
convolutions) multiplied by 0.1 after the backward pass and before the step."""

from __future__ import annotations

import copy
import dataclasses
from typing import List

import torch
from torch import nn

from wsolx.engine import Config, DataConfig, ModelConfig, OptimConfig
from wsolx.engine.builders import resolve_defaults
from wsolx.engine.optim import GradScaledSGD, build_optimizer
from wsolx.models import get_model


def _paper_optim() -> OptimConfig:
    cfg = Config(data=DataConfig(dataset="CUB"), model=ModelConfig(arch="vgg16"), optim=OptimConfig(profile="paper"))
    return resolve_defaults(cfg).optim


def transcribed_downscale(model: nn.Module, ratio: float) -> None:
    """The paper code's ``downscale_gradient``: walk ``main_layers`` (the convolutions: wsolx's
    ``features`` then ``neck``) backwards, leave the first bias and the first weight met (the last
    conv) alone, multiply every other gradient by ``ratio``."""
    main = [(n, p) for n, p in model.named_parameters() if n.startswith(("features.", "neck."))]
    last_bias = last_weight = True
    for name, p in reversed(main):
        if last_bias and "bias" in name:
            last_bias = False
            continue
        if last_weight and "weight" in name:
            last_weight = False
            continue
        p.grad *= ratio


def _batches(n: int, classes: int) -> List:
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(2, 3, 32, 32, generator=g), torch.randint(0, classes, (2,), generator=g)) for _ in range(n)]


def _loss(model, images, labels):
    return nn.functional.cross_entropy(model(images), labels)


def test_paper_profile_settings():
    o = _paper_optim()
    assert (o.lr, o.new_lr_ratio, o.pretrained_grad_scale, o.weight_decay) == (0.003, 1.0, 0.1, 5e-4)
    assert (o.momentum, o.nesterov, o.lr_milestones, o.epochs) == (0.9, True, [60, 120, 180], 200)


def test_three_steps_equal_the_paper_code_rule():
    torch.manual_seed(0)
    ours = get_model("vgg16", num_classes=5)
    ref = copy.deepcopy(ours)
    o = _paper_optim()
    opt = build_optimizer(ours, o)
    assert isinstance(opt, GradScaledSGD)
    assert [(g["name"], g["lr"], g["grad_scale"]) for g in opt.param_groups] == [
        ("pretrained", 0.003, 0.1),
        ("new", 0.003, 1.0),
    ]
    # The paper code: one SGD over model.parameters() with the config's arguments.
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.003, momentum=0.9, nesterov=True, weight_decay=0.0005)
    before = {n: p.detach().clone() for n, p in ours.named_parameters()}
    for images, labels in _batches(3, 5):
        opt.zero_grad(set_to_none=True)
        _loss(ours, images, labels).backward()
        opt.step()
        ref_opt.zero_grad()
        _loss(ref, images, labels).backward()
        transcribed_downscale(ref, 0.1)
        ref_opt.step()
        for (n, p), (_, q) in zip(ours.named_parameters(), ref.named_parameters()):
            assert torch.equal(p, q), n
    assert not torch.equal(before["features.0.weight"], dict(ours.named_parameters())["features.0.weight"])


def test_one_step_by_hand_and_weight_decay_strength():
    """From zero momentum one Nesterov step is ``p - lr * (1 + mu) * (s * g + wd * p)``; the former
    profile (lr 3e-4 on the pretrained layers, no scaling) gave ``wd`` a 10x smaller effect."""
    torch.manual_seed(1)
    model = get_model("vgg16", num_classes=3)
    o = _paper_optim()
    p0 = {n: p.detach().clone().double() for n, p in model.named_parameters()}
    opt = build_optimizer(model, o)
    images, labels = _batches(1, 3)[0]
    _loss(model, images, labels).backward()
    grads = {n: p.grad.detach().clone().double() for n, p in model.named_parameters()}
    opt.step()
    lr, mu, wd = 0.003, 0.9, 5e-4
    for n, p in model.named_parameters():
        s = 0.1 if n.startswith("features.") else 1.0
        expected = p0[n] - lr * (1 + mu) * (s * grads[n] + wd * p0[n])
        torch.testing.assert_close(p.detach().double(), expected, rtol=0, atol=1e-7)
    # Weight decay alone (zero gradients, float64): one step shrinks the pretrained layers by
    # lr * (1 + mu) * wd with lr = 0.003; the former profile's lr 3e-4 gave a 10x weaker decay.
    for profile, lr_eff in (
        (o, 3e-3),
        (dataclasses.replace(o, lr=3e-4, new_lr_ratio=10.0, pretrained_grad_scale=1.0), 3e-4),
    ):
        m = copy.deepcopy(model).double()
        w = dict(m.named_parameters())["features.0.weight"]
        w0 = w.detach().clone()
        step = build_optimizer(m, profile)
        for p in m.parameters():
            p.grad = torch.zeros_like(p)
        step.step()
        torch.testing.assert_close(w.detach(), w0 * (1 - lr_eff * (1 + mu) * wd), rtol=1e-12, atol=0)


def test_grad_scale_is_saved_and_resumed():
    model = get_model("vgg_tiny", num_classes=3, base_width=4)
    o = dataclasses.replace(_paper_optim(), lr=0.01)
    opt = build_optimizer(model, o)
    other = build_optimizer(model, dataclasses.replace(o, pretrained_grad_scale=1.0))
    other.load_state_dict(opt.state_dict())
    assert [g["grad_scale"] for g in other.param_groups] == [g["grad_scale"] for g in opt.param_groups]
