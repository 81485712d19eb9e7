"""Thresholded Average Pooling: every backend against a float64 definition, autograd, and the
torch.library integration (opcheck, torch.compile, torch.export, TorchScript)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import wsolx
from wsolx.ops.tap import TAPool, tap_pool, tap_pool_reference

needs_ext = pytest.mark.skipif(not wsolx.has_extension(), reason="wsolx._C not built")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() and wsolx.has_extension() else [])
TOL = {torch.float64: 1e-12, torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1e-2}


def tap_numpy(x: np.ndarray, theta: float) -> np.ndarray:
    """Direct float64 transcription of docs/semantics.md §1 (loops, no vectorised tricks)."""
    B, C = x.shape[:2]
    y = np.zeros((B, C))
    for b in range(B):
        for c in range(C):
            plane = x[b, c].astype(np.float64).ravel()
            if np.isnan(plane).any():
                y[b, c] = np.nan
                continue
            tau = theta * plane.max()
            kept = plane[plane > tau]
            y[b, c] = kept.sum() / max(len(kept), 1)
    return y


def make_features(shape, dtype, device, seed=0):
    """Integer-valued data (exact in every dtype) with ties, dead and all-negative channels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-4, 9, shape, generator=g).to(torch.float64)
    if shape[0] * shape[1] > 2:
        x[0, 0] = 0.0  # dead channel (ReLU output of nothing)
        x[-1, -1] = -torch.arange(1, shape[2] * shape[3] + 1, dtype=torch.float64).view(shape[2:])  # negative
    return x.to(dtype=dtype, device=device)


@pytest.mark.parametrize("theta", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 1, 1, 1), (3, 4, 14, 14), (2, 2, 64, 64), (2, 5, 1, 9)])
def test_reference_matches_definition(theta, shape):
    x = make_features(shape, torch.float64, "cpu")
    np.testing.assert_allclose(tap_pool_reference(x, theta).numpy(), tap_numpy(x.numpy(), theta), rtol=1e-12)


def test_theta_zero_is_not_gap():
    x = torch.tensor([[[[-2.0, 0.0], [1.0, 3.0]]]])
    assert tap_pool_reference(x, 0.0).item() == pytest.approx(2.0)  # mean of {1, 3}
    assert x.mean().item() == pytest.approx(0.5)


def test_dead_channel_gives_zero_and_ties_are_strict():
    x = torch.zeros(1, 1, 3, 3)
    assert tap_pool(x, 0.1).item() == 0.0
    # max 10, theta 0.5 -> tau 5; the value equal to tau is excluded (strict >)
    x = torch.tensor([[[[10.0, 5.0], [6.0, 1.0]]]])
    assert tap_pool(x, 0.5).item() == pytest.approx(8.0)


