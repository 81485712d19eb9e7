"""IoU with the protocol's +1 convention, on hand-computed cases."""

import numpy as np
import pytest
import torch

from wsolx.metrics import box_iou, pairwise_box_iou


def _iou(a, b):
    return float(box_iou(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)))


def test_identical_and_single_pixel():
    assert _iou([3, 4, 10, 12], [3, 4, 10, 12]) == 1.0
    # A one-pixel box has area 1 under the +1 convention (not 0).
    assert _iou([5, 5, 5, 5], [5, 5, 5, 5]) == 1.0
    # One pixel inside a 2x2 box: 1 / 4.
    assert _iou([0, 0, 0, 0], [0, 0, 1, 1]) == 0.25


def test_plus_one_convention():
    # [0, 0, 9, 9] is 10x10 = 100; [5, 0, 14, 9] is 100; overlap x 5..9 (5) x 10 = 50.
    assert _iou([0, 0, 9, 9], [5, 0, 14, 9]) == pytest.approx(50 / 150, abs=0)
    # Without +1 the same boxes would give 45 / 117; make sure that is not what we compute.
    assert _iou([0, 0, 9, 9], [5, 0, 14, 9]) != pytest.approx(45 / 117)


def test_touching_and_disjoint_are_clamped():
    # Sharing the column x = 4: intersection 1 x 5 = 5; areas 25 + 25.
    assert _iou([0, 0, 4, 4], [4, 0, 8, 4]) == 5 / 45
    # Adjacent (x1 + 1 == x0): 0 overlap, not negative.
    assert _iou([0, 0, 4, 4], [5, 0, 9, 4]) == 0.0
    # Far apart in both axes: both factors negative before clamping; product must not be > 0.
    assert _iou([0, 0, 2, 2], [10, 10, 12, 12]) == 0.0


def test_containment_and_float_boxes():
    assert _iou([0, 0, 9, 9], [2, 2, 5, 5]) == 16 / 100
    # Float ground truth (boxes mapped to 224x224 are not integers).
    a, b = [10, 10, 20, 20], [12.5, 10, 20, 20]
    inter = (20 - 12.5 + 1) * 11
    assert _iou(a, b) == pytest.approx(inter / (121 + 8.5 * 11 - inter), abs=1e-15)


def test_pairwise_shape_and_broadcast():
    a = torch.tensor([[0, 0, 9, 9], [0, 0, 0, 0]])
    b = torch.tensor([[0, 0, 9, 9], [5, 0, 14, 9], [20, 20, 30, 30]], dtype=torch.float32)
    m = pairwise_box_iou(a, b)
    assert m.shape == (2, 3) and m.dtype == torch.float64
    expect = np.array([[1.0, 50 / 150, 0.0], [1 / 100, 0.0, 0.0]])
    np.testing.assert_allclose(m.numpy(), expect, rtol=0, atol=1e-15)
    assert torch.equal(box_iou(a[:, None], b[None]), m)


def test_bad_shapes():
    with pytest.raises(ValueError, match="last dimension of 4"):
        box_iou(torch.zeros(3, 5), torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        pairwise_box_iou(torch.zeros(4), torch.zeros(3, 4))
