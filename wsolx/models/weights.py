"""Loading pretrained ImageNet weights from a local file (never from the network).

``weights=`` of every builder accepts a path to a file written by ``torch.save(state_dict)`` (the
torchvision ``.pth`` files are such files) or an in-memory state dict. The classifier keys of the
source model (``model.pretrained_drop_prefixes``, e.g. VGG16's ``classifier.*``, ResNet50's
``fc.*``) are dropped, the rest must match the model's trunk exactly: every trunk tensor present,
no extra key, same shapes. Otherwise :class:`PretrainedWeightsError` lists the missing, unexpected
and mis-shaped keys. New layers (neck, classifier, method heads) keep their initialisation.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, List, Mapping

from torch import Tensor

from wsolx.errors import WsolxError
from wsolx.serialization import content_digest, load_error_reason, safe_load

if TYPE_CHECKING:  # pragma: no cover
    from wsolx.models.base import WSOLModel

__all__ = ["PretrainedWeightsError", "read_state_dict", "load_pretrained_weights"]

_SHOW = 12  # keys listed per category in error messages


class PretrainedWeightsError(WsolxError, ValueError):
    """The pretrained state dict does not match the model's trunk."""


def read_state_dict(weights: Any) -> Dict[str, Tensor]:
    """A ``{name: tensor}`` state dict from a local file path or a mapping.

    Accepts ``{"state_dict": ...}`` / ``{"model": ...}`` checkpoints (a wsolx checkpoint too: its
    checksum is verified and its model state dict returned) and strips a ``module.`` prefix
    (DataParallel). Files are read with ``weights_only=True`` (plus NumPy arrays): nothing in them
    runs. URLs and torchvision ``WeightsEnum`` values are refused: wsolx never downloads weights.

    Raises:
        FileNotFoundError: no such file. PretrainedWeightsError: an unreadable, empty, truncated or
        corrupt file, or one that holds no state dict of tensors.
    """
    return _read_state_dict(weights)[0]


def _is_wsolx_checkpoint(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and "wsolx_version" in obj
        and "config" in obj
        and isinstance(obj.get("model"), Mapping)
    )


def _read_state_dict(weights: Any) -> "tuple[Dict[str, Tensor], bool]":
    """:func:`read_state_dict` and whether the source was a wsolx checkpoint."""
    from_wsolx = False
    if isinstance(weights, Mapping):
        obj: Any = weights
        where = "the given state dict"
    elif isinstance(weights, (str, os.PathLike)):
        path = os.fspath(weights)
        if "://" in path:
            raise ValueError(f"weights={path!r} looks like a URL; wsolx never downloads weights, pass a local file")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"weights file not found: {path!r}")
        if os.path.getsize(path) == 0:
            raise PretrainedWeightsError(f"weights file {path!r} is empty (0 bytes)")
        try:
            try:
                obj = safe_load(path, map_location="cpu", mmap=True)
            except RuntimeError:  # legacy (non-zip) serialisation cannot be memory-mapped
                obj = safe_load(path, map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - any unpickling problem means an unusable file
            raise PretrainedWeightsError(
                f"weights file {path!r} could not be read as a torch state dict (truncated, corrupt or "
                f"another format): {load_error_reason(exc)}"
            ) from None
        where = repr(path)
        if _is_wsolx_checkpoint(obj):
            stored = obj.get("checksum")
            if isinstance(stored, Mapping) and stored.get("sha256") != content_digest(obj):
                raise PretrainedWeightsError(f"weights file {path!r} is a corrupt wsolx checkpoint (checksum mismatch)")
            from_wsolx = True
    else:
        raise TypeError(
            "weights must be a local file path or a state dict (torchvision WeightsEnum values are not "
            f"accepted: wsolx never downloads), got {type(weights).__name__}"
        )
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
    if not isinstance(obj, Mapping):
        raise TypeError(f"{where} does not hold a state dict (got {type(obj).__name__})")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise TypeError(f"{where} is not a state dict of tensors; offending keys: {bad[:_SHOW]}")
    sd = dict(obj)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd, from_wsolx


def _fmt(keys: List[str]) -> str:
    more = f" ... (+{len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
    return ", ".join(keys[:_SHOW]) + more


def load_pretrained_weights(model: "WSOLModel", weights: Any) -> None:
    """Load pretrained weights into ``model``'s trunk, strictly.

    Args:
        model: a :class:`~wsolx.models.base.WSOLModel`.
        weights: local file path or state dict (see :func:`read_state_dict`).

    Raises:
        PretrainedWeightsError: missing / unexpected / mis-shaped keys, all listed.
    """
    sd, from_wsolx = _read_state_dict(weights)
    drop = tuple(model.pretrained_drop_prefixes)
    if from_wsolx:  # a wsolx checkpoint: its trunk initialises this model's trunk; heads stay new
        sd = {k: v for k, v in sd.items() if model.is_pretrained_key(k)}
    else:
        sd = {k: v for k, v in sd.items() if not k.startswith(drop)}
    own = {k: v for k, v in model.state_dict().items() if model.is_pretrained_key(k)}
    # Checkpoints older than PyTorch 0.4.1 (e.g. torchvision's original .pth files) have no
    # BatchNorm ``num_batches_tracked`` buffers; those default to 0.
    missing = sorted(k for k in set(own) - set(sd) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(sd) - set(own))
    mismatched = sorted(k for k in set(sd) & set(own) if tuple(sd[k].shape) != tuple(own[k].shape))
    if missing or unexpected or mismatched:
        lines = [
            f"{model.arch}: pretrained weights do not match the model's trunk "
            f"(classifier keys {list(drop)} were dropped first)."
        ]
        if missing:
            lines.append(f"  missing ({len(missing)}): {_fmt(missing)}")
        if unexpected:
            lines.append(f"  unexpected ({len(unexpected)}): {_fmt(unexpected)}")
        if mismatched:
            shown = [f"{k}: file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}" for k in mismatched]
            lines.append(f"  shape mismatch ({len(mismatched)}): {_fmt(shown)}")
        raise PretrainedWeightsError("\n".join(lines))
    result = model.load_state_dict(sd, strict=False)
    if result.unexpected_keys:  # cannot happen after the checks above
        raise PretrainedWeightsError(f"{model.arch}: unexpected keys {result.unexpected_keys}")
