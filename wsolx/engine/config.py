"""Run configuration: nested dataclasses, validation, JSON load/save and ``key=value`` overrides.

A :class:`Config` has four sections (``data``, ``model``, ``optim``, ``eval``) plus run-level
fields. Optional numbers left at ``None`` (learning rate, epochs, batch size, ...) are filled from
``wsolx.models.DEFAULTS`` by :func:`wsolx.engine.builders.resolve_defaults` when a run starts, so
a saved config records what was actually used.

Files are JSON, or YAML (``.yaml`` / ``.yml``, needs PyYAML: ``pip install 'wsolx[yaml]'``)
with the same keys, checks and messages; an error names the file, the key and, in YAML, its line::

    cfg = Config.from_dict({"data": {"data_root": "data/synth"}, "model": {"arch": "vgg_tiny"}})
    cfg.save("run/config.json"); cfg.save("run/config.yaml")
    cfg = load_config("run/config.yaml", overrides=["optim.lr=0.01", "model.pooling=gap"])
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from wsolx import protocol
from wsolx.errors import WsolxError, disk_write_error

__all__ = [
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "EvalConfig",
    "Config",
    "VARIANTS",
    "SELECT_METRICS",
    "load_config",
    "parse_override",
    "LOGGERS",
    "yaml_available",
]

#: Extra per-epoch logs of ``wsolx train --log``: ``summary.csv`` and TensorBoard event files.
LOGGERS = ("csv", "tensorboard")

#: Localisation variants an evaluation can report: NWC (Negative Weight Clamping) and PaS
#: (Percentile as a Standard) switched on or off.
VARIANTS: Dict[str, Tuple[bool, bool]] = {
    "base": (False, False),
    "nwc": (True, False),
    "pas": (False, True),
    "nwc+pas": (True, True),
}

#: Metrics that can pick the best checkpoint on the validation split (larger is better).
SELECT_METRICS = ("MaxBoxAccV2", "MaxBoxAcc", "GT-known Loc", "Top-1 Loc", "Top-1 Cls", "PxAP")


class ConfigError(WsolxError, ValueError):
    """A bad configuration value, an unknown key or a missing path; the message says which."""


@dataclass
class DataConfig:
    """Where the data set lives and how it is batched.

    Attributes:
        dataset: data set name in the metadata layout (``CUB``, ``ILSVRC``, ``OpenImages``, ``SYNTH``).
        data_root: folder holding the images.
        metadata_root: folder holding ``<dataset>/<split>/*.txt``; ``""`` means ``<data_root>/metadata``.
        image_size: evaluation input side, also the frame of the ground truth (protocol: 224).
        crop_size: training crop side; ``None`` means ``image_size``.
        resize_size: training resize side before the random crop; ``None`` means
            ``round(crop_size * 256 / 224)`` (protocol: 256 for 224).
        mask_dataset: a companion data set with pixel masks on the test split (e.g. ``SYNTH_MASK``),
            evaluated for PxAP besides ``dataset``; ``""`` for none (a data set whose own split has
            masks, such as OpenImages, gets PxAP anyway).
        batch_size: per-process training batch; ``None`` takes the model default.
        eval_batch_size: per-process evaluation batch; ``None`` means ``batch_size``.
        num_workers: DataLoader workers per process.
        train_split / val_split / test_split: split folder names (``val`` is train-fullsup).
        num_val_sample_per_class: keep this many images per class of the validation split, chosen
            as the protocol's ``--num_val_sample_per_class`` does (seeded with ``seed``,
            :mod:`wsolx.data.subsample`); 0 keeps them all.
        fractional_gt_boxes: keep the scaled ground-truth boxes fractional instead of truncating
            them toward zero as the protocol's ``resize_bbox`` does.
        eval_geometry: ``protocol`` (resize to ``image_size``) or ``paper`` (Bae et al.'s code:
            resize to ``resize_size``, centre crop ``image_size``, boxes shifted and clipped;
            :mod:`wsolx.data.geometry`).
    """

    dataset: str = "SYNTH"
    data_root: str = ""
    metadata_root: str = ""
    image_size: int = 224
    crop_size: Optional[int] = None
    resize_size: Optional[int] = None
    mask_dataset: str = ""
    batch_size: Optional[int] = None
    eval_batch_size: Optional[int] = None
    num_workers: int = 2
    train_split: str = "train"
    val_split: str = "val"
    test_split: str = "test"
    num_val_sample_per_class: int = protocol.NUM_VAL_SAMPLE_PER_CLASS
    fractional_gt_boxes: bool = protocol.FRACTIONAL_GT_BOXES
    eval_geometry: str = protocol.EVAL_GEOMETRY

    def resolved_metadata_root(self) -> str:
        """``metadata_root`` or ``<data_root>/metadata`` when it is empty."""
        return self.metadata_root or os.path.join(self.data_root, "metadata")


@dataclass
class ModelConfig:
    """Backbone, WSOL method and pooling (arguments of :func:`wsolx.models.get_model`).

    Attributes:
        arch: backbone name from :func:`wsolx.models.list_models`.
        method: WSOL method (``cam``, ``has``, ``acol``, ``spg``, ``adl``, ``cutmix``).
        pooling: ``tap`` (Thresholded Average Pooling) or ``gap`` (global average pooling).
        tap_theta: TAP threshold ratio in ``[0, 1]``; ``None`` takes the model default
            (:data:`wsolx.models.DEFAULTS`: the paper's 0.1).
        large_feature_map: 28x28 instead of 14x14 maps at 224 input; ``None`` takes the backbone
            default (the protocol uses it for ResNet50 and InceptionV3).
        weights: local path of pretrained backbone weights, or ``None``.
        method_kwargs: keyword arguments of the method; the ones left out are filled from
            ``DEFAULTS["methods"]`` when a run starts (the protocol's values).
    """

    arch: str = "vgg16"
    method: str = "cam"
    pooling: str = "tap"
    tap_theta: Optional[float] = None
    large_feature_map: Optional[bool] = None
    weights: Optional[str] = None
    method_kwargs: Dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """SGD with Nesterov momentum and a step schedule; ``None`` fields take the model defaults.

    Defaults come from :func:`wsolx.models.get_defaults` (``profile`` ``protocol``: Choe et al.'s
    CAM settings per backbone and data set; ``paper``: Bae et al.'s released VGG16/CUB setting).

    Attributes:
        lr: base learning rate of the pretrained layers.
        new_lr_ratio: new layers (neck, classifier, method heads) train at ``new_lr_ratio * lr``
            through ``model.param_groups(lr, new_lr_ratio)`` (protocol: 10; paper: 1).
        pretrained_grad_scale: the pretrained layers' gradients are multiplied by this before each
            step, weight decay being added after (paper: 0.1; protocol: 1). See
            :mod:`wsolx.engine.optim`.
        momentum: SGD momentum (``None``: ``DEFAULTS["optimizer"]``, 0.9).
        nesterov: Nesterov momentum (``None``: ``DEFAULTS["optimizer"]``, on).
        weight_decay: L2 penalty.
        epochs: training epochs.
        lr_step: epochs between learning-rate decays (0 disables the decay).
        lr_milestones: epochs at which to decay instead of every ``lr_step`` (the paper: 60, 120, 180).
        lr_gamma: decay factor.
        profile: which defaults fill the ``None`` fields: ``protocol`` or ``paper``.
    """

    lr: Optional[float] = None
    new_lr_ratio: Optional[float] = None
    pretrained_grad_scale: Optional[float] = None
    momentum: Optional[float] = None
    nesterov: Optional[bool] = None
    weight_decay: Optional[float] = None
    epochs: Optional[int] = None
    lr_step: Optional[int] = None
    lr_milestones: Optional[List[int]] = None
    lr_gamma: Optional[float] = None
    profile: str = "protocol"


@dataclass
class EvalConfig:
    """Localisation evaluation (Choe et al. protocol plus the fixed thresholds of Bae et al.).

    Attributes:
        variants: which of :data:`VARIANTS` to report (``base``, ``nwc``, ``pas``, ``nwc+pas``).
        cam_curve_interval: threshold step of the sweep (``np.arange(0, 1, interval)``).
        iou_thresholds: IoU thresholds of MaxBoxAccV2.
        fixed_threshold: CAM threshold of the fixed-threshold accuracies without PaS.
        pas_percentile: percentile used as the standard value with PaS.
        pas_threshold: CAM threshold of the fixed-threshold accuracies with PaS.
        multi_box: MaxBoxAccV2 uses the boxes of every contour.
        select_metric: validation metric that picks the best checkpoint.
        select_variant: variant whose ``select_metric`` is used.
    """

    variants: List[str] = field(default_factory=lambda: ["base", "nwc+pas"])
    cam_curve_interval: float = protocol.CAM_CURVE_INTERVAL
    iou_thresholds: List[float] = field(default_factory=lambda: list(protocol.IOU_THRESHOLDS))
    fixed_threshold: float = protocol.CAM_THRESHOLD
    pas_percentile: float = protocol.PAS_PERCENTILE
    pas_threshold: float = protocol.PAS_THRESHOLD
    multi_box: bool = protocol.MULTI_CONTOUR
    select_metric: str = "MaxBoxAccV2"
    select_variant: str = "base"


@dataclass
class Config:
    """A whole run.

    Attributes:
        data / model / optim / eval: the sections above.
        out_dir: where checkpoints, ``config.json``, ``log.jsonl`` and metrics are written.
        seed: seed of every random generator (each epoch reseeds with ``seed`` and the epoch).
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        amp: mixed precision (float16 + GradScaler on CUDA, bfloat16 on CPU).
        channels_last: NHWC memory format for model and inputs.
        eval_every: validate every N epochs (0: only after the last epoch).
        resume: checkpoint to resume from (``"auto"``: ``<out_dir>/last.pt`` when it exists).
        log_every: training steps between progress-bar postfix updates.
        find_unused_parameters: DDP flag; ``None`` turns it on for methods other than ``cam``.
        progress: show tqdm progress bars.
        loggers: extra per-epoch logs, any of :data:`LOGGERS` (``csv``: ``summary.csv``;
            ``tensorboard``: event files under ``<out_dir>/tensorboard``).
        log_images_every: with ``tensorboard``, validated epochs between CAM overlay grids
            (and the last epoch); 0: none.
        final_test: after training, evaluate ``test_checkpoint`` on the test split (``metrics.json``).
        test_checkpoint: which checkpoint the final test evaluates: ``last`` (the protocol's
            ``--eval_checkpoint_type`` default) or ``best`` (chosen on the validation split).
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    out_dir: str = "runs/wsolx"
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    channels_last: bool = False
    eval_every: int = 1
    resume: Optional[str] = None
    log_every: int = 10
    find_unused_parameters: Optional[bool] = None
    progress: bool = True
    final_test: bool = True
    loggers: List[str] = field(default_factory=list)
    log_images_every: int = 5
    test_checkpoint: str = protocol.TEST_CHECKPOINT

    # ------------------------------------------------------------------ conversion
    def to_dict(self) -> Dict[str, Any]:
        """Plain nested dict (JSON-serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Config":
        """Build from a nested dict; unknown keys and wrong types raise :class:`ConfigError`."""
        return _from_dict(cls, d, "")

    def save(self, path: Union[str, Path]) -> None:
        """Write the config as indented JSON, or YAML when ``path`` ends in ``.yaml`` / ``.yml``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if _is_yaml(path):
                yaml = _import_yaml(path)
                path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False))
                return
            path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")
        except OSError as exc:  # name the file (a full disk gives no file name by itself)
            raise disk_write_error(exc, path) from None

    def replace(self, overrides: Sequence[str]) -> "Config":
        """A copy with ``section.key=value`` overrides applied (values parsed as JSON when possible).

        Each value is checked and converted as :meth:`from_dict` does for that key; the copy stays a
        dataclass throughout (no round trip through a dict).
        """
        out = copy.deepcopy(self)
        for item in overrides:
            key, value = parse_override(item)
            _set_field(out, key, value)
        return out

    # ------------------------------------------------------------------ validation
    def validate(self, *, check_paths: bool = False, for_training: bool = True) -> "Config":
        """Check every value; raise :class:`ConfigError` naming the first bad one.

        Args:
            check_paths: also check that the data root, metadata and weights exist.
            for_training: require the training-only numbers to be resolved when set.

        Returns:
            ``self``, for chaining.
        """
        d, m, o, e = self.data, self.model, self.optim, self.eval
        _positive_int("data.image_size", d.image_size)
        _positive_int("data.crop_size", d.crop_size, optional=True)
        _positive_int("data.resize_size", d.resize_size, optional=True)
        if d.crop_size is not None and d.resize_size is not None and d.crop_size > d.resize_size:
            raise ConfigError(f"data.crop_size ({d.crop_size}) must not exceed data.resize_size ({d.resize_size})")
        _positive_int("data.batch_size", d.batch_size, optional=True)
        _positive_int("data.eval_batch_size", d.eval_batch_size, optional=True)
        _nonneg_int("data.num_workers", d.num_workers)
        if not d.dataset:
            raise ConfigError("data.dataset must be set (e.g. SYNTH, CUB, ILSVRC, OpenImages)")
        _nonneg_int("data.num_val_sample_per_class", d.num_val_sample_per_class)
        if d.eval_geometry not in ("protocol", "paper"):
            raise ConfigError(f"data.eval_geometry must be 'protocol' or 'paper', got {d.eval_geometry!r}")
        if m.pooling not in ("tap", "gap"):
            raise ConfigError(f"model.pooling must be 'tap' or 'gap', got {m.pooling!r}")
        if m.tap_theta is not None:
            _in_range("model.tap_theta", m.tap_theta, 0.0, 1.0)
        _positive_float("optim.lr", o.lr, optional=True)
        if o.momentum is not None:
            _in_range("optim.momentum", o.momentum, 0.0, 1.0, hi_open=True)
            if o.nesterov and o.momentum <= 0:
                raise ConfigError("optim.nesterov needs optim.momentum > 0")
        if o.weight_decay is not None:
            _nonneg_float("optim.weight_decay", o.weight_decay)
        _positive_int("optim.epochs", o.epochs, optional=True)
        if o.lr_step is not None:
            _nonneg_int("optim.lr_step", o.lr_step)
        if o.lr_gamma is not None:
            _in_range("optim.lr_gamma", o.lr_gamma, 0.0, 1.0, lo_open=True)
        _positive_float("optim.new_lr_ratio", o.new_lr_ratio, optional=True)
        _positive_float("optim.pretrained_grad_scale", o.pretrained_grad_scale, optional=True)
        if o.lr_milestones:
            for ms in o.lr_milestones:
                _positive_int("optim.lr_milestones", ms)
            if sorted(set(o.lr_milestones)) != list(o.lr_milestones):
                raise ConfigError(f"optim.lr_milestones must be strictly increasing, got {o.lr_milestones}")
        if o.profile not in ("protocol", "paper"):
            raise ConfigError(f"optim.profile must be 'protocol' or 'paper', got {o.profile!r}")
        if not e.variants:
            raise ConfigError("eval.variants must name at least one variant")
        for v in e.variants:
            if v not in VARIANTS:
                raise ConfigError(f"eval.variants: unknown variant {v!r}; choose from {sorted(VARIANTS)}")
        if e.select_variant not in e.variants:
            raise ConfigError(f"eval.select_variant {e.select_variant!r} must be one of eval.variants {e.variants}")
        if e.select_metric not in SELECT_METRICS and not e.select_metric.startswith(("MaxBoxAccV2@", "GT-known Loc@")):
            raise ConfigError(
                f"eval.select_metric {e.select_metric!r} is not a metric; choose from {list(SELECT_METRICS)}"
            )
        _in_range("eval.cam_curve_interval", e.cam_curve_interval, 0.0, 1.0, lo_open=True)
        if not e.iou_thresholds:
            raise ConfigError("eval.iou_thresholds must not be empty")
        for t in e.iou_thresholds:
            _in_range("eval.iou_thresholds", t, 0.0, 1.0, lo_open=True)
        _in_range("eval.fixed_threshold", e.fixed_threshold, 0.0, 1.0)
        _in_range("eval.pas_threshold", e.pas_threshold, 0.0, 1.0)
        _in_range("eval.pas_percentile", e.pas_percentile, 0.0, 100.0)
        if self.device != "auto" and not (
            self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:")
        ):
            raise ConfigError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be an integer in [0, 2**32 - 1], got {self.seed!r}")
        _nonneg_int("eval_every", self.eval_every)
        for name in self.loggers:
            if name not in LOGGERS:
                raise ConfigError(f"loggers: unknown logger {name!r}; choose from {list(LOGGERS)}")
        _nonneg_int("log_images_every", self.log_images_every)
        if self.test_checkpoint not in ("last", "best"):
            raise ConfigError(f"test_checkpoint must be 'last' or 'best', got {self.test_checkpoint!r}")
        _positive_int("log_every", self.log_every)
        if not self.out_dir:
            raise ConfigError("out_dir must be set")
        if check_paths:
            self.check_paths()
        return self

    def check_paths(self) -> None:
        """Raise :class:`ConfigError` when the data root, metadata folder or weights file is missing."""
        d = self.data
        if not d.data_root:
            raise ConfigError("data.data_root is not set (use --data-root DIR)")
        if not os.path.isdir(d.data_root):
            raise ConfigError(f"data.data_root {d.data_root!r} does not exist or is not a folder")
        meta = d.resolved_metadata_root()
        if not os.path.isdir(meta):
            raise ConfigError(f"metadata folder {meta!r} does not exist (set data.metadata_root / --metadata-root)")
        ds_meta = os.path.join(meta, d.dataset)
        if not os.path.isdir(ds_meta):
            found = sorted(p for p in os.listdir(meta) if os.path.isdir(os.path.join(meta, p)))
            raise ConfigError(f"no metadata for data set {d.dataset!r} under {meta!r} (found: {found or 'nothing'})")
        if self.model.weights and not os.path.isfile(self.model.weights):
            raise ConfigError(f"model.weights {self.model.weights!r} is not a file")


def load_config(path: Optional[Union[str, Path]] = None, overrides: Sequence[str] = ()) -> Config:
    """Read a JSON or YAML config (or start from the defaults when ``path`` is None), apply overrides.

    Errors in the file raise :class:`ConfigError` starting with the file name (and, for YAML, the
    line of the offending key).
    """
    if path is None:
        cfg = Config()
    else:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        lines: Dict[str, int] = {}
        try:
            text = p.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {str(p)!r} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        if _is_yaml(p):
            yaml = _import_yaml(p)
            try:
                raw = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f" at line {mark.line + 1}" if mark is not None else ""
                problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                raise ConfigError(f"config file {str(p)!r} is not valid YAML{where}: {problem}") from None
            lines = _yaml_key_lines(yaml, text)
            kind = "a YAML mapping"
        else:
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"config file {str(p)!r} is not valid JSON: {exc}") from None
            kind = "a JSON object"
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {str(p)!r} must hold {kind}")
        try:
            cfg = Config.from_dict(raw)
        except ConfigError as exc:
            raise ConfigError(f"config file {str(p)!r}{_line_of(str(exc), lines)}: {exc}") from None
        out = cfg.replace(overrides) if overrides else cfg
        try:
            out.validate()
        except ConfigError as exc:
            # A bad value that comes from the file (the overrides do not fix it) is reported with the
            # file and line; one an override introduced is left to the caller's own validate().
            try:
                cfg.validate()
            except ConfigError as file_exc:
                if str(file_exc) == str(exc):
                    raise ConfigError(f"config file {str(p)!r}{_line_of(str(exc), lines)}: {exc}") from None
        return out
    return cfg.replace(overrides) if overrides else cfg


def yaml_available() -> bool:
    """True when PyYAML can be imported (YAML configs in and ``config.yaml`` out)."""
    try:
        import yaml  # noqa: F401
    except ImportError:
        return False
    return True


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def _import_yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise ConfigError(
            f"config file {str(path)!r} is YAML but PyYAML is not installed (pip install 'wsolx[yaml]')"
        ) from None
    return yaml


def _yaml_key_lines(yaml: Any, text: str) -> Dict[str, int]:
    """Dotted key path -> 1-based line of every mapping key in a YAML document."""
    out: Dict[str, int] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = f"{prefix}{k.value}"
                out.setdefault(key, k.start_mark.line + 1)
                walk(v, key + ".")

    try:
        walk(yaml.compose(text, Loader=yaml.SafeLoader), "")
    except yaml.YAMLError:
        pass
    return out


def _line_of(message: str, lines: Mapping[str, int]) -> str:
    """`` line N`` of the longest known key path named in ``message`` (quoted or plain), else ``""``."""
    best = ""
    head = message.split("; known:")[0]  # the list of known keys names no culprit
    for key in lines:
        if len(key) > len(best) and (f"'{key}'" in head or head.startswith(key + " ")):
            best = key
    return f" line {lines[best]}" if best else ""


def parse_override(item: str) -> Tuple[str, Any]:
    """``"optim.lr=0.01"`` -> ``("optim.lr", 0.01)``; values are JSON when they parse, strings otherwise."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like section.key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


# ---------------------------------------------------------------------- helpers
def _set_field(cfg: "Config", key: str, value: Any) -> None:
    """Set the dotted ``key`` of ``cfg`` in place: a dataclass field gets ``value`` converted to its
    type (as :func:`_from_dict` would), a key of a free-form dict (``model.method_kwargs``) the
    value as it is. Unknown keys raise :class:`ConfigError`."""
    parts = key.split(".")
    node: Any = cfg
    for i, part in enumerate(parts[:-1]):
        child = _child(node, part)
        if not (dataclasses.is_dataclass(child) or isinstance(child, dict)):
            raise ConfigError(f"unknown config key {'.'.join(parts[: i + 1])!r} in override {key!r}")
        node = child
    last = parts[-1]
    if dataclasses.is_dataclass(node):
        if last not in {f.name for f in dataclasses.fields(node)}:
            raise ConfigError(f"unknown config key {key!r}")
        setattr(node, last, _coerce(typing.get_type_hints(type(node))[last], value, key))
    else:
        if last not in node and not _is_free_dict(parts):
            raise ConfigError(f"unknown config key {key!r}")
        node[last] = value


def _child(node: Any, name: str) -> Any:
    """Field ``name`` of a dataclass or key ``name`` of a dict; ``None`` when there is none."""
    if dataclasses.is_dataclass(node):
        return getattr(node, name) if name in {f.name for f in dataclasses.fields(node)} else None
    return node.get(name) if isinstance(node, dict) else None


def _is_free_dict(parts: List[str]) -> bool:
    # model.method_kwargs.<anything> is free-form.
    return len(parts) == 3 and parts[0] == "model" and parts[1] == "method_kwargs"


def _from_dict(cls: type, d: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(d, Mapping):
        raise ConfigError(f"config section {prefix.rstrip('.') or '<root>'!r} must be an object, got {d!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {[prefix + k for k in unknown]}; known: {sorted(prefix + n for n in names)}"
        )
    kwargs = {}
    for name in names:
        if name in d:
            kwargs[name] = _coerce(hints[name], d[name], prefix + name)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _from_dict(tp, value, key + ".")
    if origin is Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key)
    if tp is Any:
        return value
    if origin in (list, List):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        return [_coerce(args[0], v, key) for v in value] if args else list(value)
    if origin in (dict, Dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be an object, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        try:
            f = float(value)
        except ValueError:
            raise ConfigError(f"{key} must be an integer, got {value!r}") from None
        if not math.isfinite(f) or f != int(f):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return int(f)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        try:
            f = float(value)
        except ValueError:
            raise ConfigError(f"{key} must be a number, got {value!r}") from None
        if not math.isfinite(f):
            raise ConfigError(f"{key} must be finite, got {value!r}")
        return f
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    return value


def _positive_int(key: str, v: Optional[int], optional: bool = False) -> None:
    if v is None and optional:
        return
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ConfigError(f"{key} must be a positive integer, got {v!r}")


def _nonneg_int(key: str, v: int) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ConfigError(f"{key} must be a non-negative integer, got {v!r}")


def _positive_float(key: str, v: Optional[float], optional: bool = False) -> None:
    if v is None and optional:
        return
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{key} must be a positive number, got {v!r}")


def _nonneg_float(key: str, v: float) -> None:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
        raise ConfigError(f"{key} must be a non-negative number, got {v!r}")


def _in_range(key: str, v: float, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if ok:
        ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        lb = "(" if lo_open else "["
        rb = ")" if hi_open else "]"
        raise ConfigError(f"{key} must lie in {lb}{lo}, {hi}{rb}, got {v!r}")
