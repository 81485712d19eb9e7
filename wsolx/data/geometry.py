"""Evaluation geometry: how an image and its ground truth reach the network's frame.

Two geometries exist (``data.eval_geometry``):

* ``"protocol"`` (Choe et al., the default): ``Resize((S, S))``, no crop. Boxes are scaled per
  axis and truncated (:func:`wsolx.data.transforms.resize_boxes`); masks are resized with OpenCV's
  nearest neighbour.
* ``"paper"`` (the released code of Bae et al.): ``Resize((R, R))`` then ``CenterCrop(S)`` with
  ``R = round(S * 256 / 224)`` (256 for 224). Boxes are scaled to ``R``, shifted by
  ``shift = (R - S) // 2`` and clipped to the crop (:func:`paper_boxes`).

The paper's box arithmetic, per coordinate ``v`` of an image of side ``L`` (``W`` or ``H``), in
float64 and in this order: ``int(v / L * R - shift)`` (truncation toward zero), then the near
corner is raised to ``>= 0`` and the far corner lowered to ``<= S - 1``. Its CUB loader reads
``x, y, width, height`` and takes the far corner as ``x + width - 1``; in the protocol's CUB
metadata ``x1 = x + width``, so for CUB the far corner is ``x1 - 1``
(:data:`PAPER_FAR_CORNER_OFFSET`). Its ImageNet loader reads the corners themselves (offset 0).
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from torchvision import transforms as T

from wsolx.data.transforms import IMAGENET_MEAN, IMAGENET_STD, resize_mask_nearest

__all__ = [
    "EVAL_GEOMETRIES",
    "PAPER_FAR_CORNER_OFFSET",
    "paper_resize_size",
    "paper_far_corner_offset",
    "paper_eval_transform",
    "paper_boxes",
    "paper_mask",
]

#: Names accepted by ``data.eval_geometry``.
EVAL_GEOMETRIES = ("protocol", "paper")

#: Offset added to the metadata's far corner (``x1``, ``y1``) before the paper's mapping, per data
#: set: its CUB code uses ``x + width - 1`` where the protocol's CUB metadata holds ``x + width``.
#: Data sets not listed (ILSVRC, SYNTH, custom ones) give the corners themselves (offset 0).
PAPER_FAR_CORNER_OFFSET: Dict[str, int] = {"CUB": -1}


def paper_resize_size(crop_size: int) -> int:
    """The side ``R`` the paper resizes to before cropping ``crop_size``: ``round(S * 256 / 224)``."""
    return int(round(int(crop_size) * 256 / 224))


def paper_far_corner_offset(dataset: str) -> int:
    """:data:`PAPER_FAR_CORNER_OFFSET` of a data set name (0 when not listed)."""
    return PAPER_FAR_CORNER_OFFSET.get(dataset, 0)


def paper_eval_transform(resize_size: int, crop_size: int) -> T.Compose:
    """PIL image -> ``(3, crop_size, crop_size)``: ``Resize((R, R))``, ``CenterCrop(S)``, normalisation."""
    if crop_size > resize_size:
        raise ValueError(f"paper geometry: crop size {crop_size} exceeds resize size {resize_size}")
    return T.Compose(
        [
            T.Resize((resize_size, resize_size)),
            T.CenterCrop(crop_size),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def paper_boxes(
    boxes: Union[Tensor, Sequence[Sequence[float]]],
    original_size: Tuple[int, int],
    resize_size: int,
    crop_size: int,
    far_corner_offset: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Map ``(G, 4)`` ``[x0, y0, x1, y1]`` metadata boxes of a ``(W, H)`` image into the paper's
    centre crop: ``max(int(v / L * R - shift), 0)`` for ``x0, y0`` and
    ``min(int((v + far_corner_offset) / L * R - shift), S - 1)`` for ``x1, y1``.

    Args:
        boxes: boxes in original pixel coordinates, as the metadata gives them.
        original_size: ``(W, H)`` of the original image.
        resize_size: ``R`` (the paper: 256).
        crop_size: ``S`` (the paper: 224).
        far_corner_offset: added to ``x1, y1`` first (-1 for CUB, see :data:`PAPER_FAR_CORNER_OFFSET`).
        dtype: output dtype.

    Returns:
        ``(G, 4)`` integer-valued boxes in crop coordinates.
    """
    b = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 4).clone()
    w, h = (float(v) for v in original_size)
    if min(w, h) <= 0 or resize_size < 1 or crop_size < 1:
        raise ValueError(f"paper_boxes: sizes must be positive, got {original_size}, {resize_size}, {crop_size}")
    b[:, 2:] += float(far_corner_offset)
    shift = float((float(resize_size) - crop_size) // 2)
    side = torch.tensor([w, h, w, h], dtype=torch.float64)
    mapped = torch.trunc(b / side * float(resize_size) - shift)
    mapped[:, :2] = mapped[:, :2].clamp_min(0.0)
    mapped[:, 2:] = mapped[:, 2:].clamp_max(float(crop_size - 1))
    return mapped.to(dtype)


def paper_mask(mask: np.ndarray, resize_size: int, crop_size: int) -> np.ndarray:
    """A ``(H, W)`` mask in the paper's frame: nearest-neighbour resize to ``(R, R)`` (OpenCV's rule)
    and the centre crop torchvision's ``CenterCrop`` takes (``int(round((R - S) / 2))``)."""
    r = resize_mask_nearest(mask, (resize_size, resize_size))
    top = int(round((resize_size - crop_size) / 2.0))
    return r[top : top + crop_size, top : top + crop_size]
