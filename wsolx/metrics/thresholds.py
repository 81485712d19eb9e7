"""The CAM threshold sweep of the protocol."""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
from torch import Tensor

from wsolx.protocol import CAM_CURVE_INTERVAL

__all__ = ["cam_thresholds", "as_thresholds"]


def cam_thresholds(cam_curve_interval: float = CAM_CURVE_INTERVAL) -> np.ndarray:
    """``np.arange(0, 1, cam_curve_interval)`` (float64), the protocol's sweep."""
    if not 0.0 < cam_curve_interval <= 1.0:
        raise ValueError(f"cam_curve_interval must lie in (0, 1], got {cam_curve_interval}")
    return np.arange(0, 1, cam_curve_interval)


def as_thresholds(thresholds: Optional[Union[Sequence[float], np.ndarray, Tensor]], name: str) -> np.ndarray:
    """Validate a threshold list: ``None`` gives :func:`cam_thresholds`; otherwise a non-empty,
    finite, strictly increasing 1-D float64 array."""
    if thresholds is None:
        return cam_thresholds()
    if isinstance(thresholds, Tensor):
        thresholds = thresholds.detach().cpu().numpy()
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim == 0:
        t = t[None]
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"{name}: thresholds must be a non-empty 1-D sequence, got shape {t.shape}")
    if not np.isfinite(t).all():
        raise ValueError(f"{name}: thresholds must be finite")
    if t.size > 1 and not (np.diff(t) > 0).all():
        raise ValueError(f"{name}: thresholds must be strictly increasing")
    return t
