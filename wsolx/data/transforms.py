"""Protocol image transforms and the mapping of ground truth into network coordinates.

Train: ``Resize((resize, resize))`` -> ``RandomCrop(crop)`` -> ``RandomHorizontalFlip`` ->
``ToTensor`` -> ImageNet normalisation (protocol: resize 256, crop 224).
Eval: ``Resize((size, size))`` -> ``ToTensor`` -> normalisation (protocol: 224x224, no crop), so
ground-truth boxes are mapped by scaling each axis by ``size / original`` and truncating toward
zero as the protocol's ``resize_bbox`` does (``truncate=False`` keeps the fractions), and masks by a
nearest-neighbour resize. The paper's evaluation geometry (resize then centre crop) is in
:mod:`wsolx.data.geometry`.
"""

from __future__ import annotations

from typing import Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from torchvision import transforms as T

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "train_transform",
    "eval_transform",
    "resize_boxes",
    "resize_mask_nearest",
    "denormalize",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _check_size(name: str, value: int) -> int:
    if int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def train_transform(resize_size: int = 256, crop_size: int = 224) -> T.Compose:
    """PIL image -> ``(3, crop_size, crop_size)`` float32 tensor with protocol augmentation."""
    resize_size = _check_size("resize_size", resize_size)
    crop_size = _check_size("crop_size", crop_size)
    if crop_size > resize_size:
        raise ValueError(f"crop_size ({crop_size}) must not exceed resize_size ({resize_size})")
    return T.Compose(
        [
            T.Resize((resize_size, resize_size)),
            T.RandomCrop(crop_size),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def eval_transform(image_size: int = 224) -> T.Compose:
    """PIL image -> ``(3, image_size, image_size)`` float32 tensor (resize, no crop)."""
    image_size = _check_size("image_size", image_size)
    return T.Compose([T.Resize((image_size, image_size)), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def resize_boxes(
    boxes: Union[Tensor, Sequence[Sequence[float]]],
    original_size: Tuple[int, int],
    new_size: Tuple[int, int],
    dtype: torch.dtype = torch.float32,
    truncate: bool = True,
) -> Tensor:
    """Map ``(G, 4)`` ``[x0, y0, x1, y1]`` boxes from an image of ``original_size = (W, H)`` to one
    resized to ``new_size = (W', H')``: ``int(x * W' / W)`` and ``int(y * H' / H)``.

    As the protocol's ``resize_bbox``: the scaling runs in float64, ``x * W'`` first and then
    ``/ W``, and each result is truncated toward zero (``int()``). ``truncate=False`` keeps the
    fractional coordinates instead. The result is cast to ``dtype`` at the end.
    """
    b = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 4)
    (w, h), (nw, nh) = original_size, new_size
    if min(w, h, nw, nh) <= 0:
        raise ValueError(f"resize_boxes: sizes must be positive, got {original_size} -> {new_size}")
    # ``x * W' / W`` evaluated left to right in float64, as the protocol does (bit-identical).
    new = torch.tensor([nw, nh, nw, nh], dtype=torch.float64)
    old = torch.tensor([w, h, w, h], dtype=torch.float64)
    scaled = b * new / old
    if truncate:
        scaled = torch.trunc(scaled)
    return scaled.to(dtype)


def resize_mask_nearest(mask: np.ndarray, new_size: Tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a ``(H, W)`` array to ``new_size = (W', H')``.

    Uses the source index of ``cv2.INTER_NEAREST`` (the protocol resizes masks with OpenCV),
    ``floor(dst * (1 / (dst_len / src_len)))`` in float64 exactly as OpenCV computes it, not PIL's
    pixel-centre rule.
    """
    if mask.ndim != 2:
        raise ValueError(f"resize_mask_nearest: expected a (H, W) array, got shape {mask.shape}")
    h, w = mask.shape
    nw, nh = new_size
    if (h, w) == (nh, nw):
        return mask.copy()
    ys = np.minimum(np.floor(np.arange(nh) * (1.0 / (nh / h))).astype(np.int64), h - 1)
    xs = np.minimum(np.floor(np.arange(nw) * (1.0 / (nw / w))).astype(np.int64), w - 1)
    return mask[ys[:, None], xs[None, :]]


def denormalize(images: Tensor) -> Tensor:
    """Undo the ImageNet normalisation: ``(..., 3, H, W)`` -> values in ``[0, 1]`` (clamped)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device)[:, None, None]
    return (images * std + mean).clamp(0.0, 1.0)
