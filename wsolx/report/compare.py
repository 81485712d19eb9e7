"""``wsolx report``: one HTML report comparing one or several runs.

The page has the comparison table (every run and variant, every metric, the test accuracy at the
validation-chosen thresholds beside the oracle MaxBoxAcc / MaxBoxAccV2), the operating thresholds
(oracle and validation-chosen), box accuracy against the CAM threshold per IoU threshold, PxAP
precision-recall curves where masks exist, training curves from ``log.jsonl`` and CAM overlays of
the best and the worst localised test images, re-run through each run's checkpoint.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from wsolx.report.runs import RunData, RunError, is_val_threshold_key, load_run, unique_names, val_chosen, variant_label

__all__ = ["write_runs_report", "comparison_rows", "MAIN_COLUMNS", "report_for_paths"]

PathLike = Union[str, Path]

#: Leading columns of the comparison table (each shown when any row has it); other numbers follow.
MAIN_COLUMNS = (
    "Top-1 Cls",
    "GT-known Loc",
    "Top-1 Loc",
    "MaxBoxAcc",
    "BoxAcc @val thr",
    "MaxBoxAccV2",
    "BoxAccV2 @val thr",
    "PxAP",
)

#: Per-variant numbers that are settings or bookkeeping, not metrics.
_NOT_METRICS = {"fixed_threshold", "percentile", "num_images", "num_mask_images", "multi_box", "nwc", "epoch"}

#: Raw best-threshold keys of the evaluator, shown as ``thr ... (oracle)`` instead.
_RAW_THRESHOLDS = ("best_threshold",)


def _is_per_iou(key: str) -> bool:
    """``MaxBoxAccV2@0.5`` / ``BoxAccV2@0.5 @val thr``: per-IoU numbers (their own table)."""
    return "V2@" in key


def _is_threshold_key(key: str) -> bool:
    k = key.lower()
    return k.startswith("thr") or "threshold" in k


def _pair_key(key: str) -> Tuple[str, int, str]:
    """Sort key that puts ``BoxAccV2@0.5 @val thr`` right after ``MaxBoxAccV2@0.5``."""
    base = key[3:] if key.startswith("Max") else key
    is_val = base.endswith(" @val thr")
    return (base[: -len(" @val thr")] if is_val else base, int(is_val), key)


def comparison_rows(runs: Sequence[RunData]) -> Tuple[List[Dict[str, Any]], List[str], List[Dict[str, Any]], List[str]]:
    """The metric rows and the threshold rows of the runs.

    Every row has ``variant`` (the row label), ``run`` and ``key`` (``run/variant``) and every
    numeric metric of that variant on the test split, the derived ones of :func:`val_chosen`
    included (the trainer's validation-threshold keys appear once, under those names); numbers named
    like thresholds go to the threshold rows. Other numbers the runs' metrics files carry become
    extra columns.

    Returns:
        ``(metric_rows, metric_columns, threshold_rows, threshold_columns)``.
    """
    rows: List[Dict[str, Any]] = []
    trows: List[Dict[str, Any]] = []
    several = len(runs) > 1
    for run in runs:
        variants = run.test.get("variants") or {}
        for v, m in variants.items():
            label = variant_label(v, run.config)
            base = {"variant": f"{run.name}: {label}" if several else label, "run": run.name, "key": f"{run.name}/{v}"}
            row: Dict[str, Any] = dict(base)
            trow: Dict[str, Any] = dict(base)
            nums = {
                k: x
                for k, x in m.items()
                if isinstance(x, (int, float)) and not isinstance(x, bool) and not is_val_threshold_key(k)
            }
            if isinstance(run.test.get("Top-1 Cls"), (int, float)):
                nums.setdefault("Top-1 Cls", run.test["Top-1 Cls"])
            val_m = ((run.val or {}).get("variants") or {}).get(v)
            for k, x in val_chosen(val_m, m).items():
                nums.setdefault(k, x)
            if isinstance(m.get("fixed_threshold"), (int, float)):
                trow["fixed thr"] = float(m["fixed_threshold"])
            if isinstance(m.get("percentile"), (int, float)):
                trow["standard (percentile)"] = float(m["percentile"])
            for k, x in nums.items():
                if (
                    k in _NOT_METRICS
                    or k.startswith(_RAW_THRESHOLDS)
                    or (isinstance(x, float) and not math.isfinite(x))
                ):
                    continue
                if _is_threshold_key(k):
                    trow[k] = float(x)
                else:
                    row[k] = float(x)
            rows.append(row)
            trows.append(trow)
    meta = {"variant", "run", "key"}
    present = [c for c in MAIN_COLUMNS if any(c in r for r in rows)]
    extra = sorted({k for r in rows for k in r} - meta - set(present), key=_pair_key)
    cols = present + extra
    tcols_all = {k for r in trows for k in r} - meta
    lead = [c for c in ("fixed thr", "standard (percentile)") if c in tcols_all]
    tcols = lead + sorted(tcols_all - set(lead), key=lambda k: (k.replace(" (oracle)", "").replace(" (val)", ""), k))
    return rows, cols, trows, tcols


def _run_settings(run: RunData) -> str:
    c = run.config or {}
    d, m, o = c.get("data") or {}, c.get("model") or {}, c.get("optim") or {}
    parts = [
        f"{d.get('dataset', '?')} {d.get('image_size', '?')}px",
        f"{m.get('arch', '?')} {m.get('method', 'cam')} {str(m.get('pooling', '?')).upper()}",
        f"epochs {o.get('epochs', '?')}, lr {o.get('lr', '?')}",
    ]
    if run.best and run.best.get("epoch") is not None:
        parts.append(f"best epoch {run.best['epoch']} by val {run.best.get('metric', '')}")
    parts.append(f"test images {run.test.get('num_images', '?')}")
    src = run.source if run.source is not None else run.path
    parts.append(f"from {src}")
    return "; ".join(parts)


def _examples_for_run(
    run: RunData, k: int, scan: Optional[int], device: str, overrides: Sequence[str]
) -> Dict[str, List[Dict[str, Any]]]:
    """Best/worst overlay examples of each variant of ``run`` (re-running its checkpoint)."""
    import dataclasses

    import torch

    from wsolx.engine.builders import build_dataset
    from wsolx.engine.checkpoint import load_checkpoint
    from wsolx.engine.config import Config
    from wsolx.engine.eval_runs import load_model
    from wsolx.report.examples import best_and_worst_examples

    if run.checkpoint is None:
        raise FileNotFoundError(f"no best.pt/last.pt in {str(run.path)!r}")
    ckpt = load_checkpoint(run.checkpoint)
    cfg = Config.from_dict(ckpt["config"])
    if overrides:
        cfg = cfg.replace(overrides)
    cfg = dataclasses.replace(cfg, device=device, progress=False)
    cfg.check_paths()
    dev = torch.device(
        "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)
    )
    split = str(run.test.get("split") or cfg.data.test_split)
    ds = build_dataset(cfg, split, train=False)
    model = load_model(ckpt, cfg, dev, ds.num_classes)
    variants = [v for v in (run.test.get("variants") or {}) if v in ("base", "nwc", "pas", "nwc+pas")]
    bs = cfg.data.eval_batch_size or cfg.data.batch_size or 32
    return best_and_worst_examples(model, ds, cfg.eval, variants, k=k, limit=scan, batch_size=bs, device=dev)


def _class_names(run: RunData) -> Optional[List[str]]:
    root = (run.config.get("data") or {}).get("data_root")
    if root and (Path(root) / "synth_info.json").is_file():
        try:
            return json.loads((Path(root) / "synth_info.json").read_text()).get("class_names")
        except (json.JSONDecodeError, OSError):
            return None
    return None


def write_runs_report(
    runs: Sequence[RunData],
    out_dir: PathLike,
    *,
    title: Optional[str] = None,
    examples: int = 8,
    scan: Optional[int] = 256,
    overlays: bool = True,
    device: str = "cpu",
    overrides: Sequence[str] = (),
) -> Dict[str, Path]:
    """Write ``report.html``, ``metrics.json`` and ``figures/*.png`` comparing ``runs`` under ``out_dir``.

    Args:
        runs: the runs (see :func:`wsolx.report.runs.load_run`); names are made unique.
        out_dir: report folder (created; must not be a run folder, whose ``metrics.json`` it would replace).
        title: page title (default names the runs).
        examples: overlay images per variant: half the best localised, half the worst.
        scan: test images scanned to rank them by IoU (``None``: all).
        overlays: re-run the checkpoints for overlays (a run whose checkpoint or data is missing
            gets a note instead).
        device: where the checkpoints run.
        overrides: ``section.key=value`` changes to the stored configs (e.g. ``data.data_root=...``).

    Returns:
        ``{"html": ..., "metrics": ..., "<figure name>": ...}``.
    """
    from wsolx.engine.logging import jsonable
    from wsolx.report.builder import _slug
    from wsolx.report.html import write_html_report
    from wsolx.viz.figures import box_acc_curves, cam_grid, pxap_curves, training_curves

    runs = list(runs)
    if not runs:
        raise ValueError("write_runs_report: no runs")
    out = Path(out_dir)
    if (out / "config.json").is_file() and (out / "metrics.json").is_file():
        raise RunError(f"report folder {str(out)!r} is a run folder; choose another --out")
    unique_names(runs)
    fig_dir = out / "figures"
    rows, cols, trows, tcols = comparison_rows(runs)
    paths: Dict[str, Path] = {}
    figures: List[Tuple[str, str, str]] = []
    notes: List[str] = []

    # Box accuracy against threshold, grouped by threshold grid and IoU set.
    groups: Dict[Tuple[Tuple[float, ...], Tuple[float, ...]], Dict[str, Any]] = {}
    fixed: Dict[str, float] = {}
    for run in runs:
        ious = tuple(float(x) for x in ((run.config.get("eval") or {}).get("iou_thresholds") or (0.3, 0.5, 0.7)))
        for v, m in (run.test.get("variants") or {}).items():
            if "box_acc_curve" not in m or "thresholds" not in m:
                continue
            label = next(r["variant"] for r in rows if r["key"] == f"{run.name}/{v}")
            key = (tuple(round(float(t), 6) for t in m["thresholds"]), ious)
            groups.setdefault(key, {})[label] = m["box_acc_curve"]
            if isinstance(m.get("fixed_threshold"), (int, float)):
                fixed[label] = float(m["fixed_threshold"])
    for gi, ((th, ious), curves) in enumerate(groups.items()):
        name = "box_acc_curves" if gi == 0 else f"box_acc_curves_{gi + 1}"
        paths[name] = box_acc_curves(
            curves,
            fig_dir / f"{name}.png",
            thresholds=list(th),
            iou_thresholds=list(ious),
            fixed_thresholds={k: v for k, v in fixed.items() if k in curves},
        )
        figures.append(
            (
                "Box accuracy vs CAM threshold" + (f" ({gi + 1})" if gi else ""),
                f"figures/{name}.png",
                "Test box accuracy (all boxes, as MaxBoxAccV2) at each CAM threshold, one panel per IoU threshold; "
                "the maximum of each line is its oracle MaxBoxAccV2@IoU. Dots: each variant's fixed threshold.",
            )
        )

    pr = {}
    for run in runs:
        for v, m in (run.test.get("variants") or {}).items():
            if isinstance(m.get("pxap_curve"), Mapping):
                label = next(r["variant"] for r in rows if r["key"] == f"{run.name}/{v}")
                pr[label] = {**m["pxap_curve"], "PxAP": m.get("PxAP")}
    if pr:
        paths["pxap_curves"] = pxap_curves(pr, fig_dir / "pxap_curves.png")
        figures.append(
            (
                "PxAP: pixel precision vs recall",
                "figures/pxap_curves.png",
                "Pixel precision against recall over all CAM thresholds on the test masks; "
                "the legend gives each variant's PxAP (area under the curve).",
            )
        )

    hist = {run.name: run.history for run in runs if run.history}
    if hist:
        paths["training_curves"] = training_curves(hist, fig_dir / "training_curves.png")
        figures.append(
            (
                "Training curves",
                "figures/training_curves.png",
                "From each run's log.jsonl: training loss and accuracy per epoch, and the validation "
                "metrics of the variant that selects the checkpoint.",
            )
        )

    if overlays and examples > 0:
        k = max(1, examples // 2)
        for run in runs:
            try:
                per_variant = _examples_for_run(run, k, scan, device, overrides)
            except Exception as exc:  # noqa: BLE001 - a missing data set must not lose the report
                msg = exc.args[0] if getattr(exc, "args", None) else str(exc)
                notes.append(f"Overlays of {run.name} skipped ({type(exc).__name__}): {msg}")
                continue
            names = _class_names(run)
            for v, items in per_variant.items():
                if not items:
                    continue
                label = next(r["variant"] for r in rows if r["key"] == f"{run.name}/{v}")
                name = f"cams_{_slug(run.name)}_{_slug(v)}"
                paths[name] = cam_grid(
                    items,
                    v,
                    fig_dir / f"{name}.png",
                    ncols=min(k, 4) if len(items) > k else 4,
                    title=f"{label}: GT boxes (green), predicted box (red)",
                    class_names=names,
                )
                n_best = sum(1 for it in items if it.get("rank") == "best")
                figures.append(
                    (
                        f"CAM overlays: {label}",
                        f"figures/{name}.png",
                        f"Checkpoint {run.checkpoint}: the {n_best} best then the {len(items) - n_best} worst localised "
                        f"of the scanned test images (IoU of the predicted box at the fixed threshold in each title).",
                    )
                )

    notes = [
        "Oracle columns (MaxBoxAcc, MaxBoxAccV2) pick the best CAM threshold on the test split itself; "
        "'@val thr' columns are the test accuracy at the threshold that was best on the validation split "
        "(the operating point a deployment would use).",
        "GT-known Loc / Top-1 Loc: IoU >= 0.5 at each variant's fixed threshold.",
        *notes,
    ]
    settings = {run.name: _run_settings(run) for run in runs}
    metrics = {
        "table": [{k: v for k, v in r.items() if k != "key"} for r in rows],
        "thresholds": [{k: v for k, v in r.items() if k != "key"} for r in trows],
        "runs": {
            run.name: {
                "path": str(run.path),
                "source": str(run.source) if run.source else None,
                "checkpoint": str(run.checkpoint) if run.checkpoint else None,
                "best": run.best,
            }
            for run in runs
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    paths["metrics"] = out / "metrics.json"
    paths["metrics"].write_text(json.dumps(jsonable(metrics), indent=2) + "\n")
    page_rows = [{k: v for k, v in r.items() if k not in ("run", "key")} for r in rows]
    page_trows = [{k: v for k, v in r.items() if k not in ("run", "key")} for r in trows]
    tables: List[Tuple[Any, ...]] = []
    iou_cols = [c for c in cols if _is_per_iou(c)]
    if iou_cols:
        tables.append(
            (
                "MaxBoxAccV2 per IoU threshold",
                page_rows,
                iou_cols,
                "Oracle accuracy (best threshold on test) and, where the run has validation curves, the test "
                "accuracy at the validation-chosen threshold, for each IoU threshold of MaxBoxAccV2.",
                True,
            )
        )
    if tcols:
        tables.append(
            (
                "Operating thresholds",
                page_trows,
                tcols,
                "CAM thresholds (fraction of the standard value: the map's maximum, or its percentile with "
                "PaS): fixed, oracle (best on test) and validation-chosen, per IoU threshold.",
            )
        )
    paths["html"] = write_html_report(
        out / "report.html",
        title=title or ("wsolx report: " + ", ".join(r.name for r in runs)),
        rows=page_rows,
        columns=[c for c in cols if not _is_per_iou(c)],
        figures=figures,
        notes=notes,
        settings=settings,
        tables=tables,
    )
    return paths


def report_for_paths(paths: Sequence[PathLike], out_dir: PathLike, **kw: Any) -> Dict[str, Path]:
    """:func:`write_runs_report` of the runs at ``paths`` (folders or ``eval_*.json`` files)."""
    return write_runs_report([load_run(p) for p in paths], out_dir, **kw)
