"""wsolx.cam: class activation maps with and without Negative Weight Clamping (docs/semantics.md §2)."""

from __future__ import annotations

import pytest
import torch

from wsolx import cam


def test_cam_equals_weighted_sum_and_nwc_clamps():
    g = torch.Generator().manual_seed(0)
    feats = torch.rand(3, 5, 4, 6, generator=g)
    w = torch.randn(7, 5, generator=g)
    labels = torch.tensor([0, 6, 3])
    for clamp in (False, True):
        got = cam(feats, w, labels, clamp_negative=clamp)
        assert got.shape == (3, 4, 6)
        for b in range(3):
            wb = w[labels[b]].clamp_min(0) if clamp else w[labels[b]]
            expected = sum(wb[k] * feats[b, k] for k in range(5))
            torch.testing.assert_close(got[b], expected)
    # NWC removes the negative evidence: with non-negative features the CAM can only grow.
    assert (cam(feats, w, labels, clamp_negative=True) >= cam(feats, w, labels, clamp_negative=False) - 1e-6).all()


def test_cam_accepts_conv_weight_and_keeps_grad():
    feats = torch.rand(2, 4, 3, 3, requires_grad=True)
    w = torch.randn(5, 4, 1, 1)
    out = cam(feats, w, torch.tensor([1, 2]))
    out.sum().backward()
    assert feats.grad is not None and feats.grad.shape == feats.shape


@pytest.mark.parametrize(
    "args, error",
    [
        ((torch.rand(2, 4, 3), torch.rand(5, 4), torch.tensor([0, 1])), ValueError),
        ((torch.rand(2, 4, 3, 3), torch.rand(5, 3), torch.tensor([0, 1])), ValueError),
        ((torch.rand(2, 4, 3, 3), torch.rand(5, 4), torch.tensor([0])), ValueError),
        ((torch.rand(2, 4, 3, 3), torch.rand(5, 4), torch.tensor([0.0, 1.0])), TypeError),
        ((torch.rand(2, 4, 3, 3), torch.rand(5, 4), torch.tensor([0, 5])), ValueError),
    ],
)
def test_cam_bad_inputs(args, error):
    with pytest.raises(error):
        cam(*args)
