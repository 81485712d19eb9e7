"""Loading of the compiled extension ``wsolx._C`` and backend reporting."""

from __future__ import annotations

import importlib
import os
import warnings
from typing import Optional

import torch

_ext = None
_load_error: Optional[str] = None


def _load() -> None:
    global _ext, _load_error
    if os.environ.get("WSOLX_FORCE_FALLBACK", "0").strip().lower() in {"1", "true", "yes", "on"}:
        _load_error = "WSOLX_FORCE_FALLBACK=1"
        return
    try:
        _ext = importlib.import_module("wsolx._C")
    except ImportError as exc:
        _load_error = f"wsolx._C could not be imported: {exc}"
        if "undefined symbol" in str(exc) or "version" in str(exc):
            warnings.warn(f"wsolx: {_load_error}; using the pure-PyTorch fallback", stacklevel=2)


_load()


def has_extension() -> bool:
    """True when the compiled kernels of ``wsolx._C`` are registered with torch."""
    return _ext is not None


def has_cuda_kernels() -> bool:
    """True when the extension was built with its CUDA kernels."""
    return _ext is not None and torch._C._dispatch_has_kernel_for_dispatch_key("wsolx::tap_forward", "CUDA")


def backend() -> str:
    """Which implementation runs the ops: ``"extension"`` or ``"fallback"``.

    ``"extension"`` means the C++ kernels (and the CUDA ones when built); ``"fallback"`` means
    the pure-PyTorch reference (no compiler at install time, a failed import, or
    ``WSOLX_FORCE_FALLBACK=1``).
    """
    return "extension" if _ext is not None else "fallback"


def backend_info() -> dict:
    """Details for ``wsolx info``: backend, why the fallback runs, CUDA kernels, torch build."""
    return {
        "backend": backend(),
        "fallback_reason": _load_error,
        "cuda_kernels": has_cuda_kernels(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cpu_threads": torch.get_num_threads(),
    }
