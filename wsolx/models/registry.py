"""Model registry: ``get_model(arch, **kwargs)`` and ``list_models()``."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, TypeVar

from torch import nn

__all__ = ["register_model", "get_model", "list_models"]

_MODELS: Dict[str, Callable[..., nn.Module]] = {}

F = TypeVar("F", bound=Callable[..., nn.Module])


def register_model(name: str) -> Callable[[F], F]:
    """Decorator registering a builder ``builder(*, num_classes, ...) -> WSOLModel`` under ``name``."""

    def deco(fn: F) -> F:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = fn
        return fn

    return deco


def list_models() -> List[str]:
    """Sorted names of the registered architectures."""
    return sorted(_MODELS)


def get_model(arch: str, **kwargs: Any) -> nn.Module:
    """Build a registered architecture, e.g. ``get_model("vgg16", num_classes=200, method="adl")``.

    Keyword arguments go to the builder (``num_classes``, ``pooling``, ``tap_theta``,
    ``large_feature_map``, ``weights``, ``method`` and the method's hyper-parameters).
    """
    try:
        builder = _MODELS[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; available: {list_models()}") from None
    return builder(**kwargs)
