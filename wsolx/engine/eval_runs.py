"""Evaluating a split of a configured data set, and a saved checkpoint (``wsolx eval``).

:func:`evaluate_split` evaluates ``cfg.data.dataset`` on one split and, when
``cfg.data.mask_dataset`` names a companion mask data set (``SYNTH_MASK`` for ``SYNTH``), also that
data set's split for PxAP; the mask metrics are merged into the same variant entries.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import torch
from torch import nn

from wsolx.engine.builders import build_dataset, build_model, check_input_sizes
from wsolx.engine.checkpoint import CheckpointError, load_checkpoint, non_finite_tensors
from wsolx.engine.config import Config, ConfigError
from wsolx.engine.distributed import init_distributed
from wsolx.engine.evaluator import evaluate
from wsolx.metrics.val_threshold import add_val_threshold_metrics

__all__ = ["evaluate_split", "evaluate_checkpoint", "load_model"]


def evaluate_split(
    model: nn.Module,
    cfg: Config,
    split: str,
    *,
    device: torch.device,
    variants: Optional[Sequence[str]] = None,
    desc: Optional[str] = None,
    dataset: Optional[Any] = None,
) -> Dict[str, Any]:
    """Metrics of ``model`` on ``split`` of the configured data set (plus PxAP of the mask data set).

    Args:
        model: the bare model, on ``device``.
        cfg: run config (data, eval, amp, channels_last, progress).
        split: split name.
        device: where the model runs.
        variants: variant names (default ``cfg.eval.variants``).
        desc: progress-bar label.
        dataset: the already built evaluation data set of ``split`` (built here when ``None``).

    Returns:
        :func:`wsolx.engine.evaluator.evaluate`'s dict with ``dataset`` and ``split`` added, and
        ``mask_dataset`` when mask metrics were merged in.
    """
    ds = dataset if dataset is not None else build_dataset(cfg, split, train=False)
    kw = dict(
        variants=variants,
        device=device,
        batch_size=cfg.data.eval_batch_size or cfg.data.batch_size or 32,
        num_workers=cfg.data.num_workers,
        amp=cfg.amp,
        channels_last=cfg.channels_last,
        progress=cfg.progress,
    )
    out = evaluate(model, ds, cfg.eval, desc=desc or split, **kw)
    out["dataset"], out["split"] = ds.name, ds.split
    if cfg.data.mask_dataset and not ds.has_masks:
        mds = build_dataset(cfg, split, train=False, dataset=cfg.data.mask_dataset)
        if not mds.has_masks:
            raise ConfigError(f"data.mask_dataset {cfg.data.mask_dataset!r} has no masks on split {split!r}")
        masks = evaluate(model, mds, cfg.eval, desc=f"{desc or split} masks", **kw)
        for v, m in masks["variants"].items():
            target = out["variants"][v]
            for k, x in m.items():
                target.setdefault(k, x)
        out["mask_dataset"] = mds.name
    return out


def load_model(ckpt: Dict[str, Any], cfg: Config, device: torch.device, num_classes: int) -> nn.Module:
    """Build the checkpoint's model and load its weights (all finite, or :class:`CheckpointError`)."""
    bad = non_finite_tensors(ckpt["model"])
    if bad:
        raise CheckpointError(
            f"the checkpoint's weights hold NaN/inf in {len(bad)} tensor(s), e.g. {bad[0]!r}: its metrics would be "
            "meaningless (the training diverged, or the file was damaged before it was saved)"
        )
    model = build_model(cfg, num_classes)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"the checkpoint's weights do not fit model {cfg.model.arch!r}: {exc}") from None
    model = model.to(device).eval()
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def evaluate_checkpoint(
    checkpoint: Union[str, Path],
    *,
    split: str = "test",
    overrides: Sequence[str] = (),
    variants: Optional[Sequence[str]] = None,
    device: Optional[str] = None,
    val_thresholds: bool = True,
) -> Dict[str, Any]:
    """Evaluate a checkpoint written by the trainer on ``split``.

    Args:
        checkpoint: path of ``best.pt`` / ``last.pt``.
        split: split to evaluate (``test`` or ``val``).
        overrides: ``section.key=value`` changes to the stored config (e.g. a new ``data.data_root``).
        variants: variant names (default: the config's ``eval.variants``).
        device: overrides the stored ``device``.
        val_thresholds: when ``split`` is not the validation split, also evaluate the validation
            split and add the test accuracy at the thresholds chosen there
            (:mod:`wsolx.metrics.val_threshold`); ``val_threshold_split`` records which split.

    Returns:
        The metrics dict of :func:`evaluate_split` plus ``checkpoint``, ``epoch`` and ``config``.
    """
    ckpt = load_checkpoint(checkpoint)
    try:
        cfg = Config.from_dict(ckpt["config"])
    except ConfigError as exc:
        raise CheckpointError(f"the config stored in {str(checkpoint)!r} is invalid: {exc}") from None
    if overrides:
        cfg = cfg.replace(overrides)
    if device is not None:
        cfg = dataclasses.replace(cfg, device=device)
    if variants is not None:
        cfg = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, variants=list(variants)))
        if cfg.eval.select_variant not in cfg.eval.variants:
            cfg.eval.select_variant = cfg.eval.variants[0]
    cfg.validate(check_paths=True)
    info = init_distributed(cfg.device)
    probe = build_dataset(cfg, split, train=False)
    try:
        model = load_model(ckpt, cfg, info.device, probe.num_classes)
    except CheckpointError as exc:
        raise CheckpointError(f"checkpoint {str(checkpoint)!r}: {exc}") from None
    check_input_sizes(model, cfg, info.device, train=False)
    out = evaluate_split(model, cfg, split, device=info.device, dataset=probe)
    val_split = cfg.data.val_split
    if val_thresholds and val_split and probe.split != val_split:
        from wsolx.data.datasets import dataset_spec_or_folder
        from wsolx.data.metadata import canonical_split

        try:
            split_dir = canonical_split(val_split)
        except ValueError:
            split_dir = val_split
        meta_root = Path(cfg.data.resolved_metadata_root())
        folder = meta_root / dataset_spec_or_folder(cfg.data.dataset, meta_root).name / split_dir
        if folder.is_dir():
            val = evaluate_split(model, cfg, val_split, device=info.device, desc=f"{val_split} (thresholds)")
            add_val_threshold_metrics(out, val)
            out["val_threshold_split"] = val_split
        else:  # no validation split to choose thresholds on: only the oracle numbers
            out["val_threshold_split"] = None
    out["checkpoint"] = str(checkpoint)
    out["epoch"] = int(ckpt.get("epoch", 0))
    out["config"] = cfg.to_dict()
    return out
