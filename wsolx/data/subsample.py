"""The protocol's per-class subsample of the fully supervised validation split.

Choe et al.'s ``--num_val_sample_per_class N`` keeps N images of each class of the ``val``
(train-fullsup) split. Its rule, reproduced here:

1. the image ids in ``image_ids.txt`` order and their labels;
2. for each distinct label in increasing order, the positions of that label's images (in file
   order) and ``numpy.random.choice(positions, N, replace=False)`` drawn from numpy's legacy
   generator (``RandomState``) seeded once with the run's seed before the first class;
3. the kept ids in that order: class by class, within a class in the order drawn.

The protocol seeds numpy's global generator with ``--seed`` and draws nothing else from it before
building its data loaders, so with the same seed this gives the same images in the same order.
N = 0 keeps every image.
"""

from __future__ import annotations

import dataclasses
from typing import List, Sequence

import numpy as np

from wsolx.data.metadata import MetadataError, WSOLMetadata

__all__ = ["subsample_per_class", "subsample_metadata"]


def subsample_per_class(labels: Sequence[int], num_per_class: int, seed: int) -> List[int]:
    """Positions (into ``labels``) of the images kept by the protocol's per-class subsample.

    Args:
        labels: class label of each image, in ``image_ids.txt`` order.
        num_per_class: images kept per class (``0``: all, positions ``0 .. len - 1``).
        seed: seed of the ``numpy.random.RandomState`` that draws them.

    Raises:
        ValueError: ``num_per_class`` is negative or exceeds the images of some class.
    """
    if int(num_per_class) != num_per_class or num_per_class < 0:
        raise ValueError(f"num_per_class must be a non-negative integer, got {num_per_class!r}")
    if num_per_class == 0:
        return list(range(len(labels)))
    arr = np.asarray(labels)
    rng = np.random.RandomState(seed)
    kept: List[int] = []
    for label in np.unique(arr):
        positions = np.where(arr == label)[0]
        if len(positions) < num_per_class:
            raise ValueError(
                f"class {int(label)} has {len(positions)} images, fewer than the {num_per_class} per class requested"
            )
        kept.extend(int(i) for i in rng.choice(positions, num_per_class, replace=False))
    return kept


def subsample_metadata(meta: WSOLMetadata, num_per_class: int, seed: int) -> WSOLMetadata:
    """A copy of ``meta`` whose ``image_ids`` are :func:`subsample_per_class`'s selection
    (labels, sizes and ground truth keep every entry; only the id list changes)."""
    labels = [meta.labels[i] for i in meta.image_ids]
    try:
        keep = subsample_per_class(labels, num_per_class, seed)
    except ValueError as exc:
        raise MetadataError(f"{meta.directory / 'class_labels.txt'}: cannot subsample: {exc}") from None
    return dataclasses.replace(meta, image_ids=[meta.image_ids[i] for i in keep])
