"""Runs on disk, as the report reads them: ``wsolx train --out`` folders and ``wsolx eval`` JSON files.

A :class:`RunData` holds what one run left behind: its config, the test metrics (``metrics.json``
``test`` section, or an ``eval_<split>.json``), the validation metrics of the selected epoch
(``metrics.json`` ``val``), the per-epoch history of ``log.jsonl`` and the checkpoint to re-run
for overlays. :func:`val_chosen` gives the threshold a practitioner would pick on the validation
split and the test accuracy at it (as the run recorded them, or from the two splits' curves), next
to the oracle (best-on-test) MaxBoxAcc / MaxBoxAccV2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from wsolx.errors import WsolxError

__all__ = [
    "RunData",
    "RunError",
    "load_run",
    "run_from_eval",
    "history_records",
    "val_chosen",
    "is_val_threshold_key",
    "variant_label",
]

PathLike = Union[str, Path]


class RunError(WsolxError, ValueError):
    """A path that is not a run the report can read; the message names it."""


@dataclass
class RunData:
    """One run.

    Attributes:
        name: short name (the folder name; made unique by :func:`unique_names`).
        path: the run folder.
        config: the run's config dict (``config.json`` or the one stored with the evaluation).
        test: metrics of the evaluated split: ``{"Top-1 Cls", "num_images", "variants": {v: {...}}}``.
        val: validation metrics of the selected epoch, when the run has them.
        best: ``{"epoch", "score", "metric", "variant"}`` of the selection, when known.
        history: per-epoch records (see :func:`history_records`).
        checkpoint: checkpoint to re-run for overlays: the one the test metrics were computed with
            (``metrics.json`` ``tested.checkpoint``), else ``best.pt``, else ``last.pt``.
        source: the file the test metrics came from.
    """

    name: str
    path: Path
    config: Dict[str, Any]
    test: Dict[str, Any]
    val: Optional[Dict[str, Any]] = None
    best: Optional[Dict[str, Any]] = None
    history: List[Dict[str, Any]] = field(default_factory=list)
    checkpoint: Optional[Path] = None
    source: Optional[Path] = None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RunError(f"{str(path)!r} is not valid JSON: {exc}") from None


def history_records(log_path: PathLike, select_variant: Optional[str] = None) -> List[Dict[str, Any]]:
    """Epoch records of a ``log.jsonl``, one per epoch (a resumed run's later record wins).

    Each record has ``epoch``, ``train_loss``, ``train_acc``, ``lr``, ``epoch_time`` and, on
    validated epochs, ``val_Top-1 Cls`` and ``val_<metric>`` for every number of the selected
    variant (``select_variant``, default the first variant).
    """
    p = Path(log_path)
    if not p.is_file():
        return []
    by_epoch: Dict[int, Dict[str, Any]] = {}
    for line in p.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by an interrupted write
        if rec.get("event") != "epoch" or "epoch" not in rec:
            continue
        flat = {k: v for k, v in rec.items() if isinstance(v, (int, float)) and k not in ("time",)}
        val = rec.get("val")
        if isinstance(val, Mapping):
            if isinstance(val.get("Top-1 Cls"), (int, float)):
                flat["val_Top-1 Cls"] = val["Top-1 Cls"]
            variants = val.get("variants") or {}
            v = select_variant if select_variant in variants else next(iter(variants), None)
            for k, x in (variants.get(v) or {}).items():
                if isinstance(x, (int, float)) and not isinstance(x, bool):
                    flat[f"val_{k}"] = x
        by_epoch[int(rec["epoch"])] = flat
    return [by_epoch[e] for e in sorted(by_epoch)]


def _select_variant(config: Mapping[str, Any]) -> Optional[str]:
    return (config.get("eval") or {}).get("select_variant")


def load_run(path: PathLike, name: Optional[str] = None) -> RunData:
    """Read a run folder (``wsolx train --out``) or an evaluation JSON (``wsolx eval --out``).

    A folder is read from ``metrics.json`` (its ``test`` and ``val`` sections) or, when that has no
    test section, from its newest ``eval_*.json``.

    Raises:
        RunError: nothing a report can show at ``path``.
    """
    p = Path(path)
    if p.is_file() and p.suffix == ".json":
        res = _read_json(p)
        if not isinstance(res, dict) or "variants" not in res:
            raise RunError(f"{str(p)!r} is not an evaluation result of `wsolx eval` (no 'variants')")
        return run_from_eval(res, p.parent, name=name or p.parent.name, source=p)
    if not p.is_dir():
        raise RunError(f"run folder {str(p)!r} does not exist")
    config: Dict[str, Any] = {}
    if (p / "config.json").is_file():
        config = _read_json(p / "config.json")
    metrics = _read_json(p / "metrics.json") if (p / "metrics.json").is_file() else {}
    if isinstance(metrics, dict) and "table" in metrics and "test" not in metrics:
        raise RunError(f"{str(p)!r} is a report folder, not a run (pass the run folders it was made from)")
    test = metrics.get("test") if isinstance(metrics, dict) else None
    source = p / "metrics.json"
    if not test:
        evals = sorted(p.glob("eval_*.json"), key=lambda f: f.stat().st_mtime)
        if not evals:
            raise RunError(
                f"{str(p)!r} has neither metrics.json with test metrics nor eval_*.json "
                "(train without --no-test, or run `wsolx eval` on its checkpoint)"
            )
        source = evals[-1]
        test = _read_json(source)
        config = test.get("config") or config
    if not config and isinstance(test, dict):
        config = test.get("config") or {}
    tested = (metrics.get("tested") or {}).get("checkpoint") if isinstance(metrics, dict) else None
    order = [f"{tested}.pt"] if tested in ("last", "best") else []  # the checkpoint the test numbers are of
    order += [n for n in ("best.pt", "last.pt") if n not in order]
    ckpt = next((p / n for n in order if (p / n).is_file()), None)
    return RunData(
        name=name or p.resolve().name,
        path=p,
        config=config,
        test=test,
        val=metrics.get("val") if isinstance(metrics, dict) else None,
        best=metrics.get("best") if isinstance(metrics, dict) else None,
        history=history_records(p / "log.jsonl", _select_variant(config)),
        checkpoint=ckpt,
        source=source,
    )


def run_from_eval(
    result: Mapping[str, Any], folder: PathLike, *, name: Optional[str] = None, source: Optional[Path] = None
) -> RunData:
    """A :class:`RunData` from an in-memory :func:`wsolx.engine.evaluate_checkpoint` result.

    The checkpoint it names is re-run for overlays; ``metrics.json`` / ``log.jsonl`` next to it
    (when the run folder is still there) give the validation curves and the history.
    """
    folder = Path(folder)
    config = dict(result.get("config") or {})
    ckpt = Path(result["checkpoint"]) if result.get("checkpoint") else None
    run_dir = ckpt.parent if ckpt is not None else folder
    metrics = {}
    if (run_dir / "metrics.json").is_file():
        try:
            metrics = json.loads((run_dir / "metrics.json").read_text())
        except json.JSONDecodeError:
            metrics = {}
    val = metrics.get("val") if isinstance(metrics, dict) else None
    if result.get("split") not in (None, "test"):
        val = None  # a val-split evaluation has no separate selection split
    return RunData(
        name=name or run_dir.resolve().name,
        path=run_dir,
        config=config,
        test=dict(result),
        val=val,
        best=metrics.get("best") if isinstance(metrics, dict) else None,
        history=history_records(run_dir / "log.jsonl", _select_variant(config)),
        checkpoint=ckpt if ckpt is not None and ckpt.is_file() else None,
        source=source,
    )


def unique_names(runs: Sequence[RunData]) -> None:
    """Make run names unique in place (``name``, then ``parent/name``, then ``name#2``...)."""
    seen: Dict[str, int] = {}
    names = [r.name for r in runs]
    for r in runs:
        if names.count(r.name) > 1:
            r.name = f"{r.path.resolve().parent.name}/{r.name}"
    for r in runs:
        k = seen.get(r.name, 0)
        seen[r.name] = k + 1
        if k:
            r.name = f"{r.name}#{k + 1}"


def variant_label(variant: str, config: Mapping[str, Any]) -> str:
    """Paper-style row name: ``CAM`` / ``TAP`` (by pooling) plus ``+NWC`` / ``+PaS`` of the variant."""
    model = config.get("model") or {}
    base = "TAP" if model.get("pooling", "tap") == "tap" else "CAM"
    method = str(model.get("method", "cam"))
    if method and method != "cam":
        base = f"{method.upper()} {base}"
    suffix = {"base": "", "nwc": "+NWC", "pas": "+PaS", "nwc+pas": "+NWC+PaS"}.get(variant, f" [{variant}]")
    return base + suffix


def val_chosen(val_m: Optional[Mapping[str, Any]], test_m: Mapping[str, Any]) -> Dict[str, float]:
    """Validation-chosen operating thresholds and the test accuracies at them, beside the oracle ones,
    under the report's column names.

    The numbers are those of :func:`wsolx.metrics.val_threshold.val_threshold_metrics` (one rule
    for the run's ``metrics.json`` and the report): taken from ``test_m`` when the run recorded
    them, otherwise computed from the validation and test curves when both exist on the same
    thresholds.

    Returns:
        ``thr MaxBoxAcc (oracle)``, ``thr MaxBoxAcc (val)``, ``BoxAcc @val thr`` and per ``delta``
        ``thr V2@delta (oracle)``, ``thr V2@delta (val)``, ``BoxAccV2@delta @val thr``, plus
        ``BoxAccV2 @val thr`` (mean over deltas); only those that can be had.
    """
    from wsolx.metrics.val_threshold import val_threshold_metrics

    out: Dict[str, float] = {}
    if isinstance(test_m.get("best_threshold"), (int, float)):
        out["thr MaxBoxAcc (oracle)"] = float(test_m["best_threshold"])
    for key in test_m:
        if key.startswith("best_threshold@") and isinstance(test_m[key], (int, float)):
            out[f"thr V2@{key.split('@', 1)[1]} (oracle)"] = float(test_m[key])
    chosen = {k: x for k, x in test_m.items() if is_val_threshold_key(k)}
    if not chosen and val_m:
        try:
            chosen = val_threshold_metrics(test_m, val_m)
        except (KeyError, ValueError, TypeError):  # curves missing or on different thresholds
            chosen = {}
    for key, x in chosen.items():
        if not isinstance(x, (int, float)):
            continue
        if key == "val_threshold":
            out["thr MaxBoxAcc (val)"] = float(x)
        elif key.startswith("val_threshold@"):
            out[f"thr V2@{key.split('@', 1)[1]} (val)"] = float(x)
        elif key == "BoxAcc@val_thr":
            out["BoxAcc @val thr"] = float(x)
        elif key == "BoxAccV2@val_thr":
            out["BoxAccV2 @val thr"] = float(x)
        else:  # BoxAccV2@<delta>@val_thr
            out[f"BoxAccV2@{key.split('@')[1]} @val thr"] = float(x)
    return out


def is_val_threshold_key(key: str) -> bool:
    """A key written by :mod:`wsolx.metrics.val_threshold` (``val_threshold``, ``val_threshold@0.5``,
    ``BoxAcc@val_thr``, ``BoxAccV2@0.5@val_thr``, ``BoxAccV2@val_thr``)."""
    return key.startswith("val_threshold") or key.endswith("@val_thr")
