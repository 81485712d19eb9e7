"""TAP forward+backward: wsolx kernel vs pure-PyTorch eager vs torch.compile'd pure PyTorch vs GAP.

Shapes: B32 x C1024 at 28x28 and 14x14 (VGG16-CAM at 224 px, large / default feature map) and
B32 x C2048 x 14x14 (ResNet50).
"""

from __future__ import annotations

import pytest
import torch
from conftest import QUICK, devices, sync

from wsolx.ops.tap import tap_pool, tap_pool_reference

SHAPES = [(8, 256, 28, 28)] if QUICK else [(32, 1024, 28, 28), (32, 1024, 14, 14), (32, 2048, 14, 14)]


def gap(x: torch.Tensor, theta: float) -> torch.Tensor:
    return x.mean(dim=(2, 3))


_compiled = {}


def compiled_reference(x: torch.Tensor, theta: float) -> torch.Tensor:
    if "fn" not in _compiled:
        _compiled["fn"] = torch.compile(tap_pool_reference, dynamic=False)
    return _compiled["fn"](x, theta)


IMPLS = {"wsolx": tap_pool, "eager": tap_pool_reference, "compiled": compiled_reference, "gap": gap}


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("impl", list(IMPLS))
def test_tap_fwd_bwd(benchmark, impl, shape, device):
    fn = IMPLS[impl]
    x = torch.randn(shape, device=device).relu_().requires_grad_(True)
    grad = torch.randn(shape[:2], device=device)

    def step():
        x.grad = None
        fn(x, 0.1).backward(grad)
        sync(device)

    step()  # warm-up (and compilation for the compiled variant)
    benchmark.group = f"tap fwd+bwd {device} {'x'.join(map(str, shape))}"
    benchmark.extra_info.update(impl=impl, device=device, bytes=x.numel() * x.element_size())
    benchmark.pedantic(step, rounds=3 if QUICK else 10, warmup_rounds=1)
