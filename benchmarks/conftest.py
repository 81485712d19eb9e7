"""Shared fixtures of the benchmark suite (pytest-benchmark).

Run: ``pytest benchmarks/ --benchmark-json=out.json`` then ``python benchmarks/summary.py out.json``.
CUDA variants run when a GPU and the CUDA kernels are present. Set ``WSOLX_BENCH_QUICK=1`` for
smaller sizes (a smoke run).
"""

from __future__ import annotations

import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

QUICK = os.environ.get("WSOLX_BENCH_QUICK", "0") == "1"


def devices() -> list:
    import wsolx

    out = ["cpu"]
    if torch.cuda.is_available() and wsolx._ext.has_cuda_kernels():
        out.append("cuda")
    return out


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
