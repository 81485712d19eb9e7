"""Checkpoints: model, optimiser, LR scheduler, AMP scaler, epoch, best score and the run config.

A checkpoint is one ``torch.save`` dict::

    {"format": 1, "epoch": int (epochs completed), "model": state_dict, "optimizer": ...,
     "scheduler": ..., "scaler": ... or None, "config": Config.to_dict(), "best": {...},
     "rng": {...}, "wsolx_version": str}

Writes go to a temporary file first and are renamed into place, so an interrupted save never
leaves a truncated ``last.pt``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
import torch
from torch import nn

__all__ = ["save_checkpoint", "load_checkpoint", "unwrap_model", "rng_state", "set_rng_state", "CheckpointError"]

FORMAT = 1


class CheckpointError(RuntimeError):
    """A missing, unreadable or incompatible checkpoint."""


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare model inside DDP / loss wrappers (anything exposing ``.module`` or ``.model``)."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif getattr(model, "_wsolx_wrapper", False):
            model = model.model
        else:
            return model


def rng_state() -> Dict[str, Any]:
    """The state of the Python, NumPy, torch CPU and CUDA generators."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: Union[str, Path],
    *,
    model: nn.Module,
    epoch: int,
    config: Dict[str, Any],
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Optional[Any] = None,
    scaler: Optional[Any] = None,
    best: Optional[Dict[str, Any]] = None,
    extra: Optional[Dict[str, Any]] = None,
) -> Path:
    """Write a checkpoint atomically.

    Args:
        path: target file; parents are created.
        model: the model (DDP wrappers are unwrapped, so keys never carry ``module.``).
        epoch: number of completed epochs.
        config: ``Config.to_dict()`` of the run.
        optimizer / scheduler / scaler: optional training state.
        best: ``{"epoch", "metric", "score"}`` of the best validation score so far.
        extra: anything else to store (e.g. final metrics).

    Returns:
        The written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from wsolx import __version__

    ckpt = {
        "format": FORMAT,
        "wsolx_version": __version__,
        "epoch": int(epoch),
        "model": unwrap_model(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "config": config,
        "best": best or {},
        "rng": rng_state(),
        **(extra or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: when the file is missing, unreadable or not a wsolx checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {str(p)!r} does not exist")
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem means a bad file
        raise CheckpointError(f"checkpoint {str(p)!r} could not be read: {exc}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise CheckpointError(f"{str(p)!r} is not a wsolx checkpoint (no 'model' / 'config' entries)")
    if ckpt.get("format", FORMAT) > FORMAT:
        raise CheckpointError(f"checkpoint {str(p)!r} has format {ckpt['format']}, newer than {FORMAT}")
    return ckpt
