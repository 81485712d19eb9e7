"""Hide-and-Seek (HaS; Singh & Lee, ICCV 2017).

In training, the input image is split into a grid of ``grid_size x grid_size``-pixel patches and
each patch is hidden (set to 0, the dataset mean after normalisation) independently with
probability ``drop_rate``; the network is trained with cross-entropy on the hidden image. At test
time nothing is hidden: the model is the plain CAM model.

Protocol defaults (Choe et al., ``config.py``): ``grid_size=4`` (pixels), ``drop_rate=0.5``. The
HaS paper uses patch sizes of 16 to 56 pixels on 224 images with hiding probability 0.5.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from wsolx.methods.base import WSOLMethod
from wsolx.methods.host import MethodHost

__all__ = ["HaS", "has_mask", "has_erase"]


def has_mask(
    batch: int,
    height: int,
    width: int,
    grid_size: int,
    drop_rate: float,
    device: Optional[torch.device] = None,
    generator: Optional[torch.Generator] = None,
) -> Tensor:
    """Keep-mask of Hide-and-Seek: ``(B, 1, H, W)`` float, 0 on hidden patches, 1 elsewhere.

    Patches start at multiples of ``grid_size`` (the last row / column may be cut by the image
    border); each is hidden independently with probability ``drop_rate``.
    """
    n_h = -(-height // grid_size)
    n_w = -(-width // grid_size)
    u = torch.rand((batch, n_h, n_w), generator=generator, device=generator.device if generator else device)
    keep = (u >= drop_rate).to(torch.float32)
    keep = keep.repeat_interleave(grid_size, dim=1)[:, :height].repeat_interleave(grid_size, dim=2)[:, :, :width]
    return keep.unsqueeze(1).to(device)


def has_erase(images: Tensor, grid_size: int, drop_rate: float, generator: Optional[torch.Generator] = None) -> Tensor:
    """Hide random grid patches: ``(B, C, H, W) -> (B, C, H, W)`` (a new tensor, 0 where hidden)."""
    if images.dim() != 4:
        raise ValueError(f"has_erase: expected (B, C, H, W) images, got shape {tuple(images.shape)}")
    b, _, h, w = images.shape
    mask = has_mask(b, h, w, grid_size, drop_rate, device=images.device, generator=generator)
    return images * mask.to(images.dtype)


class HaS(WSOLMethod):
    """Hide-and-Seek: cross-entropy on images with random grid patches hidden (training only).

    Args:
        grid_size: patch side in pixels (protocol default 4).
        drop_rate: probability of hiding each patch (protocol default 0.5).
    """

    name = "has"

    def __init__(self, grid_size: int = 4, drop_rate: float = 0.5) -> None:
        super().__init__()
        if isinstance(grid_size, bool) or not isinstance(grid_size, int) or grid_size < 1:
            raise ValueError(f"HaS: grid_size must be a positive int (pixels), got {grid_size!r}")
        if not (0.0 <= drop_rate <= 1.0):
            raise ValueError(f"HaS: drop_rate must lie in [0, 1], got {drop_rate}")
        self.grid_size = grid_size
        self.drop_rate = float(drop_rate)

    def erase(self, images: Tensor) -> Tensor:
        """The hidden images in training mode, ``images`` unchanged in eval mode."""
        if not self.training or self.drop_rate == 0.0:
            return images
        return has_erase(images, self.grid_size, self.drop_rate)

    def training_loss(self, model: MethodHost, images: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
        logits = model(self.erase(images))
        return F.cross_entropy(logits, labels), logits

    def extra_repr(self) -> str:
        return f"grid_size={self.grid_size}, drop_rate={self.drop_rate}"