def _layouts(x):
    yield "contiguous", x
    yield "channels_last", x.contiguous(memory_format=torch.channels_last)
    yield "transposed", x.transpose(2, 3).contiguous().transpose(2, 3)
    yield "strided", x.repeat_interleave(2, dim=3)[..., ::2]


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("theta", [0.0, 0.1, 0.7, 1.0])
def test_kernel_matches_reference(device, dtype, theta):
    for shape in [(2, 3, 5, 7), (4, 33, 14, 14), (2, 260, 28, 28), (1, 2, 64, 64), (3, 2, 1, 1)]:
        x = make_features(shape, dtype, device, seed=sum(shape))
        expected = torch.from_numpy(tap_numpy(x.double().cpu().numpy(), theta))
        for name, xv in _layouts(x):
            y = torch.ops.wsolx.tap_forward(xv, theta)[0]
            assert y.dtype == dtype and y.shape == shape[:2], name
            torch.testing.assert_close(y.double().cpu(), expected, rtol=TOL[dtype], atol=TOL[dtype], msg=name)


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
def test_kernel_random_float_data(device):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(8, 64, 28, 28, generator=g).relu().to(device)
    for theta in (0.0, 0.1, 0.3):
        torch.testing.assert_close(tap_pool(x, theta), tap_pool_reference(x, theta), rtol=1e-5, atol=1e-6)


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_backward_matches_reference(device, dtype):
    x0 = make_features((3, 6, 9, 11), dtype, device, seed=7)
    for _name, xv in _layouts(x0):
        x1 = xv.detach().clone().requires_grad_(True)
        x2 = xv.detach().clone().requires_grad_(True)
        w = torch.linspace(-1, 2, x0.shape[1], device=device, dtype=dtype)
        (tap_pool(x1, 0.2) * w).sum().backward()
        (tap_pool_reference(x2, 0.2) * w).sum().backward()
        torch.testing.assert_close(x1.grad, x2.grad, rtol=TOL[dtype], atol=TOL[dtype])
        if xv.is_contiguous(memory_format=torch.channels_last) and not xv.is_contiguous():
            assert x1.grad.is_contiguous(memory_format=torch.channels_last)


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_float64(device):
    g = torch.Generator().manual_seed(1)
    # distinct values away from tau so the finite differences do not cross the threshold
    x = (torch.randperm(2 * 3 * 4 * 5, generator=g).double().view(2, 3, 4, 5) / 7.0 + 0.05).to(device)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: tap_pool(t, 0.3), (x,), eps=1e-6, atol=1e-8)
    xc = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: tap_pool(t, 0.3), (xc,), eps=1e-6, atol=1e-8)


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    g = torch.Generator().manual_seed(0)
    samples = [
        (torch.randn(2, 3, 4, 5, generator=g).to(device).requires_grad_(), 0.1),
        (torch.randn(2, 8, 7, 7, generator=g).to(device).contiguous(memory_format=torch.channels_last), 0.5),
        (torch.randn(1, 2, 3, 3, generator=g).double().to(device).requires_grad_(), 0.0),
        (torch.randn(0, 4, 3, 3, generator=g).to(device), 0.1),
    ]
    for x, theta in samples:
        torch.library.opcheck(torch.ops.wsolx.tap_forward.default, (x, theta))
    for x, theta in samples:
        x = x.detach()
        y, mask, count = torch.ops.wsolx.tap_forward(x, theta)
        torch.library.opcheck(torch.ops.wsolx.tap_backward.default, (torch.randn_like(y), mask, count, x))


@needs_ext
@pytest.mark.parametrize("device", DEVICES)
def test_mask_bits_are_the_keep_mask(device):
    """The packed bits saved for the backward are exactly x > theta * max, in the documented layout."""
    x = make_features((2, 11, 3, 5), torch.float32, device, seed=3)
    keep = x > 0.3 * x.amax(dim=(2, 3), keepdim=True)
    _, mask, count = torch.ops.wsolx.tap_forward(x, 0.3)
    bits = torch.from_numpy(np.unpackbits(mask.cpu().numpy(), axis=-1, bitorder="little"))
    assert torch.equal(bits[..., :15].bool(), keep.flatten(2).cpu())
    assert torch.equal(count.cpu(), keep.sum((2, 3)).float().cpu())
    xl = x.contiguous(memory_format=torch.channels_last)
    _, mask, _ = torch.ops.wsolx.tap_forward(xl, 0.3)
    bits = torch.from_numpy(np.unpackbits(mask.cpu().numpy(), axis=-1, bitorder="little"))
    assert torch.equal(bits[..., :11].bool(), keep.flatten(2).transpose(1, 2).cpu())


@needs_ext
def test_torch_compile_fullgraph_no_graph_break():
    torch._dynamo.reset()

    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.pool = TAPool(0.1)
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(self.pool(torch.relu(self.conv(x))))

    torch.manual_seed(0)
    model = Head()
    x = torch.randn(2, 3, 10, 10)
    eager = model(x)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    out = compiled(x)
    torch.testing.assert_close(out, eager)
    out.sum().backward()
    assert model.conv.weight.grad is not None and model.conv.weight.grad.abs().sum() > 0
    explanation = torch._dynamo.explain(model)(x)
    assert explanation.graph_break_count == 0


