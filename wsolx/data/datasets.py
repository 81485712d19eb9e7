"""WSOL data sets in the standard metadata layout: CUB-200-2011, ILSVRC, OpenImages30k, SYNTH.

Layout (as the protocol of Choe et al. uses it)::

    <data_root>/<IMAGE_DIR>/<image_id>                 images (and mask PNGs for mask data sets)
    <metadata_root>/<DATASET>/<split>/*.txt           see :mod:`wsolx.data.metadata`

``IMAGE_DIR`` is ``CUB``, ``ILSVRC`` or ``OpenImages``; when ``<data_root>/<IMAGE_DIR>`` holds no
image of the split, ``data_root`` itself is taken as the image folder (so one can point straight at
it). The synthetic sets ``SYNTH`` / ``SYNTH_MASK`` written by :func:`wsolx.data.synthetic.generate`
keep their images in ``<root>/images`` and their metadata in ``<root>/metadata``: use
``data_root=root, metadata_root=root / "metadata"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from wsolx.data.geometry import EVAL_GEOMETRIES, paper_boxes, paper_eval_transform, paper_far_corner_offset, paper_mask
from wsolx.data.metadata import MetadataError, WSOLMetadata, canonical_split, load_metadata
from wsolx.data.subsample import subsample_metadata
from wsolx.data.transforms import eval_transform, resize_boxes, resize_mask_nearest, train_transform
from wsolx.errors import DataError

__all__ = [
    "DatasetSpec",
    "DATASETS",
    "register_dataset",
    "dataset_spec",
    "dataset_spec_or_folder",
    "WSOLDataset",
    "get_dataset",
    "collate_with_index",
]

PathLike = Union[str, Path]


@dataclass(frozen=True)
class DatasetSpec:
    """Where a data set lives and what it holds.

    Attributes:
        name: folder name under ``metadata_root`` (``CUB``, ``ILSVRC``, ``OpenImages``, ``SYNTH``).
        image_dir: folder under ``data_root`` holding the images (``""``: ``data_root`` itself).
        num_classes: number of classes; ``None`` reads ``<metadata_root>/<name>/class_names.txt``
            (one name per line) or, without it, takes ``max label + 1`` of the split.
        aliases: other accepted names (matched case-insensitively).
    """

    name: str
    image_dir: str
    num_classes: Optional[int]
    aliases: Tuple[str, ...] = ()


DATASETS: Dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add a data set to :data:`DATASETS` (its name and aliases become valid for :func:`get_dataset`)."""
    DATASETS[spec.name] = spec
    return spec


register_dataset(DatasetSpec("CUB", "CUB", 200, ("CUB-200-2011", "CUB200", "CUB_200_2011")))
register_dataset(DatasetSpec("ILSVRC", "ILSVRC", 1000, ("ImageNet", "ImageNet-1K", "ILSVRC2012")))
register_dataset(DatasetSpec("OpenImages", "OpenImages", 100, ("OpenImages30k", "OpenImages30K")))
register_dataset(DatasetSpec("SYNTH", "", None))
register_dataset(DatasetSpec("SYNTH_MASK", "", None))


