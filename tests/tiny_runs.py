"""Tiny training runs shared by the tests, on the synthetic sets of ``tests/conftest.py``: the
``wsolx train`` command line (:func:`train_argv`) and the :class:`~wsolx.engine.Config`
(:func:`tiny_config`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, List, Mapping, Optional, Union

from wsolx.engine import Config, DataConfig, EvalConfig, ModelConfig, OptimConfig

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


def tiny_config(
    root: PathLike,
    out: PathLike,
    *,
    data: Union[DataConfig, Mapping[str, Any], None] = None,
    optim: Union[OptimConfig, Mapping[str, Any], None] = None,
    eval: Union[EvalConfig, Mapping[str, Any], None] = None,
    **changes: Any,
) -> Config:
    """A ``vgg_tiny`` (base width 4) TAP run on SYNTH at 32 px (resize 36, batch 6, no workers), lr
    0.01, weight decay 1e-4, 2 epochs with an lr step every epoch, the ``base`` variant at sweep step
    0.1, on the CPU without progress bars.

    Args:
        data / optim / eval: a whole section, or field changes of the default one.
        changes: top-level :class:`~wsolx.engine.Config` fields (whole sections included).
    """
    cfg = Config(
        data=DataConfig(
            dataset="SYNTH", data_root=str(root), image_size=32, resize_size=36, batch_size=6, num_workers=0
        ),
        model=ModelConfig(arch="vgg_tiny", pooling="tap", method_kwargs={"base_width": 4}),
        optim=OptimConfig(lr=0.01, weight_decay=1e-4, epochs=2, lr_step=1),
        eval=EvalConfig(variants=["base"], cam_curve_interval=0.1),
        out_dir=str(out),
        device="cpu",
        progress=False,
    )
    sections = {"data": data, "optim": optim, "eval": eval}
    for name, given in sections.items():
        base = getattr(cfg, name)
        sections[name] = dataclasses.replace(base, **given) if isinstance(given, Mapping) else (given or base)
    return dataclasses.replace(cfg, **sections, **changes)
