"""``wsolx demo``: synthetic data -> two short CPU trainings -> CAM vs TAP+NWC+PaS -> HTML report.

Steps (all under ``out_dir``)::

    data/                     the synthetic set (SYNTH boxes + SYNTH_MASK masks), reused when present
    runs/cam/, runs/tap/      two trainings of the tiny arch: GAP ("CAM" baseline) and TAP
    report.html, metrics.json, figures/*.png

The four variants compared on the test split are CAM, CAM+NWC+PaS, TAP and TAP+NWC+PaS, with the
fixed-threshold accuracies (0.2 on the max without PaS, 0.35 on the 90th percentile with PaS),
MaxBoxAcc, MaxBoxAccV2 and PxAP on the mask variant.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from wsolx.engine.builders import build_dataset
from wsolx.engine.config import Config, ConfigError, DataConfig, EvalConfig, ModelConfig, OptimConfig
from wsolx.engine.evaluator import collect_examples, variant_settings
from wsolx.engine.logging import RunLogger, format_table
from wsolx.engine.trainer import Trainer
from wsolx.models.defaults import default_tap_theta
from wsolx.report.builder import TABLE_COLUMNS

__all__ = ["DemoSettings", "run_demo", "demo_configs", "DEMO_COLUMNS"]

#: Columns of the demo's table: the report's.
DEMO_COLUMNS = TABLE_COLUMNS


@dataclass
class DemoSettings:
    """Sizes of the demo (defaults: a few minutes on 2 CPU cores; validation every ``epochs // 4`` epochs).

    Attributes:
        out_dir: output folder.
        epochs: training epochs of each model.
        image_size: network input side (the synthetic images are generated at this size).
        num_classes: synthetic classes.
        train_per_class / val_per_class / test_per_class: images per class and split.
        batch_size: training batch.
        lr: base learning rate (new layers at 10x; the tiny arch has no pretrained trunk).
        lr_step: epochs between learning-rate decays.
        arch: backbone (``vgg_tiny``).
        examples: test images in the overlay grids.
        seed: seed of the data and the trainings.
        device: ``cpu`` (default), ``cuda`` or ``auto``.
        workers: DataLoader workers.
        progress: tqdm bars.
    """

    out_dir: str = "wsolx_demo"
    epochs: int = 12
    image_size: int = 64
    num_classes: int = 8
    train_per_class: int = 60
    val_per_class: int = 5
    test_per_class: int = 15
    batch_size: int = 32
    lr: float = 0.01
    lr_step: int = 0
    arch: str = "vgg_tiny"
    examples: int = 8
    seed: int = 0
    device: str = "cpu"
    workers: int = 0
    progress: bool = True

    @classmethod
    def quick(cls, **overrides: Any) -> "DemoSettings":
        """CI smoke sizes (about a minute): fewer images and epochs, smaller inputs."""
        base = dict(
            epochs=3,
            image_size=48,
            num_classes=4,
            train_per_class=24,
            val_per_class=3,
            test_per_class=5,
            batch_size=16,
            examples=4,
        )
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)

    def validate(self) -> "DemoSettings":
        for name in (
            "epochs",
            "image_size",
            "num_classes",
            "train_per_class",
            "val_per_class",
            "test_per_class",
            "batch_size",
            "examples",
        ):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"demo: {name} must be a positive integer, got {v!r}")
        if self.image_size < 32:
            raise ConfigError(f"demo: image_size must be at least 32, got {self.image_size}")
        if not (self.lr > 0):
            raise ConfigError(f"demo: lr must be positive, got {self.lr}")
        if self.lr_step < 0:
            raise ConfigError(f"demo: lr_step must be >= 0, got {self.lr_step}")
        return self


def demo_configs(s: DemoSettings) -> Dict[str, Config]:
    """The two training configs: ``cam`` (GAP) and ``tap`` (TAP, the default theta of ``wsolx.models.DEFAULTS``)."""
    out = Path(s.out_dir)
    data = DataConfig(
        dataset="SYNTH",
        data_root=str(out / "data"),
        image_size=s.image_size,
        crop_size=s.image_size,
        resize_size=int(round(s.image_size * 256 / 224)),
        mask_dataset="SYNTH_MASK",
        batch_size=s.batch_size,
        eval_batch_size=max(s.batch_size, 50),
        num_workers=s.workers,
    )
    optim = OptimConfig(lr=s.lr, weight_decay=1e-4, epochs=s.epochs, lr_step=s.lr_step)
    ev = EvalConfig(variants=["base", "nwc+pas"], select_metric="MaxBoxAccV2", select_variant="base")
    cfgs = {}
    for name, pooling in (("cam", "gap"), ("tap", "tap")):
        cfgs[name] = Config(
            data=data,
            model=ModelConfig(arch=s.arch, method="cam", pooling=pooling),
            optim=optim,
            eval=ev,
            out_dir=str(out / "runs" / name),
            seed=s.seed,
            device=s.device,
            eval_every=max(1, s.epochs // 4),
            progress=s.progress,
        )
    return cfgs


def _ensure_data(s: DemoSettings, logger: RunLogger) -> Path:
    """Generate the synthetic set unless ``out/data`` already holds one with the same parameters."""
    from wsolx.data.synthetic import generate

    root = Path(s.out_dir) / "data"
    want = {
        "num_classes": s.num_classes,
        "per_class": {"train": s.train_per_class, "val": s.val_per_class, "test": s.test_per_class},
        "image_size": s.image_size,
        "seed": s.seed,
        "masks": True,
    }
    info_path = root / "synth_info.json"
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        if all(info.get(k) == v for k, v in want.items()):
            logger.info(f"demo: reusing the synthetic set in {root}")
            return root
    logger.info(f"demo: generating the synthetic set in {root}")
    generate(
        root,
        num_classes=s.num_classes,
        train_per_class=s.train_per_class,
        val_per_class=s.val_per_class,
        test_per_class=s.test_per_class,
        image_size=s.image_size,
        seed=s.seed,
        masks=True,
        progress=s.progress,
    )
    return root


def _example_indices(labels: List[int], n: int) -> List[int]:
    """``n`` indices cycling over the classes (first image of each class, then the second, ...)."""
    by_class: Dict[int, List[int]] = {}
    for i, lab in enumerate(labels):
        by_class.setdefault(lab, []).append(i)
    order: List[int] = []
    depth = 0
    while len(order) < n and any(depth < len(v) for v in by_class.values()):
        for lab in sorted(by_class):
            if depth < len(by_class[lab]) and len(order) < n:
                order.append(by_class[lab][depth])
        depth += 1
    return order


def run_demo(settings: Optional[DemoSettings] = None) -> Dict[str, Any]:
    """Run the whole demo and write the report; returns the metrics (also in ``metrics.json``).

    Returns:
        ``{"rows": table rows, "table": printed table, "report": path of report.html,
        "runtime_s": seconds, "runs": {name: {"best": ..., "test": ...}}}``.
    """
    from wsolx.report.builder import ReportEntry, table_rows, write_report

    s = (settings or DemoSettings()).validate()
    t_start = time.time()
    out = Path(s.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    logger = RunLogger(out / "demo_log.jsonl")
    torch.manual_seed(s.seed)
    _ensure_data(s, logger)
    t_data = time.time() - t_start

    cfgs = demo_configs(s)
    labels = {"cam": "CAM", "tap": "TAP"}
    suffix = {"base": "", "nwc+pas": "+NWC+PaS"}
    entries: List[ReportEntry] = []
    runs: Dict[str, Any] = {}
    test_set = None
    indices: List[int] = []
    for name, cfg in cfgs.items():
        logger.info(
            f"demo: training {labels[name]} ({cfg.model.arch}, {cfg.model.pooling.upper()} pooling, "
            f"{cfg.optim.epochs} epochs, {s.image_size}px)"
        )
        t0 = time.time()
        trainer = Trainer(cfg)
        result = trainer.fit()
        t_train = time.time() - t0
        test = result.test
        assert test is not None
        runs[name] = {"best": result.best, "history": result.history, "test": test, "seconds": round(t_train, 1)}
        if test_set is None:
            test_set = build_dataset(cfg, cfg.data.test_split, train=False)
            indices = _example_indices(test_set.labels, s.examples)
        examples = collect_examples(
            trainer.model, test_set, indices, cfg.eval, variants=cfg.eval.variants, device=trainer.device
        )
        for v in cfg.eval.variants:
            _, _, thr = variant_settings(v, cfg.eval)
            entries.append(
                ReportEntry(
                    label=labels[name] + suffix[v],
                    variant=v,
                    metrics=test["variants"][v],
                    top1_cls=test.get("Top-1 Cls"),
                    examples=examples,
                    fixed_threshold=thr,
                )
            )
    # Table order of the paper: CAM, CAM+NWC+PaS, TAP, TAP+NWC+PaS.
    rows = table_rows(entries, DEMO_COLUMNS)
    table = format_table(rows, [c for c in DEMO_COLUMNS if any(c in r for r in rows)])
    ev = cfgs["cam"].eval
    runtime = time.time() - t_start
    names = json.loads((out / "data" / "synth_info.json").read_text()).get("class_names")
    settings_view = {
        **dataclasses.asdict(s),
        "data_seconds": round(t_data, 1),
        "train_seconds": {k: v["seconds"] for k, v in runs.items()},
        "total_seconds": round(runtime, 1),
    }
    paths = write_report(
        out,
        entries,
        thresholds=np.arange(0.0, 1.0, ev.cam_curve_interval).tolist(),
        iou_thresholds=ev.iou_thresholds,
        title="wsolx demo: CAM vs TAP + NWC + PaS on the synthetic set",
        intro=(
            f"Two {s.arch} models were trained for {s.epochs} epochs on {s.num_classes} synthetic classes "
            f"({s.train_per_class} training images each, {s.image_size}x{s.image_size}) on {cfgs['cam'].device}: "
            "one with global average pooling (the CAM baseline) and one with Thresholded Average Pooling (TAP, "
            f"theta {default_tap_theta(s.arch):g}). Each is evaluated on the test split with plain CAMs and with Negative Weight Clamping "
            "plus Percentile as a Standard (NWC+PaS). As in the protocol, the last checkpoint of each model is "
            "tested (eval.cam_curve_interval and test_checkpoint follow the protocol defaults)."
        ),
        notes=[
            f"GT-known Loc / Top-1 Loc: IoU >= 0.5 at a fixed threshold: {ev.fixed_threshold:g} of the maximum "
            f"without PaS, {ev.pas_threshold:g} of the {ev.pas_percentile:g}th percentile with PaS.",
            "MaxBoxAcc: best threshold, largest box, IoU 0.5. MaxBoxAccV2: best threshold per IoU in {0.3, 0.5, 0.7}, "
            "all boxes, averaged. Both pick the best threshold on the test split itself (an oracle); "
            "BoxAcc@val_thr / BoxAccV2@val_thr report the test accuracy at the threshold chosen on the val "
            "split (first maximum of the val curve).",
            "PxAP: pixel average precision on the mask variant (SYNTH_MASK) of the same test images.",
            f"Total run time {runtime / 60:.1f} min on {torch.get_num_threads()} CPU thread(s).",
        ],
        settings=settings_view,
        extra={
            "runs": {k: {kk: vv for kk, vv in v.items() if kk != "test"} for k, v in runs.items()},
            "settings": settings_view,
        },
        class_names=names,
    )
    runtime = time.time() - t_start
    logger.log("demo", rows=rows, runtime_s=round(runtime, 1), report=str(paths["html"]))
    return {
        "rows": rows,
        "table": table,
        "report": paths["html"],
        "metrics": paths["metrics"],
        "runtime_s": runtime,
        "runs": runs,
    }
