"""Evaluate score maps produced anywhere: :func:`evaluate_scoremaps` (``wsolx eval-maps``).

What a map becomes (docs/semantics.md §3):

* a map at the evaluation size ``image_size x image_size`` is used as saved, exactly as the
  official standalone evaluator (``evaluation.py --scoremap_root``) uses it: no normalisation, and
  it must be a normalised map (values in ``[0, 1]``, else a one-line error naming the file);
* a map of any other size is a raw CAM and becomes the protocol's score map as the protocol's
  inference makes it: float64 cv2-exact bicubic resize to the evaluation size and min-max
  normalisation (:func:`wsolx.ops.upsample_scoremaps`, the same code as the box op);
* ``normalize="always"`` min-max normalises every map (also the full-size ones);
  ``normalize="never"`` requires every map at the evaluation size.

Presets of the official code (``preset=``; every setting may still be given explicitly):

=====================  ===========  ============  =========  ===========  ===============================
preset                 interval     contours      IoU (%)    headline     as
=====================  ===========  ============  =========  ===========  ===============================
``wsolevaluation``     0.001        all           30/50/70   mean (V2)    ``main.py`` (MaxBoxAccV2)
``wsolevaluation-cli`` 0.01         largest       30/50/70   IoU 50       ``evaluation.py`` defaults
=====================  ===========  ============  =========  ===========  ===============================

The result always holds MaxBoxAcc (largest box, IoU 0.5), MaxBoxAccV2 per IoU threshold (boxes
of every contour when ``multi_contour``) and their mean, the curves, GT-known Loc at the fixed
threshold, Top-1 / Top-5 Loc and Cls with predictions, PxAP with masks, and ``official``: the
one number the preset's official entry point reports.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from wsolx import protocol
from wsolx.data.scoremaps import ScoremapItem, ScoremapSource, image_id_lines, iter_scoremaps, read_predictions
from wsolx.errors import DataError, UsageError
from wsolx.metrics.scoremap_counters import ScoremapBoxCounter, ScoremapPixelCounter
from wsolx.metrics.thresholds import cam_thresholds

__all__ = ["ScoremapSettings", "PRESETS", "evaluate_scoremaps", "load_split"]

PathLike = Union[str, Path]
NORMALIZE_MODES = ("auto", "always", "never")


@dataclass(frozen=True)
class ScoremapSettings:
    """How score maps are scored (defaults: preset ``wsolevaluation``).

    Attributes:
        cam_curve_interval: threshold sweep ``np.arange(0, 1, interval)`` (boxes and PxAP bins).
        iou_thresholds: IoU thresholds of MaxBoxAccV2, fractions (``(0.3, 0.5, 0.7)``).
        multi_contour: the per-IoU curves use every contour's box (MaxBoxAccV2) or the largest.
        multi_iou: the headline ``official`` number is the mean over IoU thresholds (else IoU 0.5).
        fixed_threshold: threshold of GT-known / Top-k Loc (paper: 0.2; PaS: 0.35).
        percentile: standard value of the box thresholds (100: max, 90: PaS).
        image_size: evaluation side; ground truth is mapped to ``image_size x image_size``.
        normalize: ``auto`` / ``always`` / ``never`` (see the module docstring).
    """

    cam_curve_interval: float = protocol.CAM_CURVE_INTERVAL
    iou_thresholds: Tuple[float, ...] = protocol.IOU_THRESHOLDS
    multi_contour: bool = protocol.MULTI_CONTOUR
    multi_iou: bool = True
    fixed_threshold: float = protocol.CAM_THRESHOLD
    percentile: float = 100.0
    image_size: int = 224
    normalize: str = "auto"

    def validate(self) -> "ScoremapSettings":
        """Raise ``ValueError`` naming the first bad setting."""
        if not 0.0 < float(self.cam_curve_interval) <= 1.0:
            raise UsageError(f"cam_curve_interval must lie in (0, 1], got {self.cam_curve_interval}")
        if not self.iou_thresholds or not all(0.0 < float(d) <= 1.0 for d in self.iou_thresholds):
            raise UsageError(f"iou_thresholds must be fractions in (0, 1], got {list(self.iou_thresholds)}")
        if len(set(self.iou_thresholds)) != len(self.iou_thresholds):
            raise UsageError(f"iou_thresholds has duplicates: {list(self.iou_thresholds)}")
        if not self.multi_iou and 0.5 not in self.iou_thresholds:
            raise UsageError("without multi_iou the headline is the IoU-0.5 accuracy: iou_thresholds must contain 0.5")
        if not 0.0 <= float(self.fixed_threshold) <= 1.0:
            raise UsageError(f"fixed_threshold must lie in [0, 1], got {self.fixed_threshold}")
        if not 0.0 <= float(self.percentile) <= 100.0:
            raise UsageError(f"percentile must lie in [0, 100], got {self.percentile}")
        if int(self.image_size) < 1:
            raise UsageError(f"image_size must be >= 1, got {self.image_size}")
        if self.normalize not in NORMALIZE_MODES:
            raise UsageError(f"normalize must be one of {NORMALIZE_MODES}, got {self.normalize!r}")
        return self

    def thresholds(self) -> np.ndarray:
        return cam_thresholds(float(self.cam_curve_interval))


#: The official code's defaults.
PRESETS: Dict[str, ScoremapSettings] = {
    "wsolevaluation": ScoremapSettings(cam_curve_interval=0.001, multi_contour=True, multi_iou=True),
    "wsolevaluation-cli": ScoremapSettings(cam_curve_interval=0.01, multi_contour=False, multi_iou=False),
}


def _settings(preset: Optional[str], overrides: Mapping[str, Any]) -> ScoremapSettings:
    if preset is None:
        preset = "wsolevaluation"
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    if "iou_thresholds" in changes:
        changes["iou_thresholds"] = tuple(float(d) for d in changes["iou_thresholds"])
    return dataclasses.replace(PRESETS[preset], **changes).validate()


@dataclass
class _Split:
    """Ground truth of the evaluated split (boxes and / or masks) keyed by image id."""

    image_ids: List[str]
    labels: Dict[str, int]
    id_lines: Dict[str, int]
    image_ids_file: Path
    boxes: Optional[Any]  # WSOLDataset with boxes
    masks: Optional[Any]  # WSOLDataset with masks
    box_index: Dict[str, int]
    mask_index: Dict[str, int]
    name: str
    split: str
    mask_name: Optional[str]


def _dataset_of(meta: Any, root: Path, image_size: int, name: str, split: str) -> Any:
    from wsolx.data.datasets import WSOLDataset

    num_classes = max(meta.labels.values()) + 1
    return WSOLDataset(root, meta, num_classes=num_classes, train=False, image_size=image_size, name=name, split=split)


def _mask_root(mask_root: Optional[PathLike], name: str, meta: Any) -> Path:
    if mask_root is None:
        raise DataError(f"data set {name!r} has masks: give the folder its mask paths are relative to (--mask-root)")
    root = Path(mask_root)
    if not root.is_dir():
        raise FileNotFoundError(f"mask root not found: {root}")
    first = meta.masks[meta.image_ids[0]].mask_paths[0]
    for cand in (root, root / name):  # the official layout keeps OpenImages masks in <mask_root>/OpenImages
        if (cand / first).is_file():
            return cand
    raise FileNotFoundError(
        f"mask file not found: {first!r} (first mask of {meta.directory / 'localization.txt'}); "
        f"tried {root / first} and {root / name / first}"
    )


def load_split(
    metadata_root: PathLike,
    dataset: str,
    split: str,
    image_size: int,
    *,
    mask_root: Optional[PathLike] = None,
    mask_dataset: Optional[str] = None,
) -> _Split:
    """Read the metadata of ``<metadata_root>/<dataset>/<split>/`` (any data set name) and of the
    optional companion mask data set."""
    from wsolx.data.metadata import canonical_split, load_metadata

    split = canonical_split(split)
    meta_root = Path(metadata_root)
    if not meta_root.is_dir():
        raise FileNotFoundError(f"metadata root not found: {meta_root}")
    meta = load_metadata(meta_root / dataset / split)
    box_ds = _dataset_of(meta, meta_root, image_size, dataset, split) if meta.has_boxes else None
    mask_ds, mask_name = None, None
    if meta.has_masks:
        mask_ds, mask_name = (
            _dataset_of(meta, _mask_root(mask_root, dataset, meta), image_size, dataset, split),
            dataset,
        )
    if mask_dataset:
        mmeta = load_metadata(meta_root / mask_dataset / split)
        if not mmeta.has_masks:
            raise DataError(
                f"mask data set {mask_dataset!r}: {mmeta.directory / 'localization.txt'} has no "
                "'path,mask_path,ignore_path' rows"
            )
        known = set(meta.image_ids)
        extra = [i for i in mmeta.image_ids if i not in known]
        if extra:
            raise DataError(
                f"{mmeta.directory / 'image_ids.txt'}: image id {extra[0]!r} is not in "
                f"{meta.directory / 'image_ids.txt'}"
            )
        mask_ds = _dataset_of(mmeta, _mask_root(mask_root, mask_dataset, mmeta), image_size, mask_dataset, split)
        mask_name = mask_dataset
    if box_ds is None and mask_ds is None:
        raise DataError(
            f"{meta.directory}: the split has neither boxes nor masks to evaluate (no localization.txt; "
            "name a mask data set with --mask-dataset)"
        )
    ids_file = meta.directory / "image_ids.txt"
    return _Split(
        image_ids=list(meta.image_ids),
        labels=dict(meta.labels),
        id_lines=image_id_lines(ids_file),
        image_ids_file=ids_file,
        boxes=box_ds,
        masks=mask_ds,
        box_index={i: k for k, i in enumerate(box_ds.image_ids)} if box_ds is not None else {},
        mask_index={i: k for k, i in enumerate(mask_ds.image_ids)} if mask_ds is not None else {},
        name=dataset,
        split=split,
        mask_name=mask_name,
    )


def _check_range(item: ScoremapItem, size: int) -> None:
    a = item.array
    lo, hi = float(a.min()), float(a.max())
    if lo < 0.0 or hi > 1.0:
        raise DataError(
            f"{item.origin}: score map at the evaluation size {size}x{size} has values in [{lo:.6g}, {hi:.6g}], "
            "outside [0, 1]; the official evaluator requires normalised maps (save min-max normalised maps, save "
            "the raw low-resolution CAM instead, or pass normalize='always' / --normalize always)"
        )


class _Batcher:
    """Groups maps of the same size and kind into batches of ``batch_size``."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.pending: Dict[Tuple[Tuple[int, int], bool], List[ScoremapItem]] = {}

    def add(self, item: ScoremapItem, raw: bool) -> Optional[Tuple[bool, List[ScoremapItem]]]:
        key = (tuple(item.array.shape), raw)
        group = self.pending.setdefault(key, [])
        group.append(item)
        if len(group) >= self.batch_size:
            return raw, self.pending.pop(key)
        return None

    def flush(self):
        for (_, raw), group in list(self.pending.items()):
            yield raw, group
        self.pending.clear()


