"""Score maps saved by any code, and class predictions, read for :func:`wsolx.metrics.evaluate_scoremaps`.

Layout of the official protocol's standalone evaluator (Choe et al., CVPR 2020)::

    <scoremap_root>/<image_id>.npy      e.g. test/200.Common_Yellowthroat/x.jpg.npy

with the image ids of ``<metadata_root>/<DATASET>/<split>/image_ids.txt``. Instead of a folder a
caller may pass a mapping ``image_id -> array`` or an iterable of ``(image_id, array)`` pairs
(numpy arrays or tensors). Every image id of the split needs exactly one map.

Predictions (for Top-1 / Top-5 Loc) are a CSV file, one row per image: ``image_id,top1[,top2,...]``
(class indices, best first; a header row whose second field is not an integer is skipped).

Every error is one line naming the file (and line) or the image id at fault.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Deque, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

import numpy as np

from wsolx.errors import DataError

__all__ = ["ScoremapItem", "iter_scoremaps", "check_scoremap", "read_predictions", "image_id_lines"]

PathLike = Union[str, Path]
ScoremapSource = Union[PathLike, Mapping[str, Any], Iterable[Tuple[str, Any]]]


@dataclass
class ScoremapItem:
    """One score map as read: ``image_id``, ``array`` ``(h, w)`` float64 and ``origin`` (what error
    messages name: the file, or ``image id '...'`` for in-memory maps)."""

    image_id: str
    array: np.ndarray
    origin: str


def image_id_lines(image_ids_file: PathLike) -> Dict[str, int]:
    """``image_id -> line number`` (1-based) of an ``image_ids.txt`` (empty when it is absent)."""
    path = Path(image_ids_file)
    if not path.is_file():
        return {}
    out: Dict[str, int] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        s = line.strip()
        if s and s not in out:
            out[s] = lineno
    return out


def _as_array(value: Any, origin: str) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - any conversion failure is a bad input
        raise DataError(f"{origin}: not an array ({type(value).__name__}: {exc})") from None
    if arr.dtype == bool or arr.dtype.kind not in "fiu":
        raise DataError(f"{origin}: expected a real-valued score map, got dtype {arr.dtype}")
    return arr


def check_scoremap(value: Any, origin: str) -> np.ndarray:
    """A 2-D, non-empty, finite map as float64, or a ``ValueError`` naming ``origin``.

    The range is not checked here: :func:`wsolx.metrics.evaluate_scoremaps` decides (a map at the
    evaluation size is used as saved and must lie in ``[0, 1]``; a smaller raw CAM is upsampled and
    normalised).
    """
    arr = _as_array(value, origin)
    if arr.ndim != 2:
        raise DataError(f"{origin}: expected a 2-D (H, W) score map, got shape {tuple(arr.shape)}")
    if arr.size == 0:
        raise DataError(f"{origin}: empty score map of shape {tuple(arr.shape)}")
    arr = arr.astype(np.float64, copy=False)
    finite = np.isfinite(arr)
    if not finite.all():
        what = "NaN" if np.isnan(arr).any() else "infinite values"
        raise DataError(f"{origin}: score map contains {what} ({int((~finite).sum())} of {arr.size} pixels)")
    return arr


def _load_npy(path: Path, image_id: str, where: str) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"score map not found: {path} (image id {image_id!r}{where})")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - a corrupt / non-npy file
        raise DataError(f"{path}: cannot read the score map ({type(exc).__name__}: {exc})") from None


def iter_scoremaps(
    source: ScoremapSource,
    image_ids: List[str],
    *,
    id_lines: Optional[Dict[str, int]] = None,
    image_ids_file: Optional[PathLike] = None,
    workers: int = 4,
) -> Iterator[ScoremapItem]:
    """Yield one checked :class:`ScoremapItem` per image id of the split.

    Args:
        source: a folder (``<source>/<image_id>.npy``), a mapping ``image_id -> array``, or an
            iterable of ``(image_id, array)`` pairs (evaluated in its own order).
        image_ids: the split's image ids (metadata order).
        id_lines / image_ids_file: line numbers of the ids, for the error messages.
        workers: threads reading ``.npy`` files ahead (folder source; 0: read in the caller).

    Raises:
        FileNotFoundError: a missing ``.npy`` file. ValueError: a map that is not 2-D, empty, not
        real-valued or not finite; an image id that is not in the metadata, given twice, or has
        no map.
    """
    lines = id_lines or {}
    ids_file = str(image_ids_file) if image_ids_file is not None else "image_ids.txt"

    def where(image_id: str) -> str:
        return f", line {lines[image_id]} of {ids_file}" if image_id in lines else ""

    if isinstance(source, (str, Path)):
        root = Path(source)
        if not root.is_dir():
            raise FileNotFoundError(f"score map folder not found: {root}")

        def load(image_id: str) -> ScoremapItem:
            path = root / f"{image_id}.npy"
            return ScoremapItem(
                image_id, check_scoremap(_load_npy(path, image_id, where(image_id)), str(path)), str(path)
            )

        if workers <= 0:
            for image_id in image_ids:
                yield load(image_id)
            return
        # Read ahead with a bounded window (file reads release the GIL); errors surface in order.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            window: Deque[Future] = deque()
            ids = iter(image_ids)
            for image_id in ids:
                window.append(pool.submit(load, image_id))
                if len(window) >= 4 * workers:
                    break
            while window:
                item = window.popleft().result()
                nxt = next(ids, None)
                if nxt is not None:
                    window.append(pool.submit(load, nxt))
                yield item
        return

    known = set(image_ids)
    if isinstance(source, Mapping):
        extra = [k for k in source.keys() if k not in known]
        if extra:
            raise DataError(f"score map for image id {extra[0]!r}: not in {ids_file} ({len(extra)} unknown id(s))")
        for image_id in image_ids:
            if image_id not in source:
                raise DataError(f"no score map for image id {image_id!r}{where(image_id)}")
            origin = f"score map of image id {image_id!r}"
            yield ScoremapItem(image_id, check_scoremap(source[image_id], origin), origin)
        return

    seen = set()
    for k, pair in enumerate(source):
        try:
            image_id, value = pair
        except (TypeError, ValueError):
            raise DataError(
                f"score map item {k}: expected an (image_id, array) pair, got {type(pair).__name__}"
            ) from None
        image_id = str(image_id)
        if image_id not in known:
            raise DataError(f"score map item {k}: image id {image_id!r} is not in {ids_file}")
        if image_id in seen:
            raise DataError(f"score map item {k}: image id {image_id!r} given twice")
        seen.add(image_id)
        origin = f"score map of image id {image_id!r}"
        yield ScoremapItem(image_id, check_scoremap(value, origin), origin)
    missing = [i for i in image_ids if i not in seen]
    if missing:
        raise DataError(f"no score map for {len(missing)} image id(s), e.g. {missing[0]!r}{where(missing[0])}")


def read_predictions(path: PathLike, image_ids: List[str], *, ids_file: str = "image_ids.txt") -> Dict[str, List[int]]:
    """Read a predictions CSV ``image_id,top1[,top2,...]`` -> ``image_id -> [class, ...]``.

    Raises:
        FileNotFoundError: no such file. ValueError (``file:line``): a row without a class, a
        class that is not a non-negative integer, an image id not in the metadata or given twice,
        an image of the split without a row.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"predictions file not found: {p}")
    known = set(image_ids)
    out: Dict[str, List[int]] = {}
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        s = line.strip()
        if not s:
            continue
        parts = [x.strip() for x in s.split(",")]
        if len(parts) < 2 or not parts[0]:
            raise DataError(f"{p}:{lineno}: expected 'image_id,top1[,top2,...]', got {s!r}")
        try:
            classes = [int(x) for x in parts[1:]]
        except ValueError:
            if not out and lineno == 1:  # a header row
                continue
            raise DataError(f"{p}:{lineno}: class predictions must be integers, got {parts[1:]}") from None
        if min(classes) < 0:
            raise DataError(f"{p}:{lineno}: class predictions must be >= 0, got {classes}")
        image_id = parts[0]
        if image_id not in known:
            raise DataError(f"{p}:{lineno}: image id {image_id!r} is not in {ids_file}")
        if image_id in out:
            raise DataError(f"{p}:{lineno}: image id {image_id!r} given twice")
        out[image_id] = classes
    missing = [i for i in image_ids if i not in out]
    if missing:
        raise DataError(f"{p}: no prediction for {len(missing)} image id(s), e.g. {missing[0]!r}")
    return out
