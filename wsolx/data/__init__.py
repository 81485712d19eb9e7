"""wsolx.data: WSOL data sets in the standard metadata layout, protocol transforms, synthetic data.

Public API::

    get_dataset(name, data_root, metadata_root, split, *, train, image_size=224, crop_size=None,
                resize_size=None, truncate_boxes=True, eval_geometry="protocol",
                num_sample_per_class=0, sample_seed=0) -> WSOLDataset
    geometry: the paper's evaluation geometry (paper_boxes, paper_eval_transform, paper_mask)
    subsample: the protocol's per-class validation subsample (subsample_per_class)
    WSOLDataset: ds[i] -> (image (3, S, S) float32, label, index); len(ds); ds.num_classes;
                 ds.image_ids; ds.gt_boxes(i) (G, 4); ds.has_masks; ds.gt_mask(i); ds.load_raw(i)
    collate_with_index(batch) -> (images (B, 3, S, S), labels (B,), indices (B,))
    synthetic.generate(root, ...) -> Path     (``from wsolx.data import synthetic``; also
                                              ``python -m wsolx.data.synthetic``); generate_synthetic
"""

from pathlib import Path
from typing import Any, Union

from wsolx.data.datasets import (
    DATASETS,
    DatasetSpec,
    WSOLDataset,
    collate_with_index,
    dataset_spec,
    get_dataset,
    register_dataset,
)
from wsolx.data.metadata import SPLITS, MaskEntry, MetadataError, WSOLMetadata, canonical_split, load_metadata
from wsolx.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    denormalize,
    eval_transform,
    resize_boxes,
    resize_mask_nearest,
    train_transform,
)


def generate_synthetic(root: Union[str, Path], **kwargs: Any) -> Path:
    """:func:`wsolx.data.synthetic.generate` (same arguments). The module is imported on call, not
    with the package, so that ``python -m wsolx.data.synthetic`` runs it only once."""
    from wsolx.data.synthetic import generate

    return generate(root, **kwargs)


__all__ = [
    "get_dataset",
    "WSOLDataset",
    "collate_with_index",
    "DatasetSpec",
    "DATASETS",
    "dataset_spec",
    "register_dataset",
    "load_metadata",
    "WSOLMetadata",
    "MaskEntry",
    "MetadataError",
    "SPLITS",
    "canonical_split",
    "train_transform",
    "eval_transform",
    "resize_boxes",
    "resize_mask_nearest",
    "denormalize",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "synthetic",
    "generate_synthetic",
]
