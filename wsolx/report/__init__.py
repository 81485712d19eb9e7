"""wsolx.report: the HTML report (``report.html``, PNG figures, ``metrics.json``) of an evaluation.

Importing it never changes the matplotlib backend (figures use ``matplotlib.figure.Figure`` and
their own Agg canvas).

Public API::

    overlay(images, cams, boxes, gt_boxes) -> (B, 3, H, W) uint8
    write_runs_report(runs, out_dir) / report_for_paths(paths, out_dir)   (``wsolx report``)
    load_run(path) -> RunData

    write_report(out_dir, entries, *, thresholds, ...) -> {"html": Path, "metrics": Path, ...}
    ReportEntry(label, variant, metrics, top1_cls, examples, fixed_threshold)
    figures.cam_grid / figures.box_acc_curves / figures.metrics_table_figure
"""

from wsolx.report.builder import TABLE_COLUMNS, ReportEntry, table_rows, write_report
from wsolx.report.compare import report_for_paths, write_runs_report
from wsolx.report.html import write_html_report
from wsolx.report.runs import RunData, RunError, load_run
from wsolx.viz.figures import box_acc_curves, cam_grid, metrics_table_figure
from wsolx.viz.overlay import overlay

__all__ = [
    "overlay",
    "write_runs_report",
    "report_for_paths",
    "load_run",
    "RunData",
    "RunError",
    "ReportEntry",
    "TABLE_COLUMNS",
    "table_rows",
    "write_report",
    "write_html_report",
    "cam_grid",
    "box_acc_curves",
    "metrics_table_figure",
]
