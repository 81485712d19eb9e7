"""Run logs: a JSON-lines file plus console lines that do not break tqdm bars.

Only the main process writes; other ranks get a silent logger. Each record is one JSON object per
line with at least ``event`` and ``time`` (seconds since the epoch), e.g.::

    {"event": "epoch", "epoch": 1, "train_loss": 2.1, "train_acc": 31.0, "lr": 0.01, ...}
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Union

from tqdm.auto import tqdm

__all__ = ["RunLogger", "read_jsonl", "format_table", "jsonable"]


def jsonable(v: Any) -> Any:
    """``v`` with mappings, sequences, numpy / torch values converted to plain JSON types and
    non-finite floats to ``None`` (so ``json.dumps`` writes valid JSON)."""
    if isinstance(v, Mapping):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if hasattr(v, "tolist"):  # numpy / torch scalars and arrays
        return jsonable(v.tolist())
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class RunLogger:
    """Appends records to ``<path>`` and echoes short lines to the console.

    Args:
        path: JSON-lines file (created with its parents); ``None`` writes no file.
        enabled: ``False`` on non-main ranks: nothing is written or printed.
        echo: print :meth:`info` lines.
    """

    def __init__(self, path: Optional[Union[str, Path]], enabled: bool = True, echo: bool = True) -> None:
        self.enabled = enabled
        self.echo = echo
        self.path = Path(path) if path is not None else None
        if self.enabled and self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, event: str, **fields: Any) -> Dict[str, Any]:
        """Append one record ``{"event": event, "time": now, **fields}``; returns it."""
        rec = {"event": event, "time": round(time.time(), 3), **jsonable(fields)}
        if self.enabled and self.path is not None:
            try:
                with self.path.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
            except OSError as exc:  # name the file (a full disk gives no file name by itself)
                from wsolx.errors import disk_write_error

                raise disk_write_error(exc, self.path) from None
        return rec

    def info(self, msg: str) -> None:
        """Print ``msg`` above any live progress bar (main process only)."""
        if self.enabled and self.echo:
            tqdm.write(msg)


def read_jsonl(path: Union[str, Path]) -> list:
    """All records of a JSON-lines log."""
    with Path(path).open() as f:
        return [json.loads(line) for line in f if line.strip()]


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], first: str = "variant") -> str:
    """A fixed-width text table: one row per mapping, ``first`` then ``columns``; numbers as ``%.2f``."""
    header = [first, *columns]
    body = []
    for r in rows:
        cells = [str(r.get(first, ""))]
        for c in columns:
            v = r.get(c)
            cells.append("-" if v is None else (f"{v:.2f}" if isinstance(v, (int, float)) else str(v)))
        body.append(cells)
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep, *(line(b) for b in body)])
