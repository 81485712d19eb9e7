"""Report figures: CAM overlays with boxes, box accuracy / PxAP / training curves, metric table.

Every figure is a :class:`matplotlib.figure.Figure` drawn on its own Agg canvas (the object API):
nothing here imports ``matplotlib.pyplot`` or changes the user's matplotlib backend.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

__all__ = [
    "cam_grid",
    "box_acc_curves",
    "box_acc_curves_figure",
    "metrics_table_figure",
    "curve_matrix",
    "pxap_curves",
    "training_curves",
    "new_figure",
    "figure_to_array",
]

PathLike = Union[str, Path]
GT_COLOR = "#00e676"
PRED_COLOR = "#ff1744"


def new_figure(figsize: Sequence[float]) -> Figure:
    """A :class:`Figure` with an Agg canvas attached (independent of pyplot and the global backend)."""
    fig = Figure(figsize=tuple(figsize))
    FigureCanvasAgg(fig)
    return fig


def figure_to_array(fig: Figure, dpi: int = 100) -> np.ndarray:
    """Render ``fig`` to an ``(H, W, 3)`` uint8 RGB array (e.g. for TensorBoard's ``add_image``)."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _box_patch(box: Sequence[float], color: str, lw: float = 1.6) -> Rectangle:
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    return Rectangle((x0, y0), max(x1 - x0, 0.5), max(y1 - y0, 0.5), fill=False, edgecolor=color, linewidth=lw)


def cam_grid(
    examples: Sequence[Mapping[str, Any]],
    variant: str,
    path: PathLike,
    *,
    title: str = "",
    ncols: int = 4,
    class_names: Optional[Sequence[str]] = None,
    alpha: float = 0.5,
) -> Path:
    """A grid of CAM overlays for one variant: GT boxes in green, predicted box in red.

    Args:
        examples: items of :func:`wsolx.engine.evaluator.collect_examples`: ``image`` ``(S, S, 3)``
            uint8, ``cams[variant]`` ``(S, S)`` in [0, 1], ``boxes[variant]`` ``(4,)``, ``gt_boxes``
            ``(G, 4)``, ``label``, ``pred``; optional ``iou`` and ``rank`` (``best`` / ``worst``) go in
            the titles.
        variant: which variant's CAM and box to draw.
        path: PNG to write.
        title: figure title.
        ncols: images per row.
        class_names: optional names for the labels.
        alpha: CAM opacity.

    Returns:
        The written path.
    """
    if not examples:
        raise ValueError("cam_grid: no examples to draw")
    from wsolx.viz.overlay import overlay

    n = len(examples)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = new_figure((2.4 * ncols, 2.75 * nrows + (0.4 if title else 0)))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    name = (lambda k: class_names[k]) if class_names else (lambda k: str(k))
    for ax in axes.flat:
        ax.axis("off")
    for ax, ex in zip(axes.flat, examples):
        img = np.asarray(ex["image"])[None]
        width = max(1, round(img.shape[1] / 80))
        pic = overlay(
            img,
            np.asarray(ex["cams"][variant])[None],
            [np.asarray(ex["boxes"][variant]).reshape(-1, 4)],
            [np.asarray(ex["gt_boxes"]).reshape(-1, 4)],
            alpha=alpha,
            width=width,
            normalize=False,
        )
        ax.imshow(pic[0].permute(1, 2, 0).numpy(), interpolation="nearest")
        wrong = ex["pred"] != ex["label"]
        text = f"gt: {name(ex['label'])}\npred: {name(ex['pred'])}"
        if ex.get("iou") is not None:
            text += f"  IoU {float(ex['iou']):.2f}"
        if ex.get("rank"):
            text += f" ({ex['rank']})"
        ax.set_title(text, fontsize=7, color="#c62828" if wrong else "black")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def curve_matrix(curve: Any, iou_thresholds: Sequence[float]) -> np.ndarray:
    """A box-accuracy curve as a ``(len(iou_thresholds), T)`` array (percent).

    Accepts a dict keyed by IoU threshold (as float, int percent or string), a nested list
    ``(I, T)``, or a single list ``(T,)`` (then repeated for every IoU threshold).
    """
    if isinstance(curve, Mapping):
        rows = []
        for t in iou_thresholds:
            keys = [t, float(t), int(round(t * 100)), str(t), str(int(round(t * 100))), f"{t:.1f}", f"{t:.2f}"]
            for k in keys:
                if k in curve:
                    rows.append(np.asarray(curve[k], dtype=float))
                    break
            else:
                raise KeyError(f"box_acc_curve has no entry for IoU {t} (keys: {list(curve)[:6]})")
        return np.stack(rows)
    arr = np.asarray(curve, dtype=float)
    if arr.ndim == 1:
        return np.repeat(arr[None], len(iou_thresholds), axis=0)
    return arr


def box_acc_curves(
    curves: Mapping[str, Any],
    path: PathLike,
    *,
    thresholds: Sequence[float],
    iou_thresholds: Sequence[float] = (0.3, 0.5, 0.7),
    fixed_thresholds: Optional[Mapping[str, float]] = None,
    title: str = "Box accuracy vs CAM threshold",
) -> Path:
    """Box accuracy (percent) against the CAM threshold, one panel per IoU threshold, one line per variant.

    Args:
        curves: label -> ``box_acc_curve`` (any form :func:`curve_matrix` accepts).
        path: PNG to write.
        thresholds: the ``T`` CAM thresholds of the curves.
        iou_thresholds: IoU thresholds (one panel each).
        fixed_thresholds: label -> the variant's fixed operating threshold (drawn as a marker).
        title: figure title.
    """
    fig = box_acc_curves_figure(
        curves, thresholds=thresholds, iou_thresholds=iou_thresholds, fixed_thresholds=fixed_thresholds, title=title
    )
    return _save(fig, path)


def box_acc_curves_figure(
    curves: Mapping[str, Any],
    *,
    thresholds: Sequence[float],
    iou_thresholds: Sequence[float] = (0.3, 0.5, 0.7),
    fixed_thresholds: Optional[Mapping[str, float]] = None,
    title: str = "Box accuracy vs CAM threshold",
) -> Figure:
    """The :class:`Figure` of :func:`box_acc_curves` (same arguments, less ``path``)."""
    if not curves:
        raise ValueError("box_acc_curves: no curves to draw")
    th = np.asarray(thresholds, dtype=float)
    k = len(iou_thresholds)
    fig = new_figure((4.2 * k, 3.6))
    axes = fig.subplots(1, k, squeeze=False, sharey=True)
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ci, (label, curve) in enumerate(curves.items()):
        mat = curve_matrix(curve, iou_thresholds)
        color = colors[ci % len(colors)]
        style = "--" if "+" in label or "PaS" in label else "-"
        for j, ax in enumerate(axes[0]):
            y = mat[j][: len(th)]
            ax.plot(th[: len(y)], y, style, color=color, label=label, linewidth=1.5)
            if fixed_thresholds and label in fixed_thresholds:
                ft = fixed_thresholds[label]
                yi = float(np.interp(ft, th[: len(y)], y))
                ax.plot([ft], [yi], "o", color=color, markersize=5)
    for j, ax in enumerate(axes[0]):
        ax.set_title(f"IoU >= {iou_thresholds[j]:g}", fontsize=9)
        ax.set_xlabel("CAM threshold (fraction of the standard value)")
        ax.set_xlim(0, 1)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("box accuracy (%)")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def metrics_table_figure(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    path: PathLike,
    *,
    first: str = "variant",
    title: str = "",
) -> Path:
    """The metric table as a PNG (best value of each column in bold)."""
    if not rows:
        raise ValueError("metrics_table_figure: no rows")
    header = [first, *columns]
    cells: List[List[str]] = []
    best: Dict[str, float] = {}
    for c in columns:
        vals = [r.get(c) for r in rows if isinstance(r.get(c), (int, float))]
        if vals:
            best[c] = max(vals)
    for r in rows:
        line = [str(r.get(first, ""))]
        for c in columns:
            v = r.get(c)
            line.append("-" if v is None else (f"{v:.2f}" if isinstance(v, (int, float)) else str(v)))
        cells.append(line)
    fig_w = max(6.0, 1.25 * len(header) + 1.0)
    fig = new_figure((fig_w, 0.45 * (len(rows) + 1) + (0.5 if title else 0.2)))
    ax = fig.subplots()
    ax.axis("off")
    table = ax.table(cellText=cells, colLabels=header, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1.0, 1.3)
    for (i, j), cell in table.get_celld().items():
        if i == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#eceff1")
        elif j > 0:
            c = columns[j - 1]
            v = rows[i - 1].get(c)
            if isinstance(v, (int, float)) and c in best and v == best[c]:
                cell.set_text_props(weight="bold")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def pxap_curves(
    curves: Mapping[str, Mapping[str, Any]], path: PathLike, *, title: str = "Pixel precision-recall (PxAP)"
) -> Path:
    """Pixel precision against recall, one line per variant (the area under each is its PxAP).

    Args:
        curves: label -> ``pxap_curve`` of :class:`wsolx.metrics.MaskEvaluator` (``precision`` and
            ``recall`` lists over thresholds, ``None`` where undefined), optionally with ``PxAP``.
        path: PNG to write.
    """
    if not curves:
        raise ValueError("pxap_curves: no curves to draw")
    fig = new_figure((5.2, 4.0))
    ax = fig.subplots()
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ci, (label, c) in enumerate(curves.items()):
        p = np.array([np.nan if v is None else float(v) for v in c["precision"]], dtype=float)
        r = np.asarray(c["recall"], dtype=float)
        ok = np.isfinite(p) & np.isfinite(r)
        name = f"{label} ({float(c['PxAP']):.1f})" if c.get("PxAP") is not None else label
        style = "--" if "+" in label or "PaS" in label else "-"
        ax.plot(r[ok], 100.0 * p[ok], style, color=colors[ci % len(colors)], label=name, linewidth=1.5)
    ax.set_xlabel("pixel recall")
    ax.set_ylabel("pixel precision (%)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 101)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def training_curves(
    histories: Mapping[str, Sequence[Mapping[str, Any]]],
    path: PathLike,
    *,
    val_keys: Sequence[str] = ("MaxBoxAccV2", "Top-1 Cls"),
    title: str = "Training curves",
) -> Path:
    """Per-epoch training loss, training accuracy and validation metrics, one line per run.

    Args:
        histories: run label -> epoch records (``epoch``, ``train_loss``, ``train_acc`` and, on
            validated epochs, ``val_<key>`` numbers, e.g. ``val_MaxBoxAccV2``).
        path: PNG to write.
        val_keys: validation metrics to draw (one panel each, when any run has them).
    """
    if not histories or not any(histories.values()):
        raise ValueError("training_curves: no epoch records to draw")
    panels = [("train_loss", "training loss"), ("train_acc", "training accuracy (%)")]
    for k in val_keys:
        if any(f"val_{k}" in r for h in histories.values() for r in h):
            panels.append((f"val_{k}", f"validation {k} (%)"))
    fig = new_figure((3.8 * len(panels), 3.3))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ci, (label, recs) in enumerate(histories.items()):
        for ax, (key, _) in zip(axes, panels):
            pts = [(r["epoch"], r[key]) for r in recs if isinstance(r.get(key), (int, float))]
            if pts:
                x, y = zip(*pts)
                ax.plot(x, y, "o-", color=colors[ci % len(colors)], label=label, linewidth=1.4, markersize=3)
    for ax, (_, name) in zip(axes, panels):
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
