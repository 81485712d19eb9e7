"""WSOL methods: CAM, HaS, ACoL, SPG, ADL, CutMix (protocol defaults of Choe et al., CVPR 2020).

A method is attached to a model by the model builder (``vgg16(..., method="has", grid_size=56)``)
and lives at ``model.method``; ``model.training_loss(images, labels)`` runs its objective. Every
method keeps the model's pooling (TAP or GAP), leaves the eval-mode forward path unchanged, and
composes with NWC (``model.cams(x, labels, clamp_negative=True)``) and PaS (the evaluator's).
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Type

from wsolx.methods.acol import ACoL, ACoLOutput, acol_erase
from wsolx.methods.adl import ADL, ADLayer
from wsolx.methods.base import CAM, WSOLMethod, minmax_normalize
from wsolx.methods.cutmix import CutMix, CutMixResult, cutmix, cutmix_box
from wsolx.methods.has import HaS, has_erase, has_mask
from wsolx.methods.host import MethodHost
from wsolx.methods.spg import SPG, masked_bce_with_logits, spg_mask

__all__ = [
    "WSOLMethod",
    "MethodHost",
    "CAM",
    "HaS",
    "ACoL",
    "SPG",
    "ADL",
    "CutMix",
    "ADLayer",
    "ACoLOutput",
    "CutMixResult",
    "METHODS",
    "build_method",
    "list_methods",
    "has_mask",
    "has_erase",
    "acol_erase",
    "spg_mask",
    "masked_bce_with_logits",
    "cutmix",
    "cutmix_box",
    "minmax_normalize",
]

METHODS: Dict[str, Type[WSOLMethod]] = {cls.name: cls for cls in (CAM, HaS, ACoL, SPG, ADL, CutMix)}


def list_methods() -> List[str]:
    """Names of the available methods."""
    return list(METHODS)


def build_method(name: str, **kwargs: Any) -> WSOLMethod:
    """Instantiate a method by name with its hyper-parameters, e.g. ``build_method("adl", gamma=0.8)``."""
    key = name.lower() if isinstance(name, str) else name
    if key not in METHODS:
        raise ValueError(f"unknown WSOL method {name!r}; available: {list_methods()}")
    cls = METHODS[key]
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise TypeError(f"method {key!r} got unexpected hyper-parameters {unknown}; accepted: {params}")
    return cls(**kwargs)
