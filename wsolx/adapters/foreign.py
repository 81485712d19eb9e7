"""Train a torchvision / timm classifier with wsolx: ``--arch tv:resnet50`` or ``--arch timm:NAME``.

:class:`ForeignCAMModel` wraps the model with the interface the trainer and the evaluator use
(``forward``, ``cams``, ``training_loss``, ``param_groups``, ``fc_weight``); its CAMs are those of
:func:`wsolx.localize` (last feature map x linear classifier). Pretrained weights come from a
local file only (a state dict of the original model, e.g. torchvision's ``resnet50-*.pth``); the
classifier is then replaced by a new ``Linear(K, num_classes)`` and, with ``pooling="tap"``, the
global average pooling by :class:`wsolx.TAPool` (:func:`wsolx.swap_pooling`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsolx.adapters.pooling import swap_pooling
from wsolx.adapters.resolve import CAMParts, resolve_cam_parts

__all__ = ["FOREIGN_PREFIXES", "is_foreign_arch", "ForeignCAMModel", "build_foreign_model", "foreign_defaults"]

FOREIGN_PREFIXES = ("tv:", "timm:")


def is_foreign_arch(arch: str) -> bool:
    """``True`` for ``tv:NAME`` / ``timm:NAME`` architecture names."""
    return isinstance(arch, str) and arch.startswith(FOREIGN_PREFIXES) and len(arch.split(":", 1)[1]) > 0


def _read_state_dict(path: Union[str, Path]) -> Dict[str, Tensor]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weights file not found: {p}")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(p))
        else:
            state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - report any unreadable file in one line
        raise ValueError(f"{p}: cannot read the weights ({type(exc).__name__}: {exc})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{p}: expected a state dict, got {type(state).__name__}")
    return state


def _qualified_name(model: nn.Module, module: nn.Module) -> str:
    for name, m in model.named_modules():
        if m is module:
            return name
    raise ValueError(f"{type(model).__name__}: its classifier is not one of its submodules")


def _create(arch: str) -> nn.Module:
    kind, name = arch.split(":", 1)
    if kind == "tv":
        import torchvision

        try:
            return torchvision.models.get_model(name, weights=None)
        except ValueError:
            raise ValueError(
                f"unknown torchvision model {name!r} (from --arch {arch}); "
                f"e.g. {', '.join(torchvision.models.list_models()[:6])}, ..."
            ) from None
    try:
        import timm
    except ImportError:
        raise ValueError(f"--arch {arch} needs timm: pip install 'wsolx[timm]'") from None
    try:
        return timm.create_model(name, pretrained=False)
    except RuntimeError as exc:  # timm: "Unknown model (...)"
        raise ValueError(f"unknown timm model {name!r} (from --arch {arch}): {exc}") from None


class ForeignCAMModel(nn.Module):
    """A torchvision / timm classifier behind the wsolx model interface.

    Args:
        model: the classifier (its global pool + linear head resolved by :func:`resolve_cam_parts`).
        arch: name for messages and checkpoints (``tv:resnet50``).
    """

    method_name = "cam"

    def __init__(self, model: nn.Module, arch: str = "") -> None:
        super().__init__()
        self.model = model
        self.arch = arch
        parts = resolve_cam_parts(model)
        self._kind = parts.kind
        self.num_classes = int(parts.classifier.weight.size(0))

    @property
    def parts(self) -> CAMParts:
        return resolve_cam_parts(self.model)

    @property
    def fc_weight(self) -> Tensor:
        """``(num_classes, K)`` classifier weights the CAM uses."""
        return self.parts.classifier.weight

    def forward_features(self, x: Tensor) -> Tensor:
        return self.parts.features(x)

    def forward_head(self, features: Tensor) -> Tensor:
        return self.parts.head(features)

    def forward(self, x: Tensor) -> Tensor:
        p = self.parts
        return p.head(p.features(x))

    def cams(self, x: Tensor, labels: Tensor, clamp_negative: bool = False) -> Tensor:
        """``(B, 3, H, W), (B,) -> (B, h, w)`` raw CAMs (``clamp_negative``: NWC)."""
        w = self.fc_weight[labels]
        feats = self.forward_features(x)
        w = w.to(feats.dtype)
        if clamp_negative:
            w = w.clamp_min(0)
        return torch.einsum("bk,bkhw->bhw", w, feats)

    def training_loss(self, images: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
        logits = self(images)
        return F.cross_entropy(logits, labels), logits

    def param_groups(self, lr: float, new_lr_ratio: float = 10.0) -> List[Dict[str, Any]]:
        """Backbone at ``lr``, the (new) classifier at ``new_lr_ratio * lr``."""
        head = {id(p) for p in self.parts.classifier.parameters()}
        base = [p for p in self.parameters() if p.requires_grad and id(p) not in head]
        new = [p for p in self.parameters() if p.requires_grad and id(p) in head]
        groups = []
        if base:
            groups.append({"params": base, "lr": lr, "name": "pretrained"})
        if new:
            groups.append({"params": new, "lr": lr * new_lr_ratio, "name": "new"})
        return groups

    def extra_repr(self) -> str:
        return f"arch={self.arch}, kind={self._kind}, num_classes={self.num_classes}"


def build_foreign_model(
    arch: str,
    *,
    num_classes: int,
    pooling: str = "tap",
    tap_theta: Optional[float] = None,
    weights: Optional[Union[str, Path]] = None,
) -> ForeignCAMModel:
    """``tv:NAME`` (torchvision) or ``timm:NAME`` with a new ``num_classes`` classifier and TAP or GAP.

    Raises:
        ValueError: unknown model, unreadable / non-fitting weights, no global-pool + linear head.
        FileNotFoundError: the weights file does not exist.
    """
    if not is_foreign_arch(arch):
        raise ValueError(f"not a torchvision / timm architecture: {arch!r} (expected tv:NAME or timm:NAME)")
    if pooling not in ("tap", "gap"):
        raise ValueError(f"pooling must be 'tap' or 'gap', got {pooling!r}")
    model = _create(arch)
    if weights:
        state = _read_state_dict(weights)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise ValueError(f"{weights}: the weights do not fit {arch} ({first})") from None
    clf = resolve_cam_parts(model).classifier
    new = nn.Linear(clf.in_features, int(num_classes))
    nn.init.normal_(new.weight, 0.0, 0.01)
    nn.init.zeros_(new.bias)
    name = _qualified_name(model, clf)
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if isinstance(parent, nn.Sequential):
        parent[int(attr)] = new
    else:
        setattr(parent, attr, new)
    if pooling == "tap":
        from wsolx.models.defaults import default_tap_theta
        from wsolx.ops.tap import TAPool

        swap_pooling(model, TAPool(default_tap_theta(arch) if tap_theta is None else tap_theta))
    return ForeignCAMModel(model, arch)


def foreign_defaults(dataset: str) -> Dict[str, Any]:
    """Training defaults of a torchvision / timm model: the data set's schedule of the protocol
    (epochs, lr steps, batch size; CUB's for a data set the table does not know) and the protocol's
    optimiser ratios (new layers at 10x, pretrained gradients unscaled); no learning rate
    or weight decay (none is published for these models: they must be set)."""
    from wsolx.models.defaults import DEFAULTS, default_tap_theta

    known = DEFAULTS["datasets"]
    canonical = {k.lower(): k for k in known}
    d = known[canonical.get(dataset.lower(), "CUB")]
    return {
        "momentum": DEFAULTS["optimizer"]["momentum"],
        "nesterov": DEFAULTS["optimizer"]["nesterov"],
        "new_lr_ratio": DEFAULTS["optimizer"]["new_lr_ratio"],
        "pretrained_grad_scale": DEFAULTS["optimizer"]["pretrained_grad_scale"],
        "lr": None,
        "weight_decay": None,
        "epochs": d["epochs"],
        "lr_decay_every": d["lr_decay_every"],
        "lr_decay_gamma": d["lr_decay_gamma"],
        "batch_size": d["batch_size"],
        "large_feature_map": False,
        "tap_theta": default_tap_theta(""),
        "method_kwargs": {},
    }