def dataset_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name`` (case-insensitive, aliases accepted)."""
    key = name.lower()
    for spec in DATASETS.values():
        if key == spec.name.lower() or key in (a.lower() for a in spec.aliases):
            return spec
    raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")


def _to_8bit(img: Image.Image, path: Path) -> Image.Image:
    """``img`` with 8 bits per channel. ``Image.convert`` saturates 16-bit and float pixels (a
    16-bit PNG turns almost white, a float TIFF black), so those are scaled by their real range:
    ``I;16*`` by 65535, ``I`` by 255 or 65535 (whichever holds its values), ``F`` from [0, 1].

    Raises:
        DataError: pixels outside the range of their type (e.g. a float image beyond [0, 1]).
    """
    mode = img.mode
    if not (mode.startswith("I;16") or mode in ("I", "F")):
        return img
    a = np.asarray(img).astype(np.float64)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if mode == "F":
        if not (np.isfinite(a).all() and lo >= 0.0 and hi <= 1.0):
            raise DataError(
                f"{path}: float image (mode F) with values in [{lo:g}, {hi:g}]; "
                "wsolx reads float images only with values in [0, 1]"
            )
        scaled = a * 255.0
    else:
        if lo < 0 or hi > 65535:
            raise DataError(f"{path}: {mode} image with values in [{lo:g}, {hi:g}], outside 0..65535")
        full = 255.0 if (mode == "I" and hi <= 255) else 65535.0
        scaled = a * (255.0 / full)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")


def _open_8bit(path: Path, what: str, image_id: str, mode: str) -> Image.Image:
    """Read ``path`` fully and convert it to ``mode`` (``RGB`` or ``L``); every failure names the file."""
    try:
        with Image.open(path) as img:
            return _to_8bit(img, path).convert(mode)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} file not found: {path} (image id {image_id!r})") from None
    except DataError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(
            f"cannot read {what} file {path} (image id {image_id!r}; truncated, corrupt or not an image): {exc}"
        ) from None


def _rgb(path: Path, image_id: str) -> Image.Image:
    return _open_8bit(path, "image", image_id, "RGB")


def _gray(path: Path, what: str, image_id: str) -> np.ndarray:
    return np.asarray(_open_8bit(path, what, image_id, "L"))


class WSOLDataset(Dataset):
    """One split of a WSOL data set.

    ``ds[i]`` is ``(image (3, S, S) float32, label int, i)`` with ``S = crop_size`` for training
    and ``S = image_size`` for evaluation. Ground truth is returned in network coordinates, i.e.
    for the ``image_size x image_size`` evaluation input: with ``eval_geometry="protocol"`` the
    image is resized to ``S x S`` and boxes are scaled and truncated (``truncate_boxes``); with
    ``"paper"`` it is resized to ``resize_size`` and centre-cropped to ``S``
    (:mod:`wsolx.data.geometry`).

    Attributes:
        name: data set name. split: ``train`` / ``val`` / ``test``. train: training transform on.
        image_root: folder the image ids are relative to. metadata: the parsed :class:`WSOLMetadata`.
        image_ids: image paths (list of str). labels: class label per image (list of int).
        num_classes: number of classes. image_size: evaluation side (network coordinates).
    """

    def __init__(
        self,
        image_root: PathLike,
        metadata: WSOLMetadata,
        *,
        num_classes: int,
        train: bool,
        image_size: int = 224,
        crop_size: Optional[int] = None,
        resize_size: Optional[int] = None,
        name: str = "",
        split: str = "",
        transform: Optional[Callable[[Image.Image], Tensor]] = None,
        truncate_boxes: bool = True,
        eval_geometry: str = "protocol",
    ) -> None:
        if eval_geometry not in EVAL_GEOMETRIES:
            raise ValueError(f"eval_geometry must be one of {EVAL_GEOMETRIES}, got {eval_geometry!r}")
        self.name = name
        self.truncate_boxes = bool(truncate_boxes)
        self.eval_geometry = eval_geometry
        self.split = split
        self.train = bool(train)
        self.image_root = Path(image_root)
        self.metadata = metadata
        self.image_ids: List[str] = list(metadata.image_ids)
        self.labels: List[int] = [metadata.labels[i] for i in self.image_ids]
        self.num_classes = int(num_classes)
        bad = [(i, lab) for i, lab in zip(self.image_ids, self.labels) if lab >= self.num_classes]
        if bad:
            raise MetadataError(
                f"{metadata.directory / 'class_labels.txt'}: label {bad[0][1]} of {bad[0][0]!r} is out of range "
                f"for {self.num_classes} classes"
            )
        self.image_size = int(image_size)
        crop = int(crop_size) if crop_size is not None else self.image_size
        resize = int(resize_size) if resize_size is not None else int(round(crop * 256 / 224))
        self.crop_size, self.resize_size = crop, resize
        if transform is None:
            if self.train:
                transform = train_transform(resize, crop)
            elif eval_geometry == "paper":
                transform = paper_eval_transform(resize, self.image_size)
            else:
                transform = eval_transform(self.image_size)
        self.transform = transform

    # ----------------------------------------------------------------------------------- basics
    def __len__(self) -> int:
        return len(self.image_ids)

    def _check_index(self, index: int) -> int:
        n = len(self.image_ids)
        if not -n <= index < n:
            raise IndexError(f"{self.name}/{self.split}: index {index} out of range for {n} images")
        return index % n

    def image_path(self, index: int) -> Path:
        return self.image_root / self.image_ids[self._check_index(index)]

    def load_raw(self, index: int) -> Image.Image:
        """The original image as an RGB PIL image (for figures)."""
        index = self._check_index(index)
        return _rgb(self.image_path(index), self.image_ids[index])

    def __getitem__(self, index: int) -> Tuple[Tensor, int, int]:
        index = self._check_index(int(index))
        return self.transform(self.load_raw(index)), self.labels[index], index

    def original_size(self, index: int) -> Tuple[int, int]:
        """Original ``(W, H)``: from ``image_sizes.txt``, else read from the image header."""
        index = self._check_index(index)
        image_id = self.image_ids[index]
        size = self.metadata.sizes.get(image_id)
        if size is None:
            path = self.image_path(index)
            try:
                with Image.open(path) as img:
                    size = img.size
            except FileNotFoundError:
                raise FileNotFoundError(f"image file not found: {path} (image id {image_id!r})") from None
            except (OSError, SyntaxError, ValueError) as exc:
                raise DataError(f"cannot read image file {path} (image id {image_id!r}): {exc}") from None
        return size

    # ----------------------------------------------------------------------------- ground truth
    @property
    def has_boxes(self) -> bool:
        return self.metadata.has_boxes

    @property
    def has_masks(self) -> bool:
        return self.metadata.has_masks

    def gt_boxes(self, index: int, dtype: torch.dtype = torch.float32) -> Tensor:
        """``(G, 4)`` ground-truth ``[x0, y0, x1, y1]`` in network coordinates
        (``image_size x image_size``): truncated toward zero as the protocol's ``resize_bbox``
        (fractional when ``truncate_boxes`` is off), or shifted and clipped into the paper's centre
        crop with ``eval_geometry="paper"``."""
        if not self.has_boxes:
            raise ValueError(
                f"{self.name}/{self.split} has no box annotations (no box localization.txt in {self.metadata.directory})"
            )
        index = self._check_index(index)
        boxes = self.metadata.boxes[self.image_ids[index]]
        if self.eval_geometry == "paper":
            return paper_boxes(
                boxes,
                self.original_size(index),
                self.resize_size,
                self.image_size,
                paper_far_corner_offset(self.name),
                dtype,
            )
        size = (self.image_size, self.image_size)
        return resize_boxes(boxes, self.original_size(index), size, dtype, truncate=self.truncate_boxes)

    def gt_boxes_batch(
        self, indices: Union[Sequence[int], Tensor], dtype: torch.dtype = torch.float32
    ) -> Tuple[Tensor, Tensor]:
        """Padded boxes of several images: ``(B, G_max, 4)`` and the ``(B,)`` int64 counts."""
        idx = [int(i) for i in (indices.tolist() if isinstance(indices, Tensor) else indices)]
        boxes = [self.gt_boxes(i, dtype) for i in idx]
        counts = torch.tensor([b.shape[0] for b in boxes], dtype=torch.int64)
        g = int(counts.max()) if boxes else 0
        out = torch.zeros((len(boxes), g, 4), dtype=dtype)
        for k, b in enumerate(boxes):
            out[k, : b.shape[0]] = b
        return out, counts

    def gt_mask(self, index: int) -> Tuple[Tensor, Tensor]:
        """``(mask, ignore)``, both ``(image_size, image_size)`` bool.

        As in the protocol: every instance mask is resized (OpenCV nearest neighbour) and
        thresholded (``> 0``), the foreground is their union, and the ignore region excludes the
        foreground. An image without an ignore mask has an all-false ignore region.
        """
        if not self.has_masks:
            raise ValueError(
                f"{self.name}/{self.split} has no mask annotations (no mask localization.txt in {self.metadata.directory})"
            )
        index = self._check_index(index)
        image_id = self.image_ids[index]
        entry = self.metadata.masks[image_id]
        size = (self.image_size, self.image_size)
        if self.eval_geometry == "paper":
            resize = lambda m, _size: paper_mask(m, self.resize_size, self.image_size)  # noqa: E731
        else:
            resize = resize_mask_nearest
        fg = np.zeros(size, dtype=bool)
        for p in entry.mask_paths:
            fg |= resize(_gray(self.image_root / p, "mask", image_id), size) > 0
        if entry.ignore_path:
            ignore = resize(_gray(self.image_root / entry.ignore_path, "ignore mask", image_id), size) > 0
            ignore &= ~fg
        else:
            ignore = np.zeros(size, dtype=bool)
        return torch.from_numpy(fg), torch.from_numpy(ignore)

    def gt_masks_batch(self, indices: Union[Sequence[int], Tensor]) -> Tuple[Tensor, Tensor]:
        """``(masks (B, S, S) bool, ignore (B, S, S) bool)`` of several images."""
        idx = [int(i) for i in (indices.tolist() if isinstance(indices, Tensor) else indices)]
        pairs = [self.gt_mask(i) for i in idx]
        if not pairs:
            empty = torch.zeros((0, self.image_size, self.image_size), dtype=torch.bool)
            return empty, empty.clone()
        return torch.stack([m for m, _ in pairs]), torch.stack([g for _, g in pairs])

    def __repr__(self) -> str:
        size = f"crop={self.crop_size}, resize={self.resize_size}" if self.train else f"size={self.image_size}"
        return (
            f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, images={len(self)}, "
            f"classes={self.num_classes}, train={self.train}, {size}, root={str(self.image_root)!r})"
        )


def _num_classes(spec: DatasetSpec, metadata_root: Path, meta: WSOLMetadata) -> int:
    if spec.num_classes is not None:
        return spec.num_classes
    names = metadata_root / spec.name / "class_names.txt"
    if names.is_file():
        try:
            text = names.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise MetadataError(f"{names}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        n = sum(1 for line in text.splitlines() if line.strip())
        if n == 0:
            raise MetadataError(f"{names}: no class names")
        return n
    return max(meta.labels.values()) + 1


def _image_root(spec: DatasetSpec, data_root: Path, first_id: str, meta: WSOLMetadata) -> Path:
    if not data_root.is_dir():
        raise FileNotFoundError(f"data_root not found: {data_root}")
    candidates = [data_root / spec.image_dir, data_root] if spec.image_dir else [data_root]
    for c in candidates:
        if (c / first_id).is_file():
            return c
    tried = ", ".join(str(c / first_id) for c in candidates)
    raise FileNotFoundError(
        f"image file not found: {first_id!r} (first id of {meta.directory / 'image_ids.txt'}); tried {tried}"
    )


def dataset_spec_or_folder(name: str, metadata_root: Path) -> DatasetSpec:
    """The registered spec of ``name``, or, for any other name whose ``<metadata_root>/<name>/``
    folder exists, a spec read from that folder (images under ``<data_root>/<name>/`` or
    ``<data_root>``; classes from ``class_names.txt`` when present, else ``max label + 1``)."""
    try:
        return dataset_spec(name)
    except ValueError:
        if (metadata_root / name).is_dir():
            return DatasetSpec(name, name, None)
        raise ValueError(
            f"unknown dataset {name!r}: no folder {metadata_root / name} (registered: {sorted(DATASETS)})"
        ) from None


def get_dataset(
    name: str,
    data_root: PathLike,
    metadata_root: PathLike,
    split: str,
    *,
    train: bool,
    image_size: int = 224,
    crop_size: Optional[int] = None,
    resize_size: Optional[int] = None,
    truncate_boxes: bool = True,
    eval_geometry: str = "protocol",
    num_sample_per_class: int = 0,
    sample_seed: int = 0,
) -> WSOLDataset:
    """Build a :class:`WSOLDataset`.

    Args:
        name: ``CUB`` (``CUB-200-2011``), ``ILSVRC``, ``OpenImages`` (``OpenImages30k``), ``SYNTH``
            or ``SYNTH_MASK`` (case-insensitive), or any name whose ``<metadata_root>/<name>/``
            folder exists (your own data set).
        data_root: folder holding ``<IMAGE_DIR>/`` (or the image folder itself).
        metadata_root: folder holding ``<DATASET>/<split>/``.
        split: ``train``, ``val`` (alias ``train-fullsup``) or ``test``.
        train: training transform (resize, random crop, flip) instead of the evaluation one.
        image_size: evaluation input side, also the frame of :meth:`WSOLDataset.gt_boxes` /
            :meth:`WSOLDataset.gt_mask` (protocol: 224).
        crop_size: training crop side (network input when training); default ``image_size``.
        resize_size: training resize side before the crop; default ``round(crop_size * 256 / 224)``
            (protocol: 256 for 224); also the resize side of the ``"paper"`` evaluation geometry.
        truncate_boxes: truncate the scaled ground-truth boxes toward zero as the protocol's
            ``resize_bbox`` (default); ``False`` keeps fractional coordinates.
        eval_geometry: ``"protocol"`` (resize to ``image_size``) or ``"paper"`` (resize to
            ``resize_size``, centre crop ``image_size``; boxes shifted and clipped).
        num_sample_per_class: keep this many images per class (the protocol's
            ``num_val_sample_per_class``, :func:`wsolx.data.subsample.subsample_per_class`);
            0 keeps every image.
        sample_seed: seed of that selection.

    Raises:
        ValueError: unknown name or split. FileNotFoundError: missing folder, metadata file or
        image. :class:`~wsolx.data.metadata.MetadataError`: malformed or inconsistent metadata.
    """
    split = canonical_split(split)
    metadata_root = Path(metadata_root)
    if not metadata_root.is_dir():
        raise FileNotFoundError(f"metadata_root not found: {metadata_root}")
    spec = dataset_spec_or_folder(name, metadata_root)
    meta = load_metadata(metadata_root / spec.name / split)
    if num_sample_per_class:
        meta = subsample_metadata(meta, num_sample_per_class, sample_seed)
    root = _image_root(spec, Path(data_root), meta.image_ids[0], meta)
    return WSOLDataset(
        root,
        meta,
        num_classes=_num_classes(spec, metadata_root, meta),
        train=train,
        image_size=image_size,
        crop_size=crop_size,
        resize_size=resize_size,
        name=spec.name,
        split=split,
        truncate_boxes=truncate_boxes,
        eval_geometry=eval_geometry,
    )


def collate_with_index(batch: Sequence[Tuple[Tensor, int, int]]) -> Tuple[Tensor, Tensor, Tensor]:
    """Collate ``(image, label, index)`` samples into ``(images (B, 3, S, S), labels (B,) int64,
    indices (B,) int64)``."""
    if len(batch) == 0:
        raise ValueError("collate_with_index: empty batch")
    images, labels, indices = zip(*batch)
    return (
        torch.stack(images, 0),
        torch.as_tensor(labels, dtype=torch.int64),
        torch.as_tensor(indices, dtype=torch.int64),
    )
