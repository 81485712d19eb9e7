"""Reading the standard WSOL metadata layout (Choe et al., CVPR 2020).

One split of one data set lives in ``<metadata_root>/<DATASET>/<split>/``::

    image_ids.txt      one image path per line (relative to the image folder)
    class_labels.txt   ``path,label``
    image_sizes.txt    ``path,W,H``          (original image size in pixels)
    localization.txt   ``path,x0,y0,x1,y1``  (one row per box, several rows per image allowed)
                   or  ``path,mask_path,ignore_path``  (one row per instance mask; the ignore path
                       may be empty; mask data sets such as OpenImages30k)

``image_ids.txt`` and ``class_labels.txt`` are required; ``image_sizes.txt`` is required when the
localisation file holds boxes (they are mapped into network coordinates with it) and optional
otherwise; ``localization.txt`` is optional (the train split of the protocol has none).

Every error names the file and, for a bad row, its line number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from wsolx.errors import WsolxError

__all__ = ["MetadataError", "MaskEntry", "WSOLMetadata", "load_metadata", "SPLITS", "canonical_split"]

PathLike = Union[str, Path]

#: The splits of the protocol. ``val`` is the small fully supervised split ("train-fullsup").
SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"train-fullsup": "val", "train_fullsup": "val", "valid": "val", "validation": "val"}


class MetadataError(WsolxError, ValueError):
    """A metadata file is malformed or inconsistent (the message names ``file:line``)."""


@dataclass(frozen=True)
class MaskEntry:
    """Mask ground truth of one image.

    Attributes:
        mask_paths: one path per instance mask (relative to the image folder); the foreground is
            the union of the instances.
        ignore_path: path of the ignore mask, or ``None`` when the image has none.
    """

    mask_paths: Tuple[str, ...]
    ignore_path: Optional[str]


@dataclass
class WSOLMetadata:
    """Parsed metadata of one split.

    Attributes:
        directory: the split folder the files were read from.
        image_ids: image paths in file order.
        labels: image id -> class label.
        sizes: image id -> original ``(W, H)`` (empty when ``image_sizes.txt`` is absent).
        boxes: image id -> list of ``(x0, y0, x1, y1)`` in original pixel coordinates, or ``None``
            when the split has no box localisation.
        masks: image id -> :class:`MaskEntry`, or ``None`` when the split has no masks.
    """

    directory: Path
    image_ids: List[str]
    labels: Dict[str, int]
    sizes: Dict[str, Tuple[int, int]] = field(default_factory=dict)
    boxes: Optional[Dict[str, List[Tuple[float, float, float, float]]]] = None
    masks: Optional[Dict[str, MaskEntry]] = None

    @property
    def has_boxes(self) -> bool:
        return self.boxes is not None

    @property
    def has_masks(self) -> bool:
        return self.masks is not None


def canonical_split(split: str) -> str:
    """``"train" | "val" | "test"`` for a split name (``train-fullsup`` is an alias of ``val``)."""
    s = _SPLIT_ALIASES.get(split, split)
    if s not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS} (or 'train-fullsup' for 'val')")
    return s


def _rows(path: Path):
    """Yield ``(line_number, stripped_line)`` for the non-empty lines of ``path``."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not part of the first id
    except FileNotFoundError:
        raise FileNotFoundError(f"metadata file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise MetadataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line:
            yield lineno, line


def _split_fields(path: Path, lineno: int, line: str, n: int, what: str) -> List[str]:
    # Paths never hold commas in the protocol's data sets; the numeric fields are at the end.
    parts = line.rsplit(",", n - 1)
    if len(parts) != n or not parts[0]:
        raise MetadataError(f"{path}:{lineno}: expected '{what}' ({n} comma-separated fields), got {line!r}")
    return [p.strip() for p in parts]


def _check_known(path: Path, lineno: int, image_id: str, known: Dict[str, int]) -> None:
    if image_id not in known:
        raise MetadataError(f"{path}:{lineno}: unknown image id {image_id!r} (not listed in image_ids.txt)")


def _read_image_ids(path: Path) -> Tuple[List[str], Dict[str, int]]:
    ids: List[str] = []
    index: Dict[str, int] = {}
    for lineno, line in _rows(path):
        if "," in line:
            raise MetadataError(f"{path}:{lineno}: expected one image path per line, got {line!r}")
        if line in index:
            raise MetadataError(f"{path}:{lineno}: duplicate image id {line!r}")
        index[line] = len(ids)
        ids.append(line)
    if not ids:
        raise MetadataError(f"{path}: no image ids")
    return ids, index


def _read_labels(path: Path, known: Dict[str, int]) -> Dict[str, int]:
    labels: Dict[str, int] = {}
    for lineno, line in _rows(path):
        image_id, label = _split_fields(path, lineno, line, 2, "path,label")
        _check_known(path, lineno, image_id, known)
        try:
            value = int(label)
        except ValueError:
            raise MetadataError(f"{path}:{lineno}: label must be an integer, got {label!r}") from None
        if value < 0:
            raise MetadataError(f"{path}:{lineno}: label must be >= 0, got {value}")
        if image_id in labels and labels[image_id] != value:
            raise MetadataError(f"{path}:{lineno}: conflicting labels for {image_id!r}: {labels[image_id]} and {value}")
        labels[image_id] = value
    return labels


def _read_sizes(path: Path, known: Dict[str, int]) -> Dict[str, Tuple[int, int]]:
    sizes: Dict[str, Tuple[int, int]] = {}
    for lineno, line in _rows(path):
        image_id, w, h = _split_fields(path, lineno, line, 3, "path,W,H")
        _check_known(path, lineno, image_id, known)
        try:
            size = (int(w), int(h))
        except ValueError:
            raise MetadataError(f"{path}:{lineno}: width and height must be integers, got {w!r}, {h!r}") from None
        if min(size) < 1:
            raise MetadataError(f"{path}:{lineno}: width and height must be >= 1, got {size}")
        sizes[image_id] = size
    return sizes


def _read_localization(path: Path, known: Dict[str, int]):
    """Return ``("boxes", dict, line numbers)`` or ``("masks", dict, {})``; the format is set by the
    first row."""
    rows = list(_rows(path))
    if not rows:
        raise MetadataError(f"{path}: empty localisation file")
    n_fields = rows[0][1].count(",") + 1
    if n_fields == 5:
        boxes: Dict[str, List[Tuple[float, float, float, float]]] = {}
        lines: Dict[str, List[int]] = {}  # image id -> line number of each box
        for lineno, line in rows:
            image_id, *coords = _split_fields(path, lineno, line, 5, "path,x0,y0,x1,y1")
            _check_known(path, lineno, image_id, known)
            try:
                x0, y0, x1, y1 = (float(c) for c in coords)
            except ValueError:
                raise MetadataError(f"{path}:{lineno}: box coordinates must be numbers, got {coords}") from None
            if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
                raise MetadataError(f"{path}:{lineno}: non-finite box coordinates {coords}")
            if x1 < x0 or y1 < y0:
                raise MetadataError(f"{path}:{lineno}: box must satisfy x0 <= x1 and y0 <= y1, got {coords}")
            boxes.setdefault(image_id, []).append((x0, y0, x1, y1))
            lines.setdefault(image_id, []).append(lineno)
        return "boxes", boxes, lines
    if n_fields == 3:
        entries: Dict[str, Tuple[List[str], Optional[str]]] = {}
        for lineno, line in rows:
            parts = line.split(",")
            if len(parts) != 3 or not parts[0].strip() or not parts[1].strip():
                raise MetadataError(f"{path}:{lineno}: expected 'path,mask_path,ignore_path', got {line!r}")
            image_id, mask_path, ignore_path = (p.strip() for p in parts)
            _check_known(path, lineno, image_id, known)
            masks_of, ignore = entries.setdefault(image_id, ([], None))
            masks_of.append(mask_path)
            if ignore_path:
                if ignore is not None and ignore != ignore_path:
                    raise MetadataError(
                        f"{path}:{lineno}: image {image_id!r} has two ignore masks: {ignore!r} and {ignore_path!r}"
                    )
                entries[image_id] = (masks_of, ignore_path)
        return "masks", {k: MaskEntry(tuple(m), i) for k, (m, i) in entries.items()}, {}
    raise MetadataError(
        f"{path}:{rows[0][0]}: expected 'path,x0,y0,x1,y1' or 'path,mask_path,ignore_path', got {rows[0][1]!r}"
    )


def load_metadata(directory: PathLike) -> WSOLMetadata:
    """Read one split folder ``<metadata_root>/<DATASET>/<split>/``.

    Raises:
        FileNotFoundError: the folder or a required file is missing.
        MetadataError: a malformed row (``file:line``), an unknown image id in a secondary file,
            an image without a label / size / localisation entry.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"metadata folder not found: {directory} (expected <metadata_root>/<DATASET>/<split>/ "
            "holding image_ids.txt, class_labels.txt, image_sizes.txt, localization.txt)"
        )
    ids_path = directory / "image_ids.txt"
    image_ids, known = _read_image_ids(ids_path)

    labels_path = directory / "class_labels.txt"
    labels = _read_labels(labels_path, known)
    missing = [i for i in image_ids if i not in labels]
    if missing:
        raise MetadataError(f"{labels_path}: no label for {len(missing)} image id(s), e.g. {missing[0]!r}")

    meta = WSOLMetadata(directory=directory, image_ids=image_ids, labels=labels)

    loc_path = directory / "localization.txt"
    if loc_path.is_file():
        kind, entries, box_lines = _read_localization(loc_path, known)
        missing = [i for i in image_ids if i not in entries]
        if kind == "boxes":
            if missing:
                raise MetadataError(f"{loc_path}: no box for {len(missing)} image id(s), e.g. {missing[0]!r}")
            meta.boxes = entries
        else:
            if missing:
                raise MetadataError(f"{loc_path}: no mask for {len(missing)} image id(s), e.g. {missing[0]!r}")
            meta.masks = entries

    sizes_path = directory / "image_sizes.txt"
    if sizes_path.is_file():
        meta.sizes = _read_sizes(sizes_path, known)
        missing = [i for i in image_ids if i not in meta.sizes]
        if missing:
            raise MetadataError(f"{sizes_path}: no size for {len(missing)} image id(s), e.g. {missing[0]!r}")
    elif meta.has_boxes:
        raise FileNotFoundError(
            f"metadata file not found: {sizes_path} (required to map the boxes of {loc_path} to network coordinates)"
        )
    if meta.has_boxes:
        _check_boxes_inside(loc_path, meta, box_lines)
    return meta


def _check_boxes_inside(path: Path, meta: WSOLMetadata, lines: Dict[str, List[int]]) -> None:
    """Every box lies inside its image: ``0 <= x0``, ``0 <= y0``, ``x1 <= W``, ``y1 <= H``."""
    for image_id, boxes in (meta.boxes or {}).items():
        w, h = meta.sizes[image_id]
        for k, (x0, y0, x1, y1) in enumerate(boxes):
            if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
                raise MetadataError(
                    f"{path}:{lines[image_id][k]}: box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) of {image_id!r} lies outside "
                    f"its {w}x{h} image (image_sizes.txt)"
                )
