"""Assemble a report folder: figures, ``report.html`` and ``metrics.json`` from evaluated variants.

Each :class:`ReportEntry` is one row of the comparison (e.g. ``CAM``, ``CAM+NWC+PaS``, ``TAP``,
``TAP+NWC+PaS``): its metrics dict (from :func:`wsolx.engine.evaluate`), its model's Top-1 Cls and
a few overlay examples (from :func:`wsolx.engine.evaluator.collect_examples`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from wsolx.report.html import write_html_report
from wsolx.viz.figures import box_acc_curves, cam_grid, metrics_table_figure

__all__ = ["ReportEntry", "TABLE_COLUMNS", "table_rows", "write_report"]

PathLike = Union[str, Path]

#: Columns of the metrics table, in order; a column no entry has is left out.
#: ``BoxAcc@val_thr`` / ``BoxAccV2@val_thr``: test accuracy at the thresholds chosen on the validation
#: split (:mod:`wsolx.metrics.val_threshold`), beside the oracle MaxBoxAcc / MaxBoxAccV2.
TABLE_COLUMNS = (
    "Top-1 Cls",
    "GT-known Loc",
    "Top-1 Loc",
    "MaxBoxAcc",
    "BoxAcc@val_thr",
    "MaxBoxAccV2",
    "BoxAccV2@val_thr",
    "PxAP",
)


@dataclass
class ReportEntry:
    """One evaluated variant.

    Attributes:
        label: row name (``"TAP+NWC+PaS"``).
        variant: the variant key whose CAMs and boxes are in ``examples`` (``"nwc+pas"``).
        metrics: metric name -> value for this variant (``MaxBoxAccV2``, ``box_acc_curve``, ...).
        top1_cls: classification accuracy of the entry's model (percent).
        examples: overlay examples (may be empty: then no overlay figure is drawn).
        fixed_threshold: the variant's fixed CAM threshold (marked on the curves).
    """

    label: str
    variant: str
    metrics: Dict[str, Any]
    top1_cls: Optional[float] = None
    examples: Sequence[Mapping[str, Any]] = field(default_factory=list)
    fixed_threshold: Optional[float] = None


def table_rows(entries: Sequence[ReportEntry], columns: Sequence[str] = TABLE_COLUMNS) -> List[Dict[str, Any]]:
    """One dict per entry: ``variant`` (its label) and the numeric value of each column present."""
    rows = []
    for e in entries:
        row: Dict[str, Any] = {"variant": e.label}
        for c in columns:
            v = e.top1_cls if c == "Top-1 Cls" and e.top1_cls is not None else e.metrics.get(c)
            if isinstance(v, (int, float)):
                row[c] = float(v)
        rows.append(row)
    return rows


def _slug(label: str) -> str:
    return "".join(ch.lower() if ch.isalnum() else "_" for ch in label).strip("_")


def write_report(
    out_dir: PathLike,
    entries: Sequence[ReportEntry],
    *,
    thresholds: Sequence[float],
    iou_thresholds: Sequence[float] = (0.3, 0.5, 0.7),
    title: str = "wsolx report",
    intro: str = "",
    notes: Sequence[str] = (),
    settings: Optional[Mapping[str, Any]] = None,
    extra: Optional[Mapping[str, Any]] = None,
    class_names: Optional[Sequence[str]] = None,
) -> Dict[str, Path]:
    """Write ``report.html``, ``metrics.json`` and ``figures/*.png`` under ``out_dir``.

    Args:
        out_dir: report folder (created).
        entries: the rows of the comparison.
        thresholds: CAM thresholds of the ``box_acc_curve`` of each entry.
        iou_thresholds: IoU thresholds of the curves.
        title / intro / notes / settings: page text (see :func:`write_html_report`).
        extra: more JSON-serialisable sections for ``metrics.json`` (e.g. training histories).
        class_names: label names for the overlay titles.

    Returns:
        ``{"html": ..., "metrics": ..., "<figure name>": ...}`` paths.
    """
    if not entries:
        raise ValueError("write_report: no entries")
    out = Path(out_dir)
    fig_dir = out / "figures"
    columns = [c for c in TABLE_COLUMNS if any(c in r for r in table_rows(entries))]
    rows = table_rows(entries, columns)
    paths: Dict[str, Path] = {}
    figures = []

    paths["table"] = metrics_table_figure(rows, columns, fig_dir / "metrics_table.png", title="Test metrics (%)")
    figures.append(("Metrics table", "figures/metrics_table.png", "The table above as an image."))

    curves = {e.label: e.metrics["box_acc_curve"] for e in entries if "box_acc_curve" in e.metrics}
    if curves:
        fixed = {e.label: e.fixed_threshold for e in entries if e.fixed_threshold is not None}
        paths["curves"] = box_acc_curves(
            curves,
            fig_dir / "box_acc_curves.png",
            thresholds=thresholds,
            iou_thresholds=iou_thresholds,
            fixed_thresholds=fixed,
        )
        figures.append(
            (
                "Box accuracy vs threshold",
                "figures/box_acc_curves.png",
                "Box accuracy (multi-box, as in MaxBoxAccV2) at each CAM threshold, one panel per IoU threshold. "
                "Without PaS the threshold is a fraction of the map's maximum, with PaS of its 90th percentile; "
                "dots mark each variant's fixed operating threshold.",
            )
        )
    for e in entries:
        if not e.examples:
            continue
        name = f"cams_{_slug(e.label)}"
        paths[name] = cam_grid(
            e.examples,
            e.variant,
            fig_dir / f"{name}.png",
            title=f"{e.label}: GT boxes (green), predicted box (red)",
            class_names=class_names,
        )
        thr = f" at threshold {e.fixed_threshold:g}" if e.fixed_threshold is not None else ""
        figures.append(
            (
                f"CAM overlays: {e.label}",
                f"figures/{name}.png",
                f"Test images; the red box is the largest component{thr}.",
            )
        )

    metrics = {
        "table": rows,
        "variants": {e.label: {"variant": e.variant, "Top-1 Cls": e.top1_cls, **e.metrics} for e in entries},
        **(dict(extra) if extra else {}),
    }
    from wsolx.engine.logging import jsonable

    paths["metrics"] = out / "metrics.json"
    out.mkdir(parents=True, exist_ok=True)
    paths["metrics"].write_text(json.dumps(jsonable(metrics), indent=2) + "\n")
    paths["html"] = write_html_report(
        out / "report.html",
        title=title,
        rows=rows,
        columns=columns,
        figures=figures,
        intro=intro,
        notes=notes,
        settings=settings,
    )
    return paths
