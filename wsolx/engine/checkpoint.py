"""Checkpoints: model, optimiser, LR scheduler, AMP scaler, epoch, best score and the run config.

A checkpoint is one ``torch.save`` dict::

    {"format": 1, "epoch": int (epochs completed), "model": state_dict, "optimizer": ...,
     "scheduler": ..., "scaler": ... or None, "config": Config.to_dict(), "best": {...},
     "rng": {...}, "wsolx_version": str, "checksum": {"algorithm": ..., "sha256": hex}}

Everything in it is plain data (tensors, numbers, strings, lists, dicts), so it loads with
``torch.load(weights_only=True)``: no pickled code is ever run, and a checkpoint can also be passed
as ``--weights``. ``checksum`` is a SHA-256 over the content (every tensor's dtype, shape and bytes,
every other value's repr); :func:`load_checkpoint` recomputes it, so flipped bytes are reported
instead of silently evaluated.

A save serialises to memory, writes ``<name>.tmp``, flushes and fsyncs it, renames it into place
and fsyncs the folder, so an interrupted save never leaves a truncated ``last.pt``; a stale
``*.pt.tmp`` of a killed save is removed by the next save (and by :func:`remove_stale_temporaries`).
A full disk is reported as an :class:`OSError` naming the file.
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Union

import numpy as np
import torch
from torch import nn

from wsolx.errors import WsolxError, disk_write_error
from wsolx.serialization import content_digest, load_error_reason, safe_load

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "unwrap_model",
    "rng_state",
    "set_rng_state",
    "CheckpointError",
    "content_digest",
    "write_file_atomic",
    "remove_stale_temporaries",
    "non_finite_tensors",
]

FORMAT = 2  # 2: checksum, RNG state as plain data; 1: neither (still readable)
_DIGEST = "wsolx-content-sha256-v1"


class CheckpointError(WsolxError, RuntimeError):
    """A missing, unreadable, corrupt or incompatible checkpoint."""


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
    """The state of the Python, NumPy, torch CPU and CUDA generators, as plain data."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    numpy_state = [
        name,
        torch.from_numpy(np.asarray(keys, dtype=np.uint32).astype(np.int64)),
        int(pos),
        int(has_gauss),
        float(cached),
    ]
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    keys = keys.numpy() if isinstance(keys, torch.Tensor) else np.asarray(keys)
    np.random.set_state((name, keys.astype(np.uint32), int(pos), int(has_gauss), float(cached)))
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
    ckpt["checksum"] = {"algorithm": _DIGEST, "sha256": content_digest(ckpt)}
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    write_file_atomic(path, buf.getbuffer())
    return path


# ---------------------------------------------------------------------------- integrity
def non_finite_tensors(state: Dict[str, Any]) -> list:
    """Names of the floating-point tensors of a state dict that hold NaN or infinity."""
    return [
        k
        for k, v in state.items()
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]


# ---------------------------------------------------------------------------- files
def _write_all(f: Any, data: Any) -> None:
    """Write ``data`` to the open file ``f`` (the one place a full disk shows up)."""
    f.write(data)


def write_file_atomic(path: Union[str, Path], data: Union[bytes, bytearray, memoryview]) -> Path:
    """Write ``data`` to ``path`` atomically and durably: ``path.tmp``, fsync, rename, fsync folder.

    Raises:
        OSError: naming ``path`` (a full disk reads "no space left on device"); the temporary file
            is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            _write_all(f, data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise disk_write_error(exc, path) from None
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # a file system that cannot open folders
        return path
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
    return path


def remove_stale_temporaries(folder: Union[str, Path], patterns: Iterable[str] = ("*.pt.tmp", "*.json.tmp")) -> list:
    """Delete the temporary files a killed save left in ``folder``; returns the removed paths."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for pattern in patterns:
        for p in folder.glob(pattern):
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


def load_checkpoint(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` and verify its checksum.

    Raises:
        CheckpointError: when the file is missing, empty, unreadable, corrupt (checksum mismatch)
            or not a wsolx checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {str(p)!r} does not exist" + (" (it is a folder)" if p.is_dir() else ""))
    if p.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {str(p)!r} is empty (0 bytes)")
    try:
        ckpt = safe_load(p, map_location=map_location)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem means a bad file
        raise CheckpointError(
            f"checkpoint {str(p)!r} could not be read (truncated, corrupt or not a torch file): {load_error_reason(exc)}"
        ) from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise CheckpointError(f"{str(p)!r} is not a wsolx checkpoint (no 'model' / 'config' entries)")
    fmt = ckpt.get("format", 1)
    if not isinstance(fmt, int) or fmt > FORMAT:
        raise CheckpointError(f"checkpoint {str(p)!r} has format {fmt!r}, newer than {FORMAT}")
    stored = ckpt.get("checksum")
    if stored is not None or fmt >= 2:
        if not isinstance(stored, dict) or stored.get("algorithm") != _DIGEST:
            raise CheckpointError(f"checkpoint {str(p)!r} has no valid checksum entry: corrupt")
        if content_digest(ckpt) != stored.get("sha256"):
            raise CheckpointError(
                f"checkpoint {str(p)!r} is corrupt: its content does not match the stored SHA-256 checksum"
            )
    return ckpt
