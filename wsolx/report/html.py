"""A single static HTML page (``report.html``) linking the PNG figures next to it."""

from __future__ import annotations

import datetime as _dt
import html
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

__all__ = ["Figure", "write_html_report", "html_table"]

PathLike = Union[str, Path]

#: ``(heading, relative PNG path, caption)``.
Figure = Tuple[str, str, str]

_CSS = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #212121; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 1.8em;
     border-bottom: 1px solid #e0e0e0; padding-bottom: 0.2em; }
.meta { color: #616161; font-size: 0.9em; }
table.metrics { border-collapse: collapse; font-size: 0.9em; margin: 1em 0; }
table.metrics th, table.metrics td { border: 1px solid #cfd8dc; padding: 0.35em 0.7em; text-align: right; }
table.metrics th { background: #eceff1; } table.metrics td:first-child, table.metrics th:first-child { text-align: left; }
table.metrics td.best { font-weight: bold; background: #e8f5e9; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #616161; font-size: 0.88em; }
div.scroll { overflow-x: auto; max-width: 100%; }
pre { background: #fafafa; border: 1px solid #eee; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
"""


def html_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, first: str = "variant", highlight: bool = True
) -> str:
    """An HTML ``<table>`` of the rows; the best (largest) number of each column is highlighted
    (unless ``highlight`` is false, e.g. for thresholds)."""
    best: Dict[str, float] = {}
    for c in columns if highlight else ():
        vals = [r[c] for r in rows if isinstance(r.get(c), (int, float))]
        if vals:
            best[c] = max(vals)
    out = [
        '<table class="metrics">',
        "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in (first, *columns)) + "</tr>",
    ]
    for r in rows:
        tds = [f"<td>{html.escape(str(r.get(first, '')))}</td>"]
        for c in columns:
            v = r.get(c)
            if isinstance(v, (int, float)):
                cls = ' class="best"' if c in best and v == best[c] and len(rows) > 1 else ""
                tds.append(f"<td{cls}>{v:.2f}</td>")
            else:
                tds.append(f"<td>{html.escape('-' if v is None else str(v))}</td>")
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def write_html_report(
    path: PathLike,
    *,
    title: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    figures: Sequence[Figure] = (),
    intro: str = "",
    notes: Sequence[str] = (),
    settings: Optional[Mapping[str, Any]] = None,
    metrics_file: str = "metrics.json",
    tables: Sequence[Tuple[Any, ...]] = (),
) -> Path:
    """Write ``report.html``.

    Args:
        path: the HTML file to write (figures are referenced relative to its folder).
        title: page title.
        rows / columns: the metrics table (``rows[i]["variant"]`` names the row).
        figures: ``(heading, relative PNG path, caption)`` in display order.
        intro: a paragraph under the title (plain text, escaped).
        notes: bullet points after the table (plain text, escaped).
        settings: key/value pairs shown as a small settings table (run configuration).
        metrics_file: relative link to the full metrics JSON.
        tables: more tables after the notes: ``(heading, rows, columns, caption)`` (no highlighting)
            or ``(heading, rows, columns, caption, highlight)``.

    Returns:
        The written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">Generated {stamp} by wsolx. Full numbers: <a href="{html.escape(metrics_file)}">'
        f"{html.escape(metrics_file)}</a>.</p>",
    ]
    if intro:
        parts.append(f"<p>{html.escape(intro)}</p>")
    parts.append("<h2>Metrics</h2>")
    parts.append('<div class="scroll">' + html_table(rows, columns) + "</div>")
    if notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    for heading, t_rows, t_cols, caption, *rest in tables:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if caption:
            parts.append(f'<p class="meta">{html.escape(caption)}</p>')
        parts.append('<div class="scroll">' + html_table(t_rows, t_cols, highlight=bool(rest and rest[0])) + "</div>")
    for heading, rel, caption in figures:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(
            f'<figure><img src="{html.escape(rel)}" alt="{html.escape(heading)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    if settings:
        parts.append("<h2>Settings</h2>")
        parts.append(
            '<table class="metrics">'
            + "".join(
                f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in settings.items()
            )
            + "</table>"
        )
    parts.append("</body></html>")
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path
