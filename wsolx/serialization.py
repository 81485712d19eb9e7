"""Safe reading of torch files: ``weights_only=True`` always, with NumPy arrays allowed.

Old wsolx checkpoints (format 1) stored the NumPy RNG state as an ``ndarray``, which plain
``torch.load(weights_only=True)`` refuses. :func:`safe_load` allows exactly what such an array
needs (array reconstruction and dtypes, nothing that runs code), so wsolx never has to turn
``weights_only`` off for a file it did not write.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, List, Union

import numpy as np
import torch

__all__ = ["safe_load", "load_error_reason", "content_digest"]


def _numpy_safe_globals() -> List[Any]:
    core = getattr(np, "_core", None) or np.core
    return [core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def load_error_reason(exc: BaseException) -> str:
    """A short reason for a failed :func:`safe_load` (torch's messages run over many lines)."""
    text = str(exc).strip()
    if "WeightsUnpickler error:" in text:
        rest = [ln.strip() for ln in text.split("WeightsUnpickler error:", 1)[1].splitlines() if ln.strip()]
        return "not plain tensors and data, refused by the weights-only unpickler" + (f" ({rest[0]})" if rest else "")
    first = (text.splitlines() or [type(exc).__name__])[0]
    return first.split(". ")[0].rstrip(".")


def safe_load(
    path: Union[str, "os.PathLike[str]"], map_location: Union[str, torch.device] = "cpu", mmap: bool = False
) -> Any:
    """``torch.load(path, weights_only=True)`` that also accepts NumPy arrays (old RNG states).

    Raises:
        Whatever ``torch.load`` raises for an unreadable file (callers turn it into their error).
    """
    with torch.serialization.safe_globals(_numpy_safe_globals()):
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)


def _feed(h: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().to("cpu").contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(obj, np.ndarray):
        h.update(f"A{obj.dtype}{obj.shape}|".encode())
        h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}{{".encode())
        for k, v in obj.items():
            _feed(h, k)
            h.update(b":")
            _feed(h, v)
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(f"{'L' if isinstance(obj, list) else 'U'}{len(obj)}[".encode())
        for v in obj:
            _feed(h, v)
        h.update(b"]")
    else:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())


def content_digest(ckpt: Dict[str, Any]) -> str:
    """SHA-256 hex digest of a checkpoint's content, its ``checksum`` entry excluded.

    Here (not in :mod:`wsolx.engine.checkpoint`, which re-exports it) so that
    :mod:`wsolx.models.weights` can verify a wsolx checkpoint without importing the engine.
    """
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in ckpt.items() if k != "checksum"})
    return h.hexdigest()
