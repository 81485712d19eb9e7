"""Find the last feature map and the linear classifier of a model wsolx did not build (no hooks).

Resolved automatically:

* timm models: ``forward_features`` -> ``forward_head``, classifier ``get_classifier()``;
* torchvision ResNet-style (``conv1 ... layer4``, ``avgpool``, ``fc``);
* torchvision ``features`` -> [``avgpool``] -> ``classifier`` models whose classifier is a linear
  layer after only dropout / flatten / LayerNorm2d (MobileNetV2, EfficientNet, ConvNeXt; a VGG
  whose head was replaced by a global pool + ``Linear``).

Anything else: pass ``features=`` (a callable ``(B, 3, H, W) -> (B, K, h, w)``) and
``classifier=`` (the ``nn.Linear(K, classes)``) explicitly, plus ``head=`` when the logits are
not ``classifier(mean over (h, w))``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor, nn

__all__ = ["CAMParts", "resolve_cam_parts"]

#: Layers allowed between the pooled vector and the final Linear (they keep the CAM a sum over
#: the feature channels' ordering; normalisation is ignored as by grad-cam / torch-cam's CAM).
_PASS_THROUGH = ("Dropout", "Flatten", "Identity", "LayerNorm2d", "LayerNorm")


class CAMParts(NamedTuple):
    """``features``: ``(B, 3, H, W) -> (B, K, h, w)``; ``head``: ``(B, K, h, w) -> (B, classes)``;
    ``classifier``: the ``Linear(K, classes)`` whose weights build the CAM; ``kind``: how it was found."""

    features: Callable[[Tensor], Tensor]
    head: Callable[[Tensor], Tensor]
    classifier: nn.Module
    kind: str


def _no_head(model: nn.Module, why: str) -> ValueError:
    return ValueError(
        f"{type(model).__name__}: no global-pool + linear classifier head ({why}); pass features= (a callable "
        "images -> (B, K, h, w)) and classifier= (the nn.Linear(K, classes)) explicitly"
    )


def _check_linear(model: nn.Module, m: object, where: str) -> nn.Module:
    if not isinstance(m, nn.Linear):
        raise _no_head(model, f"{where} is {type(m).__name__}, not nn.Linear")
    return m


def _timm(model: nn.Module) -> CAMParts:
    clf = _check_linear(model, model.get_classifier(), "get_classifier()")
    return CAMParts(model.forward_features, model.forward_head, clf, "timm")


def _tv_resnet(model: nn.Module) -> CAMParts:
    clf = _check_linear(model, model.fc, "fc")

    def features(x: Tensor) -> Tensor:
        x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        return model.layer4(model.layer3(model.layer2(model.layer1(x))))

    def head(f: Tensor) -> Tensor:
        return model.fc(torch.flatten(model.avgpool(f), 1))

    return CAMParts(features, head, clf, "torchvision-resnet")


def _tv_features_classifier(model: nn.Module) -> CAMParts:
    cls = model.classifier
    layers = list(cls) if isinstance(cls, nn.Sequential) else [cls]
    if not layers:
        raise _no_head(model, "empty classifier")
    clf = _check_linear(model, layers[-1], "the last classifier layer")
    bad = [type(m).__name__ for m in layers[:-1] if type(m).__name__ not in _PASS_THROUGH]
    if bad:
        raise _no_head(model, f"the classifier has {bad} before its last Linear (an MLP head)")
    pool = getattr(model, "avgpool", None)
    if pool is not None:
        from wsolx.adapters.pooling import _is_global_pool

        if not _is_global_pool(pool):
            raise _no_head(model, f"avgpool is {pool!r}, not a global pooling")
    flattens = any(type(m).__name__ == "Flatten" for m in layers)

    def head(f: Tensor) -> Tensor:
        p = pool(f) if pool is not None else f.mean(dim=(2, 3), keepdim=True)
        if not flattens and p.dim() > 2:
            p = torch.flatten(p, 1)
        return cls(p)

    return CAMParts(model.features, head, clf, "torchvision-features")


def resolve_cam_parts(
    model: nn.Module,
    features: Optional[Callable[[Tensor], Tensor]] = None,
    classifier: Optional[nn.Module] = None,
    head: Optional[Callable[[Tensor], Tensor]] = None,
) -> CAMParts:
    """The :class:`CAMParts` of ``model`` (explicit ``features`` / ``classifier`` win).

    Raises:
        ValueError: only one of ``features`` / ``classifier`` given, or the model has no global
            pool + linear head that could be found.
    """
    if (features is None) != (classifier is None):
        raise ValueError("localize: pass both features= and classifier=, or neither")
    if features is not None:
        weight = getattr(classifier, "weight", None)
        if not isinstance(weight, Tensor) or weight.dim() != 2:
            raise ValueError(f"localize: classifier= must be an nn.Linear(K, classes), got {type(classifier).__name__}")

        def default_head(f: Tensor) -> Tensor:
            return classifier(f.mean(dim=(2, 3)))

        return CAMParts(features, head or default_head, classifier, "explicit")
    if head is not None:
        raise ValueError("localize: head= goes with features= and classifier=")
    if all(hasattr(model, a) for a in ("forward_features", "forward_head", "get_classifier")):
        return _timm(model)
    if all(hasattr(model, a) for a in ("conv1", "bn1", "relu", "maxpool", "layer4", "avgpool", "fc")):
        return _tv_resnet(model)
    if isinstance(getattr(model, "features", None), nn.Module) and hasattr(model, "classifier"):
        return _tv_features_classifier(model)
    raise _no_head(model, "neither a timm model (forward_features / get_classifier) nor a known torchvision layout")
