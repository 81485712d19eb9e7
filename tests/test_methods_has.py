"""Hide-and-Seek: grid patches hidden with the given probability, only in training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wsolx.methods import HaS, has_erase, has_mask
from wsolx.models import get_model


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_mask_is_patchwise_with_the_given_rate():
    torch.manual_seed(0)
    grid = 8
    mask = has_mask(16, 60, 64, grid, 0.3)  # 60 is not a multiple of the grid: cut last row
    assert mask.shape == (16, 1, 60, 64) and set(mask.unique().tolist()) <= {0.0, 1.0}
    cells = []
    for y0 in range(0, 60, grid):
        for x0 in range(0, 64, grid):
            patch = mask[:, 0, y0 : y0 + grid, x0 : x0 + grid]
            flat = patch.flatten(1)
            assert (flat == flat[:, :1]).all(), "a patch is partly hidden"
            cells.append(flat[:, 0])
    hidden = 1.0 - torch.stack(cells).mean()
    assert 8 * 8 * 16 == torch.stack(cells).numel()
    assert abs(float(hidden) - 0.3) < 0.06
    big = has_mask(32, 64, 64, 4, 0.5, generator=torch.Generator().manual_seed(1))
    cell_hidden = 1.0 - big[:, 0, ::4, ::4].mean()  # 8192 independent cells
    assert abs(float(cell_hidden) - 0.5) < 0.03
    assert has_mask(2, 10, 10, 3, 0.0).eq(1).all() and has_mask(2, 10, 10, 3, 1.0).eq(0).all()


def test_erase_sets_hidden_patches_to_zero_and_keeps_the_rest():
    x = torch.randn(4, 3, 32, 32) + 5.0  # no zeros in the input
    g = torch.Generator().manual_seed(3)
    out = has_erase(x, grid_size=4, drop_rate=0.5, generator=g)
    mask = has_mask(4, 32, 32, 4, 0.5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(out, x * mask)
    hidden = mask.expand_as(x) == 0
    assert hidden.any() and (~hidden).any()
    assert (out[hidden] == 0).all() and torch.equal(out[~hidden], x[~hidden])
    assert torch.isfinite(x).all() and (x != 0).all()  # input untouched


def test_training_loss_uses_the_erased_image_only_in_training():
    torch.manual_seed(0)
    model = get_model("vgg_tiny", num_classes=3, method="has", grid_size=8, drop_rate=0.5, base_width=8)
    x = torch.randn(2, 3, 32, 32)
    y = torch.tensor([1, 2])
    model.train()
    torch.manual_seed(11)
    loss, logits = model.training_loss(x, y)
    torch.manual_seed(11)
    erased = has_erase(x, 8, 0.5)
    assert (erased == 0).any()
    with torch.no_grad():
        expected = model(erased)
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(loss, F.cross_entropy(expected, y))
    # Eval: nothing hidden, the plain CAM objective.
    model.eval()
    assert model.method.erase(x) is x
    loss_eval, logits_eval = model.training_loss(x, y)
    with torch.no_grad():
        torch.testing.assert_close(logits_eval, model(x))


def test_invalid_hyper_parameters():
    with pytest.raises(ValueError):
        HaS(grid_size=0)
    with pytest.raises(ValueError):
        HaS(drop_rate=1.5)
    with pytest.raises(TypeError, match="grid_size"):
        get_model("vgg_tiny", num_classes=3, method="has", grid=4)
