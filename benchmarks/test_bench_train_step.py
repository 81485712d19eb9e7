"""One SGD training step of VGG16-CAM with TAP vs with GAP (forward, backward, update)."""

from __future__ import annotations

import pytest
import torch
from conftest import QUICK, devices, sync

from wsolx.models import get_model


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("pooling", ["tap", "gap"])
def test_train_step(benchmark, pooling, device):
    arch, size = ("vgg_tiny", 96) if QUICK else ("vgg16", 224)
    batch = 32 if device == "cuda" else (8 if QUICK else 2)
    model = get_model(arch, num_classes=200, pooling=pooling).to(device)
    opt = torch.optim.SGD(model.param_groups(1e-3), lr=1e-3, momentum=0.9, nesterov=True)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 200, (batch,), device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss, _ = model.training_loss(x, y)
        loss.backward()
        opt.step()
        sync(device)

    benchmark.group = f"train step {arch} {device} batch {batch}"
    benchmark.extra_info.update(pooling=pooling, device=device, batch=batch)
    benchmark.pedantic(step, rounds=2 if QUICK else 3, warmup_rounds=1)
