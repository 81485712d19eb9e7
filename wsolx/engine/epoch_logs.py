"""Per-epoch logs of ``wsolx train --log csv,tensorboard``: ``summary.csv`` and TensorBoard events.

``summary.csv`` has one row per epoch (``epoch``, ``train_loss``, ``train_acc``, ``lr``,
``epoch_time``, and on validated epochs ``val_score``, ``val_Top-1 Cls`` and
``val_<variant>_<metric>``). It is rewritten whole through a temporary file and ``os.replace``
after every epoch, and a resumed run first drops the rows after its checkpoint's epoch, so an
interrupted and resumed run still has exactly one row per epoch.

TensorBoard (optional extra ``wsolx[tensorboard]``) gets the same scalars (``train/loss``,
``val/<variant>/<metric>``, ...), the validation box-accuracy curves as an image every validated
epoch and a grid of CAM overlays (:func:`wsolx.viz.overlay.overlay`) every ``log_images_every``
validated epochs. A resumed run opens its writer with ``purge_step`` so events of the epochs
after the checkpoint are discarded.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from wsolx.engine.config import ConfigError

__all__ = ["CSVSummary", "TensorBoardLog", "EpochLogs", "flatten_epoch", "read_summary"]

#: Per-variant numbers that are settings, not metrics (left out of the logs).
_SKIP = {"fixed_threshold", "percentile", "num_images", "num_mask_images", "multi_box", "nwc"}


def flatten_epoch(rec: Mapping[str, Any]) -> Dict[str, float]:
    """One trainer epoch record as flat numbers: training values, ``val_score``, ``val_Top-1 Cls`` and
    ``val_<variant>_<metric>`` (curves and settings left out)."""
    out: Dict[str, float] = {}
    for k, v in rec.items():
        if k != "val" and isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = v
    val = rec.get("val")
    if isinstance(val, Mapping):
        if isinstance(val.get("Top-1 Cls"), (int, float)):
            out["val_Top-1 Cls"] = val["Top-1 Cls"]
        for variant, m in (val.get("variants") or {}).items():
            for k, x in m.items():
                if k in _SKIP or isinstance(x, bool) or not isinstance(x, (int, float)):
                    continue
                out[f"val_{variant}_{k}"] = x
    return out


def read_summary(path: os.PathLike) -> List[Dict[str, str]]:
    """Rows of a ``summary.csv`` (strings, as written)."""
    p = Path(path)
    if not p.is_file():
        return []
    with p.open(newline="") as f:
        return list(csv.DictReader(f))


class CSVSummary:
    """``summary.csv``: one row per epoch, rewritten atomically after each epoch.

    Args:
        path: the CSV file.
        start_epoch: epochs already done (a resumed run): rows of later epochs are dropped.
    """

    def __init__(self, path: os.PathLike, start_epoch: int = 0) -> None:
        self.path = Path(path)
        rows = read_summary(self.path) if start_epoch > 0 else []
        self.rows: Dict[int, Dict[str, Any]] = {}
        for r in rows:
            try:
                e = int(float(r.get("epoch", "")))
            except ValueError:
                continue
            if e <= start_epoch:
                self.rows[e] = r
        self._write()

    def log(self, rec: Mapping[str, Any]) -> None:
        """Add (or replace) the row of ``rec["epoch"]`` and rewrite the file."""
        flat = flatten_epoch(rec)
        self.rows[int(flat["epoch"])] = flat
        self._write()

    def _write(self) -> None:
        cols: List[str] = ["epoch"]
        for r in self.rows.values():
            for k in r:
                if k not in cols and k != "time":
                    cols.append(k)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            for e in sorted(self.rows):
                w.writerow({k: _cell(v) for k, v in self.rows[e].items()})
        os.replace(tmp, self.path)


def _cell(v: Any) -> Any:
    if isinstance(v, float):
        return "" if not math.isfinite(v) else repr(round(v, 6))
    return v


class TensorBoardLog:
    """Scalars, validation box-accuracy curves and CAM overlay grids in TensorBoard event files.

    Args:
        log_dir: the event folder.
        start_epoch: epochs already done; a resumed writer purges the events of later epochs.
        images_every: validated epochs between overlay grids (0: none).
        epochs: total epochs (the last epoch always gets a grid when ``images_every`` > 0).
    """

    def __init__(self, log_dir: os.PathLike, start_epoch: int = 0, images_every: int = 5, epochs: int = 0) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "loggers: 'tensorboard' needs the tensorboard package (pip install 'wsolx[tensorboard]')"
            ) from None
        self.writer = SummaryWriter(str(log_dir), purge_step=start_epoch + 1 if start_epoch > 0 else None)
        self.images_every = int(images_every)
        self.epochs = int(epochs)

    def log(
        self,
        rec: Mapping[str, Any],
        val: Optional[Mapping[str, Any]] = None,
        overlays: Optional[Callable[[], Any]] = None,
    ) -> None:
        """Write one epoch: scalars of ``rec``; with ``val`` the box-accuracy figure and, every
        ``images_every`` epochs, the ``(B, 3, H, W)`` uint8 grid that ``overlays()`` returns."""
        step = int(rec["epoch"])
        w = self.writer
        names = {
            "train_loss": "train/loss",
            "train_acc": "train/acc",
            "lr": "train/lr",
            "epoch_time": "train/epoch_time",
        }
        for k, v in flatten_epoch(rec).items():
            if k == "epoch":
                continue
            if k in names:
                tag = names[k]
            elif k.startswith("val_"):
                tag = _val_tag(k[4:], val)
            else:
                tag = k
            w.add_scalar(tag, float(v), step)
        if val is not None:
            img = _curve_image(val)
            if img is not None:
                w.add_image("val/box_acc_curve", img, step, dataformats="HWC")
            due = self.images_every > 0 and (step % self.images_every == 0 or step == self.epochs)
            if overlays is not None and due:
                from torchvision.utils import make_grid

                grid = overlays()
                if grid is not None and len(grid):
                    w.add_image("val/cam_overlays", make_grid(grid, nrow=min(8, len(grid)), padding=2), step)
        w.flush()

    def close(self) -> None:
        self.writer.close()


def _val_tag(key: str, val: Optional[Mapping[str, Any]]) -> str:
    """``nwc+pas_MaxBoxAccV2`` -> ``val/nwc+pas/MaxBoxAccV2``."""
    for v in sorted((val or {}).get("variants") or {}, key=len, reverse=True):
        if key.startswith(v + "_"):
            return f"val/{v}/{key[len(v) + 1 :]}"
    return f"val/{key}"


def _curve_image(val: Mapping[str, Any]) -> Any:
    """The validation box-accuracy curves as an ``(H, W, 3)`` uint8 array (None without curves)."""
    from wsolx.viz.figures import box_acc_curves_figure, figure_to_array

    curves, th, ious = {}, None, None
    for v, m in (val.get("variants") or {}).items():
        if "box_acc_curve" in m and "thresholds" in m:
            curves[v] = m["box_acc_curve"]
            th = m["thresholds"]
            ious = [float(k) for k in m["box_acc_curve"]]
    if not curves:
        return None
    fig = box_acc_curves_figure(curves, thresholds=th, iou_thresholds=ious, title="Validation box accuracy")
    return figure_to_array(fig, dpi=72)


class EpochLogs:
    """The loggers a run asked for (``cfg.loggers``), written by the main process after each epoch.

    Args:
        names: any of ``csv`` and ``tensorboard``.
        out_dir: the run folder (``summary.csv``, ``tensorboard/``).
        start_epoch: epochs already done (resume).
        images_every / epochs: see :class:`TensorBoardLog`.
    """

    def __init__(
        self, names: Sequence[str], out_dir: os.PathLike, start_epoch: int = 0, images_every: int = 5, epochs: int = 0
    ) -> None:
        out = Path(out_dir)
        self.csv = CSVSummary(out / "summary.csv", start_epoch) if "csv" in names else None
        self.tb = (
            TensorBoardLog(out / "tensorboard", start_epoch, images_every, epochs) if "tensorboard" in names else None
        )

    def log(
        self,
        rec: Mapping[str, Any],
        val: Optional[Mapping[str, Any]] = None,
        overlays: Optional[Callable[[], Any]] = None,
    ) -> None:
        if self.csv is not None:
            self.csv.log(rec)
        if self.tb is not None:
            self.tb.log(rec, val, overlays)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
