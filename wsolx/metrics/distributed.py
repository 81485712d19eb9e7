"""torch.distributed helpers for metric counters (no-ops in a single process)."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["is_distributed", "all_reduce_sum_"]


def is_distributed() -> bool:
    """True when a default process group is initialised (and has more than one process)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum_(tensor: Tensor) -> Tensor:
    """Sum ``tensor`` over all processes, in place; returns it. No-op when not distributed.

    With the NCCL backend a CPU tensor is summed through the current CUDA device and copied back,
    so counters may live on any device.
    """
    if not is_distributed():
        return tensor
    if dist.get_backend() == "nccl" and tensor.device.type != "cuda":
        tmp = tensor.to(torch.device("cuda", torch.cuda.current_device()))
        dist.all_reduce(tmp, op=dist.ReduceOp.SUM)
        tensor.copy_(tmp)
        return tensor
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