@needs_ext
def test_torch_export():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.ReLU(), TAPool(0.2))
    x = torch.randn(2, 3, 6, 6)
    ep = torch.export.export(model, (x,))
    assert any("wsolx.tap_forward" in str(n.target) for n in ep.graph.nodes)
    torch.testing.assert_close(ep.module()(x), model(x))


def test_torchscript_module():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.ReLU(), TAPool(0.2))
    scripted = torch.jit.script(model)
    x = torch.randn(2, 3, 6, 6)
    torch.testing.assert_close(scripted(x), model(x))


@pytest.mark.parametrize("device", DEVICES)
def test_empty_batch(device):
    x = torch.randn(0, 5, 7, 7, device=device, requires_grad=True)
    y = tap_pool(x, 0.1)
    assert y.shape == (0, 5)
    y.sum().backward()
    assert x.grad.shape == x.shape


@pytest.mark.parametrize("fn", [tap_pool, tap_pool_reference])
def test_bad_inputs(fn):
    with pytest.raises(ValueError, match="4-D"):
        fn(torch.randn(3, 4, 5), 0.1)
    with pytest.raises(TypeError, match="floating point"):
        fn(torch.ones(1, 2, 3, 3, dtype=torch.int64), 0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fn(torch.randn(1, 2, 3, 3), 1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fn(torch.randn(1, 2, 3, 3), float("nan"))
    with pytest.raises(ValueError, match="H\\*W"):
        fn(torch.randn(1, 2, 0, 3), 0.1)
    with pytest.raises(ValueError):
        TAPool(-0.1)


@pytest.mark.parametrize("fn", [tap_pool, tap_pool_reference])
def test_nan_policy(fn):
    x = torch.rand(1, 2, 4, 4, requires_grad=True)
    with torch.no_grad():
        x[0, 0, 1, 1] = float("nan")
    y = fn(x, 0.1)
    assert torch.isnan(y[0, 0]) and torch.isfinite(y[0, 1])
    y[0, 1].backward()
    assert torch.isfinite(x.grad).all() and x.grad[0, 0].abs().sum() == 0


@needs_ext
def test_op_errors_from_cpp():
    with pytest.raises(RuntimeError, match="4-D"):
        torch.ops.wsolx.tap_forward(torch.randn(3, 4), 0.1)
    with pytest.raises(RuntimeError, match="theta"):
        torch.ops.wsolx.tap_forward(torch.randn(1, 1, 2, 2), 2.0)


def test_fallback_process_matches():
    """WSOLX_FORCE_FALLBACK=1 runs the reference in a fresh process; results equal this process."""
    x = make_features((2, 3, 6, 5), torch.float32, "cpu", seed=11)
    expected = tap_pool(x, 0.25)
    code = textwrap.dedent(
        f"""
        import torch, wsolx
        assert wsolx.backend() == "fallback", wsolx.backend_info()
        x = torch.tensor({x.tolist()})
        m = torch.jit.script(torch.nn.Sequential(wsolx.TAPool(0.25)))
        print(repr(m(x).tolist()))
        """
    )
    env = dict(os.environ, WSOLX_FORCE_FALLBACK="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    got = torch.tensor(eval(out.stdout.strip().splitlines()[-1]))
    torch.testing.assert_close(got, expected)


def test_extension_present_when_required():
    """CI sets WSOLX_REQUIRE_EXTENSION=1 so a silent fallback to pure Python fails the run."""
    if os.environ.get("WSOLX_REQUIRE_EXTENSION") != "1":
        pytest.skip("WSOLX_REQUIRE_EXTENSION not set")
    info = wsolx.backend_info()
    assert info["backend"] == "extension", info
    if os.environ.get("WSOLX_REQUIRE_CUDA_KERNELS") == "1":
        assert info["cuda_kernels"], info
