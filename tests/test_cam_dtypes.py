"""``wsolx.cam`` dtypes (issue 16, item 11): integer features must not cast the float weights to
integers (which made the CAM all zeros)."""

from __future__ import annotations

import pytest
import torch

import wsolx


@pytest.mark.parametrize("feat_dtype", [torch.int64, torch.int32, torch.uint8, torch.bool])
@pytest.mark.parametrize("clamp", [False, True])
def test_integer_features_use_float_weights(feat_dtype, clamp):
    g = torch.Generator().manual_seed(0)
    feats = torch.randint(0, 2 if feat_dtype == torch.bool else 5, (2, 3, 4, 5), generator=g).to(feat_dtype)
    w = torch.tensor([[0.25, -0.5, 0.75], [0.1, 0.2, -0.3]])
    labels = torch.tensor([0, 1])
    got = wsolx.cam(feats, w, labels, clamp_negative=clamp)
    wk = w.clamp_min(0) if clamp else w
    expected = torch.einsum("bk,bkhw->bhw", wk[labels], feats.double().float())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected)
    assert got.abs().sum() > 0


def test_float_features_keep_their_dtype():
    feats = torch.rand(1, 3, 2, 2, dtype=torch.float64)
    w = torch.rand(4, 3)
    assert wsolx.cam(feats, w, torch.tensor([2])).dtype == torch.float64
    assert wsolx.cam(feats.half(), w, torch.tensor([2])).dtype == torch.float16
