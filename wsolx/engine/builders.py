"""Build the pieces of a run from a :class:`Config`: defaults, data sets and model.

Every failure here is turned into a :class:`ConfigError` whose message names the offending setting
(unknown arch or method, missing data root, ...), so the CLI can print it without a traceback.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, List, Mapping, Optional

from torch import nn

from wsolx.engine.config import Config, ConfigError

__all__ = [
    "resolve_defaults",
    "model_defaults",
    "build_dataset",
    "build_model",
    "check_model_names",
    "check_input_sizes",
]


def model_defaults(arch: str, method: str = "cam", dataset: str = "CUB", profile: str = "protocol") -> Dict[str, Any]:
    """Training defaults from :func:`wsolx.models.get_defaults`.

    A data set the table does not know (``SYNTH``, a custom one) takes the CUB schedule, except for
    ``vgg_tiny`` whose demo schedule does not depend on the data set.

    Raises:
        ConfigError: no defaults exist for the architecture, method or profile.
    """
    from wsolx.adapters.foreign import foreign_defaults, is_foreign_arch
    from wsolx.models import DEFAULTS, get_defaults

    if is_foreign_arch(arch):  # torchvision / timm model: the data set's schedule, no learning rate
        return foreign_defaults(dataset)
    known = DEFAULTS.get("datasets", {})
    canonical = {k.lower(): k for k in known}
    ds = canonical.get(dataset.lower(), "CUB")
    try:
        return get_defaults(arch, method, ds, profile)
    except (KeyError, ValueError) as exc:
        msg = _reason(exc)
        raise ConfigError(
            f"no training defaults for {arch!r}/{method!r} on {ds!r} ({profile}): {msg}; "
            "set optim.lr, optim.weight_decay, optim.epochs explicitly"
        ) from None


def resolve_defaults(cfg: Config) -> Config:
    """A copy of ``cfg`` whose unset fields are filled from :func:`model_defaults`, validated.

    Filled when ``None``: the optimiser (lr, new-layer ratio, pretrained gradient scale, momentum,
    Nesterov, weight decay), the schedule (epochs, lr step or milestones, decay factor), the batch
    sizes, ``model.large_feature_map`` and ``model.tap_theta``; ``model.method_kwargs`` gets the
    method's hyper-parameters it leaves out. This is the one validation of a run's settings
    (:class:`~wsolx.engine.trainer.Trainer` and ``wsolx train --print-config`` go through it).

    Raises:
        ConfigError: a bad value (the first one, as :meth:`Config.validate` names it), or a value
            without a default (e.g. MobileNetV1's learning rate) that was not set.
    """
    check_model_names(cfg)
    o, m, dc = cfg.optim, cfg.model, cfg.data
    # An unknown profile is reported by the validation below; fill the rest as the protocol would.
    d = model_defaults(m.arch, m.method, dc.dataset, o.profile if o.profile in _PROFILES else "protocol")

    missing: List[str] = []  # every required setting without a value, reported in one error

    def pick(value: Any, key: str, name: str, required: bool = True) -> Any:
        if value is not None:
            return value
        if d.get(key) is None and required:
            missing.append(name)
            return 1  # placeholder (valid for every such field); the ConfigError below names it
        return d.get(key)

    milestones = o.lr_milestones if o.lr_milestones is not None else list(d.get("lr_milestones") or [])
    lr_step = pick(o.lr_step, "lr_decay_every", "optim.lr_step", required=False)
    optim = dataclasses.replace(
        o,
        lr=_as_float(pick(o.lr, "lr", "optim.lr")),
        new_lr_ratio=_as_float(pick(o.new_lr_ratio, "new_lr_ratio", "optim.new_lr_ratio")),
        pretrained_grad_scale=_as_float(
            pick(o.pretrained_grad_scale, "pretrained_grad_scale", "optim.pretrained_grad_scale")
        ),
        momentum=_as_float(pick(o.momentum, "momentum", "optim.momentum")),
        nesterov=pick(o.nesterov, "nesterov", "optim.nesterov"),
        weight_decay=_as_float(pick(o.weight_decay, "weight_decay", "optim.weight_decay")),
        epochs=pick(o.epochs, "epochs", "optim.epochs"),
        lr_step=0 if lr_step is None else lr_step,
        lr_milestones=list(milestones),
        lr_gamma=_as_float(pick(o.lr_gamma, "lr_decay_gamma", "optim.lr_gamma")),
    )
    method_kwargs = m.method_kwargs
    if isinstance(method_kwargs, Mapping):  # the method's defaults, as JSON would give them back
        method_kwargs = {**json.loads(json.dumps(d.get("method_kwargs") or {})), **method_kwargs}
    model = dataclasses.replace(
        m,
        tap_theta=_as_float(pick(m.tap_theta, "tap_theta", "model.tap_theta")),
        large_feature_map=bool(
            pick(m.large_feature_map, "large_feature_map", "model.large_feature_map", required=False)
        ),
        method_kwargs=method_kwargs,
    )
    bs = pick(dc.batch_size, "batch_size", "data.batch_size")
    data = dataclasses.replace(
        dc, batch_size=bs, eval_batch_size=bs if dc.eval_batch_size is None else dc.eval_batch_size
    )
    resolved = dataclasses.replace(cfg, optim=optim, model=model, data=data).validate()
    if missing:
        sets = " ".join(f"--set {n}=..." for n in missing)
        raise ConfigError(
            f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no default for {m.arch!r} "
            f"on {dc.dataset!r}; set {'it' if len(missing) == 1 else 'them'} ({sets})"
        )
    return resolved


_PROFILES = ("protocol", "paper")


def _as_float(value: Any) -> Any:
    """``float(value)`` for a real number (an int from Python becomes a float, as JSON would give
    it); anything else unchanged, for :meth:`Config.validate` to name."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def check_model_names(cfg: Config) -> None:
    """Raise :class:`ConfigError` for an unknown ``model.arch`` or ``model.method``."""
    from wsolx import models
    from wsolx.adapters.foreign import is_foreign_arch
    from wsolx.methods import list_methods

    if is_foreign_arch(cfg.model.arch):  # tv:NAME / timm:NAME, resolved when the model is built
        if cfg.model.method != "cam":
            raise ConfigError(
                f"model.arch {cfg.model.arch!r} (torchvision / timm) trains with method 'cam' only, "
                f"got {cfg.model.method!r}"
            )
        return
    archs = models.list_models()
    if cfg.model.arch not in archs:
        raise ConfigError(f"unknown model.arch {cfg.model.arch!r}; available: {sorted(archs)}")
    methods = list_methods()
    if cfg.model.method not in methods:
        raise ConfigError(f"unknown model.method {cfg.model.method!r}; available: {sorted(methods)}")


def _reason(exc: BaseException) -> str:
    """The whole message of ``exc`` (``exc.args[0]`` alone can be a bare key or codec name)."""
    if isinstance(exc, KeyError):
        return f"missing entry {exc}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    return str(exc) or type(exc).__name__


def build_dataset(cfg: Config, split: str, *, train: bool, dataset: Optional[str] = None) -> Any:
    """The :class:`wsolx.data.WSOLDataset` of ``split`` (checked paths, errors as :class:`ConfigError`)."""
    from wsolx.data import get_dataset

    cfg.check_paths()
    name = dataset or cfg.data.dataset
    try:
        return get_dataset(
            name,
            cfg.data.data_root,
            cfg.data.resolved_metadata_root(),
            split,
            train=train,
            image_size=cfg.data.image_size,
            crop_size=cfg.data.crop_size,
            resize_size=cfg.data.resize_size,
            truncate_boxes=not cfg.data.fractional_gt_boxes,
            eval_geometry=cfg.data.eval_geometry,
            num_sample_per_class=cfg.data.num_val_sample_per_class
            if (split == cfg.data.val_split and not train)
            else 0,
            sample_seed=cfg.seed,
        )
    except (FileNotFoundError, KeyError, ValueError) as exc:
        msg = _reason(exc)
        raise ConfigError(f"cannot load split {split!r} of data set {name!r}: {msg}") from exc


_PROBE_BELOW = 160  # input sides below this are probed by check_input_sizes


def check_input_sizes(model: nn.Module, cfg: Config, device: Any, *, train: bool = True) -> None:
    """Run the model once on a zero image of each input side it will see (``data.crop_size`` when
    training, ``data.image_size``) so that a side too small for the backbone is a
    :class:`ConfigError` naming the setting, before any data is read.
    """
    import torch

    sides = []
    if train:
        sides.append(("data.crop_size", int(cfg.data.crop_size or cfg.data.image_size)))
    sides.append(("data.image_size", int(cfg.data.image_size)))
    # Only small sides can be too small for a backbone (the smallest needs 75 px); larger ones are
    # not run here, so a huge size never allocates a huge probe.
    sides = [(name, side) for name, side in sides if side < _PROBE_BELOW]
    was_training = model.training
    model.eval()
    try:
        for name, side in sides:
            try:
                with torch.no_grad():
                    model(torch.zeros(1, 3, side, side, device=device))
            except RuntimeError as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ConfigError(
                    f"{name} {side} is too small for model.arch {cfg.model.arch!r} (input {side}x{side}): {first}"
                ) from None
    finally:
        model.train(was_training)


def build_model(cfg: Config, num_classes: int) -> nn.Module:
    """:func:`wsolx.models.get_model` with the config's model section."""
    from wsolx.models import get_model

    check_model_names(cfg)
    m = cfg.model
    from wsolx.adapters.foreign import build_foreign_model, is_foreign_arch

    if is_foreign_arch(m.arch):
        try:
            return build_foreign_model(
                m.arch, num_classes=num_classes, pooling=m.pooling, tap_theta=m.tap_theta, weights=m.weights or None
            )
        except (ValueError, TypeError, FileNotFoundError) as exc:
            raise ConfigError(f"cannot build model {m.arch!r}: {exc.args[0] if exc.args else exc}") from exc
    try:
        return get_model(
            m.arch,
            num_classes=num_classes,
            pooling=m.pooling,
            tap_theta=m.tap_theta,
            large_feature_map=bool(m.large_feature_map),
            weights=m.weights,
            method=m.method,
            **m.method_kwargs,
        )
    except (KeyError, ValueError, TypeError, FileNotFoundError) as exc:
        msg = _reason(exc)
        raise ConfigError(f"cannot build model {m.arch!r} with method {m.method!r}: {msg}") from exc