def evaluate_scoremaps(
    scoremaps: ScoremapSource,
    *,
    metadata_root: PathLike,
    dataset: str,
    split: str = "test",
    image_size: Optional[int] = None,
    mask_root: Optional[PathLike] = None,
    mask_dataset: Optional[str] = None,
    preset: Optional[str] = None,
    cam_curve_interval: Optional[float] = None,
    iou_thresholds: Optional[Sequence[float]] = None,
    multi_contour: Optional[bool] = None,
    multi_iou: Optional[bool] = None,
    fixed_threshold: Optional[float] = None,
    percentile: Optional[float] = None,
    normalize: Optional[str] = None,
    predictions: Optional[Union[PathLike, Mapping[str, Sequence[int]]]] = None,
    batch_size: int = 64,
    device: Optional[Union[str, torch.device]] = None,
    progress: bool = False,
    workers: int = 4,
) -> Dict[str, Any]:
    """Localisation metrics of saved score maps against the ground truth of a metadata split.

    Args:
        scoremaps: a folder of ``<image_id>.npy`` files, a mapping ``image_id -> (h, w) array /
            tensor`` or an iterable of ``(image_id, array)`` pairs; one map per image of the split.
        metadata_root / dataset / split: ``<metadata_root>/<dataset>/<split>/`` (any data set name
            whose folder exists; ``val`` alias ``train-fullsup``).
        image_size: evaluation side (default 224, as the protocol).
        mask_root: folder the mask paths of a mask data set are relative to (also
            ``<mask_root>/<dataset>/`` as the official layout).
        mask_dataset: companion mask data set (rows ``path,mask_path,ignore_path``) for PxAP.
        preset: ``wsolevaluation`` (default) or ``wsolevaluation-cli`` (see the module docstring).
        cam_curve_interval ... normalize: override the preset's :class:`ScoremapSettings`.
        predictions: CSV ``image_id,top1[,top2,...]`` or a mapping ``image_id -> [classes]``:
            adds Top-1 / Top-5 Loc and Cls.
        batch_size: maps per batch on ``device``.
        device: where the boxes are computed (default CPU).
        progress: tqdm bar.
        workers: threads reading ``.npy`` files ahead (0: none).

    Returns:
        ``{"dataset", "split", "num_images", "settings", "thresholds", "official", "official_metric",
        "MaxBoxAcc", "MaxBoxAccV2", "MaxBoxAccV2@<d>", "box_acc_curve", "box_acc_curve_v1",
        "GT-known Loc", "Top-1 Loc", "Top-5 Loc", "Top-1 Cls", "Top-5 Cls", "PxAP", "pxap_curve", ...}``
        (box keys only with boxes, PxAP keys only with masks; Top-k ``None`` without predictions).

    Raises:
        FileNotFoundError: a missing folder, metadata file, map or mask file.
        UsageError: a bad setting (a ``ValueError`` too).
        DataError: a bad map (naming the file / image id), an image id not in the metadata, a
            malformed predictions row (``file:line``) (a ``ValueError`` too).
        MetadataError: malformed metadata files.
    """
    from tqdm.auto import tqdm

    from wsolx.ops import upsample_scoremaps

    settings = _settings(
        preset,
        dict(
            cam_curve_interval=cam_curve_interval,
            iou_thresholds=iou_thresholds,
            multi_contour=multi_contour,
            multi_iou=multi_iou,
            fixed_threshold=fixed_threshold,
            percentile=percentile,
            image_size=image_size,
            normalize=normalize,
        ),
    )
    if int(batch_size) < 1:
        raise UsageError(f"batch_size must be >= 1, got {batch_size}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    size = int(settings.image_size)
    data = load_split(metadata_root, dataset, split, size, mask_root=mask_root, mask_dataset=mask_dataset)
    preds: Optional[Dict[str, List[int]]] = None
    if predictions is not None:
        if isinstance(predictions, (str, Path)):
            preds = read_predictions(predictions, data.image_ids, ids_file=str(data.image_ids_file))
        else:
            preds = {str(k): [int(c) for c in v] for k, v in predictions.items()}
            missing = [i for i in data.image_ids if not preds.get(i)]
            if missing:
                raise DataError(f"predictions: no classes for image id {missing[0]!r} ({len(missing)} image(s))")
    thresholds = settings.thresholds()
    boxes = (
        ScoremapBoxCounter(
            thresholds=thresholds,
            iou_thresholds=settings.iou_thresholds,
            multi_box=settings.multi_contour,
            percentile=settings.percentile,
            fixed_threshold=settings.fixed_threshold,
            device=dev,
        )
        if data.boxes is not None
        else None
    )
    pixels = ScoremapPixelCounter(thresholds=thresholds, device=dev) if data.masks is not None else None

    def run(raw: bool, group: List[ScoremapItem]) -> None:
        x = torch.from_numpy(np.stack([it.array for it in group])).to(dev)
        # Raw CAMs become score maps in the box op (fused); PxAP needs the score maps themselves.
        s = upsample_scoremaps(x, (size, size), normalize=True) if raw and pixels is not None else x
        normalize = raw and pixels is None
        ids = [it.image_id for it in group]
        if boxes is not None:
            gt, counts = data.boxes.gt_boxes_batch([data.box_index[i] for i in ids], dtype=torch.float64)
            valid = torch.arange(gt.size(1))[None, :] < counts[:, None]
            lab = pred = None
            if preds is not None:
                lab = torch.tensor([data.labels[i] for i in ids], dtype=torch.int64)
                k = max(len(preds[i]) for i in ids)
                pred = torch.full((len(ids), k), -1, dtype=torch.int64)
                for r, i in enumerate(ids):
                    pred[r, : len(preds[i])] = torch.tensor(preds[i], dtype=torch.int64)
            boxes.update(s, gt, valid, image_size=(size, size), normalize=normalize, labels=lab, predictions=pred)
        if pixels is not None:
            have = [r for r, i in enumerate(ids) if i in data.mask_index]
            if have:
                m, g = data.masks.gt_masks_batch([data.mask_index[ids[r]] for r in have])
                pixels.update(s[have] if len(have) < len(ids) else s, m, g)

    batcher = _Batcher(int(batch_size))
    items = iter_scoremaps(
        scoremaps, data.image_ids, id_lines=data.id_lines, image_ids_file=data.image_ids_file, workers=int(workers)
    )
    bar = tqdm(
        items, total=len(data.image_ids), desc="eval-maps", disable=not progress, leave=False, dynamic_ncols=True
    )
    n = 0
    for item in bar:
        full = tuple(item.array.shape) == (size, size)
        if settings.normalize == "never" and not full:
            raise DataError(
                f"{item.origin}: score map of shape {tuple(item.array.shape)}, expected {size}x{size} "
                "(normalize='never' uses every map as saved)"
            )
        raw = settings.normalize == "always" or not full
        if not raw:
            _check_range(item, size)
        ready = batcher.add(item, raw)
        if ready is not None:
            run(*ready)
        n += 1
    bar.close()
    for raw, group in batcher.flush():
        run(raw, group)

    out: Dict[str, Any] = {
        "dataset": data.name,
        "split": data.split,
        "num_images": n,
        "settings": dataclasses.asdict(settings),
        "thresholds": thresholds.tolist(),
    }
    if preset is not None:
        out["preset"] = preset
    if boxes is not None:
        out.update(boxes.compute())
        if settings.multi_iou:
            out["official"], out["official_metric"] = out["MaxBoxAccV2"], "mean over IoU thresholds"
        else:
            out["official"], out["official_metric"] = out["MaxBoxAccV2@0.5"], "IoU 0.5"
    if pixels is not None:
        out.update(pixels.compute())
        out["mask_dataset"] = data.mask_name
        if boxes is None:
            out["official"], out["official_metric"] = out["PxAP"], "PxAP"
    return out
