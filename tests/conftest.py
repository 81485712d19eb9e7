"""Fixtures shared by the test files.

``make_synth(**settings)`` writes a small synthetic data set (``wsolx.data.synthetic.generate``)
once per test session and settings, and returns its root; ``synth_root`` is the common tiny one
(2 classes, 4 / 2 / 2 images per class for train / val / test, 32 px, seed 0, masks). Tests must
not write into these folders: copy one (``shutil.copytree``) to change it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Tuple

import pytest


@pytest.fixture(scope="session")
def make_synth(tmp_path_factory) -> Callable[..., Path]:
    """``make_synth(num_classes=2, train_per_class=4, val_per_class=2, test_per_class=2,
    image_size=32, seed=0, masks=True) -> Path`` (cached per settings for the session)."""
    from wsolx.data import synthetic

    made: Dict[Tuple, Path] = {}

    def make(
        num_classes: int = 2,
        train_per_class: int = 4,
        val_per_class: int = 2,
        test_per_class: int = 2,
        image_size: int = 32,
        seed: int = 0,
        masks: bool = True,
    ) -> Path:
        key = (num_classes, train_per_class, val_per_class, test_per_class, image_size, seed, masks)
        if key not in made:
            root = tmp_path_factory.mktemp("synth")
            made[key] = synthetic.generate(
                root,
                num_classes=num_classes,
                train_per_class=train_per_class,
                val_per_class=val_per_class,
                test_per_class=test_per_class,
                image_size=image_size,
                seed=seed,
                masks=masks,
                progress=False,
            )
        return made[key]

    return make


@pytest.fixture(scope="session")
def synth_root(make_synth) -> Path:
    """The common tiny synthetic set (see the module docstring)."""
    return make_synth()
