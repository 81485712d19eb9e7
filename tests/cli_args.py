"""Command lines shared by the tests: ``wsolx train`` on a tiny synthetic set (``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Union

PathLike = Union[str, Path]


def train_argv(
    root: PathLike,
    out: PathLike,
    *extra: str,
    arch: str = "vgg_tiny",
    masks: bool = True,
    epochs: int = 1,
    batch_size: int = 4,
    lr: Optional[float] = 0.01,
    interval: float = 0.05,
) -> List[str]:
    """``wsolx train`` arguments: SYNTH (and SYNTH_MASK when ``masks``) at 32 px (resize 36), CPU,
    no workers, quiet, sweep step ``interval``; ``vgg_tiny`` at base width 4; then ``extra``.
    ``lr=None`` leaves the learning rate to the defaults (or to ``extra``)."""
    args = ["train", "--data-root", str(root), "--out", str(out), "--arch", arch]
    args += "--dataset SYNTH --image-size 32 --resize-size 36 --workers 0 --device cpu --quiet".split()
    args += ["--epochs", str(epochs), "--batch-size", str(batch_size)]
    if lr is not None:
        args += ["--lr", str(lr)]
    if masks:
        args += ["--mask-dataset", "SYNTH_MASK"]
    if arch == "vgg_tiny":
        args += ["--set", "model.method_kwargs.base_width=4"]
    return args + ["--set", f"eval.cam_curve_interval={interval}", *extra]
