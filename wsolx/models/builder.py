"""The one builder behind every registered CAM backbone (timm style).

Each registered builder (:func:`wsolx.models.vgg16`, ...) is a thin function that forwards its
keyword arguments to :func:`build_cam_model` with its architecture's factory, so the keyword list,
its defaults and its documentation are written once, here; :func:`cam_builder` gives the thin
builders this signature for ``help()`` and ``inspect.signature``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional, TypeVar

from torch import nn

from wsolx.models.defaults import default_method_kwargs, default_tap_theta

__all__ = ["build_cam_model", "cam_builder"]

M = TypeVar("M", bound=nn.Module)
F = TypeVar("F", bound=Callable[..., nn.Module])


def build_cam_model(
    arch: str,
    make: Callable[..., M],
    *,
    num_classes: int,
    pooling: str = "tap",
    tap_theta: Optional[float] = None,
    large_feature_map: bool = False,
    weights: Any = None,
    method: Any = "cam",
    **method_kwargs: Any,
) -> M:
    """Build the CAM model ``arch`` with ``make`` (the architecture's class or factory).

    Args:
        arch: registered architecture name (selects the defaults of :data:`wsolx.models.DEFAULTS`).
        make: ``make(num_classes=, pooling=, tap_theta=, large_feature_map=, weights=, method=,
            method_kwargs=)`` returning the model.
        num_classes: number of classes.
        pooling: ``"tap"`` (Thresholded Average Pooling) or ``"gap"`` (global average pooling).
        tap_theta: TAP threshold ratio in ``[0, 1]``; ``None`` takes the backbone's entry of
            :data:`wsolx.models.DEFAULTS` (the paper's 0.1).
        large_feature_map: the protocol's 28x28 variant at 224 input (14x14 otherwise); see the
            architecture's builder for the layer it changes.
        weights: ``None``, a local file or an in-memory state dict of the backbone's pretrained
            weights (see the architecture's builder for the expected naming).
        method: WSOL method name (``cam``, ``has``, ``acol``, ``spg``, ``adl``, ``cutmix``) or a
            :class:`wsolx.methods.WSOLMethod` instance.
        **method_kwargs: hyper-parameters of a method given by name; the ones left out take the
            method's entry of :data:`wsolx.models.DEFAULTS` (the protocol's values).

    Returns:
        The model built by ``make``.
    """
    if tap_theta is None:
        tap_theta = default_tap_theta(arch)
    if isinstance(method, str):
        method_kwargs = {**default_method_kwargs(method), **method_kwargs}
    return make(
        num_classes=num_classes,
        pooling=pooling,
        tap_theta=tap_theta,
        large_feature_map=large_feature_map,
        weights=weights,
        method=method,
        method_kwargs=method_kwargs,
    )


_SHARED = [p for name, p in inspect.signature(build_cam_model).parameters.items() if name not in ("arch", "make")]


def cam_builder(fn: F) -> F:
    """Give a thin builder ``fn(*, own_args..., **kwargs)`` the signature of :func:`build_cam_model`
    (its own keyword-only arguments after the shared ones, ``**method_kwargs`` last)."""
    own = [p for p in inspect.signature(fn).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    shared = [p for p in _SHARED if p.kind is not inspect.Parameter.VAR_KEYWORD]
    var_kw = [p for p in _SHARED if p.kind is inspect.Parameter.VAR_KEYWORD]
    sig = inspect.signature(fn)
    fn.__signature__ = sig.replace(parameters=shared + own + var_kw)  # type: ignore[attr-defined]
    return fn
