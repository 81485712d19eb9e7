"""Process-group set-up from torchrun's environment, exact data sharding and small collectives.

``torchrun --nproc_per_node=N -m wsolx train ...`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_distributed` reads them and starts a process
group with ``nccl`` on CUDA and ``gloo`` on CPU. Without those variables everything runs in one
process and the collectives here are no-ops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from wsolx.engine.config import ConfigError
from wsolx.metrics.distributed import all_reduce_sum_ as all_reduce_sum
from wsolx.metrics.distributed import is_distributed

__all__ = [
    "DistInfo",
    "init_distributed",
    "cleanup_distributed",
    "resolve_device",
    "is_distributed",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "barrier",
    "ShardSampler",
    "all_reduce_sum",
    "broadcast_object",
]


@dataclass
class DistInfo:
    """Where this process stands: its rank, the world size, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: Optional[str] = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:<local_rank>`` when CUDA is available else ``cpu``; ``cuda`` -> ``cuda:<local_rank>``."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r} was asked for (--device) but CUDA is not available; use --device cpu")
        if spec == "cuda":
            return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    try:
        dev = torch.device(spec)
    except RuntimeError as exc:
        raise ConfigError(f"device {spec!r} (--device) is not a device: {exc}") from None
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device {spec!r} (--device): only {torch.cuda.device_count()} CUDA device(s) are visible")
    return dev


def init_distributed(device: str = "auto") -> DistInfo:
    """Start the process group when torchrun's variables say so; pick this process's device.

    Args:
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (see :func:`resolve_device`).

    Returns:
        A :class:`DistInfo`; ``world_size == 1`` when not launched by torchrun.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world <= 1:
        return DistInfo(0, 1, 0, dev, None)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev, dist.get_backend())


def cleanup_distributed() -> None:
    """Destroy the process group if one is up."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


class ShardSampler(Sampler[int]):
    """Exact sharding for evaluation: rank ``r`` of ``W`` sees indices ``r, r + W, r + 2W, ...``.

    Unlike :class:`torch.utils.data.DistributedSampler` nothing is padded or duplicated, so metric
    counters summed over ranks equal those of one process.
    """

    def __init__(self, length: int, rank: Optional[int] = None, world_size: Optional[int] = None) -> None:
        self.length = int(length)
        self.rank = get_rank() if rank is None else int(rank)
        self.world_size = get_world_size() if world_size is None else int(world_size)
        if not (0 <= self.rank < self.world_size):
            raise ValueError(f"ShardSampler: rank {self.rank} outside [0, {self.world_size})")

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.length, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.length, self.world_size))


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (identity in one process)."""
    if not is_distributed():
        return obj
    box: List[Any] = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
