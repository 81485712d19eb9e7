"""Base class of the metrics: integer counters on a device, reset / merge / all_reduce."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from wsolx.metrics.distributed import all_reduce_sum_

__all__ = ["CounterMetric", "as_image_size"]

DeviceLike = Union[str, torch.device, None]


def as_image_size(image_size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """``(H, W)`` from an int or a pair; raises ``ValueError`` unless both are >= 1."""
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    size = tuple(int(s) for s in image_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"image_size must be (H, W) with H, W >= 1, got {image_size}")
    return size  # type: ignore[return-value]


class CounterMetric:
    """A metric whose whole state is a set of int64 counters.

    Because the state is integer counts, accumulating a data set in shards and summing the
    counters (:meth:`merge` in one process, :meth:`all_reduce` across processes) gives exactly the
    numbers of one accumulation. With ``device=None`` the counters move to the device of the first
    batch.

    Subclasses implement :meth:`_zero_counters` and :meth:`compute`.
    """

    def __init__(self, device: DeviceLike = None) -> None:
        self._device: Optional[torch.device] = torch.device(device) if device is not None else None
        self._counters: Dict[str, Tensor] = {}
        self.reset()

    # --------------------------------------------------------------------------- subclass API
    def _zero_counters(self, device: torch.device) -> Dict[str, Tensor]:
        raise NotImplementedError

    def compute(self) -> Dict[str, Any]:
        raise NotImplementedError

    # ------------------------------------------------------------------------------ state
    @property
    def device(self) -> torch.device:
        """Where the counters live."""
        return self._device if self._device is not None else torch.device("cpu")

    def reset(self) -> None:
        """Zero every counter."""
        self._counters = self._zero_counters(self.device)

    def _adopt_device(self, t: Tensor) -> torch.device:
        """Device of the first batch when none was given; returns the counters' device."""
        if self._device is None:
            self._device = t.device
            self._counters = {k: v.to(t.device) for k, v in self._counters.items()}
        return self._device

    def state_dict(self) -> Dict[str, Tensor]:
        """CPU copies of the counters."""
        return {k: v.detach().cpu().clone() for k, v in self._counters.items()}

    def load_state_dict(self, state: Dict[str, Tensor]) -> None:
        """Replace the counters (shapes must match this metric's configuration)."""
        self._check_compatible(state, "load_state_dict")
        self._counters = {k: state[k].to(device=self.device, dtype=torch.int64).clone() for k in self._counters}

    def _check_compatible(self, state: Dict[str, Tensor], what: str) -> None:
        if set(state) != set(self._counters):
            raise ValueError(
                f"{type(self).__name__}.{what}: counters {sorted(state)} do not match {sorted(self._counters)}"
            )
        for k, v in self._counters.items():
            if tuple(state[k].shape) != tuple(v.shape):
                raise ValueError(
                    f"{type(self).__name__}.{what}: counter {k!r} has shape {tuple(state[k].shape)}, "
                    f"expected {tuple(v.shape)} (different thresholds or configuration?)"
                )

    def merge(self, other: "CounterMetric") -> "CounterMetric":
        """Add the counters of ``other`` (same class and configuration) to this one; returns self."""
        if type(other) is not type(self):
            raise TypeError(f"{type(self).__name__}.merge: cannot merge a {type(other).__name__}")
        if self._config() != other._config():
            raise ValueError(
                f"{type(self).__name__}.merge: different configurations {self._config()} and {other._config()}"
            )
        self._check_compatible(other._counters, "merge")
        for k in self._counters:
            self._counters[k] += other._counters[k].to(self._counters[k].device)
        return self

    def _config(self) -> Dict[str, Any]:
        """Settings that must agree for :meth:`merge`."""
        return {}

    def all_reduce(self) -> None:
        """Sum the counters over all processes (``torch.distributed``); no-op when not initialised.

        Every process must call it (it is a collective). One all-reduce of all counters at once.
        """
        keys = list(self._counters)
        flat = torch.cat([self._counters[k].reshape(-1) for k in keys])
        all_reduce_sum_(flat)
        offset = 0
        for k in keys:
            n = self._counters[k].numel()
            self._counters[k] = flat[offset : offset + n].view_as(self._counters[k]).clone()
            offset += n
