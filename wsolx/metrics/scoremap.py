"""Score maps of the protocol: float64 cv2-exact bicubic upsampling + min-max normalisation (no quantisation)."""

from __future__ import annotations

from typing import Tuple

from torch import Tensor

from wsolx.ops.boxes import upsample_scoremaps

__all__ = ["normalized_scoremaps"]


def normalized_scoremaps(cams: Tensor, image_size: Tuple[int, int]) -> Tensor:
    """``(N, h, w)`` raw CAMs -> ``(N, H, W)`` float64 score maps in ``[0, 1]``.

    The protocol's score maps (:func:`wsolx.ops.upsample_scoremaps`): the CAM cast to float64 and
    resized bit for bit as ``cv2.resize(..., INTER_CUBIC)``, then ``normalize_scoremap`` in
    float64 (``s -= min; s /= max``); a constant map, or one holding a NaN or an infinite value,
    becomes all zeros (docs/semantics.md §3). The box ops quantise these same maps.
    """
    if cams.dim() != 3:
        raise ValueError(f"normalized_scoremaps: expected (N, h, w) CAMs, got shape {tuple(cams.shape)}")
    if not cams.is_floating_point():
        raise TypeError(f"normalized_scoremaps: expected a floating point tensor, got {cams.dtype}")
    return upsample_scoremaps(cams, image_size)
