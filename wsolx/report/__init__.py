"""wsolx.report: the HTML report (``report.html``, PNG figures, ``metrics.json``) of an evaluation.

Public API::

    write_report(out_dir, entries, *, thresholds, ...) -> {"html": Path, "metrics": Path, ...}
    ReportEntry(label, variant, metrics, top1_cls, examples, fixed_threshold)
    figures.cam_grid / figures.box_acc_curves / figures.metrics_table_figure
"""

from wsolx.report.builder import TABLE_COLUMNS, ReportEntry, table_rows, write_report
from wsolx.report.figures import box_acc_curves, cam_grid, metrics_table_figure
from wsolx.report.html import write_html_report

__all__ = [
    "ReportEntry",
    "TABLE_COLUMNS",
    "table_rows",
    "write_report",
    "write_html_report",
    "cam_grid",
    "box_acc_curves",
    "metrics_table_figure",
]
