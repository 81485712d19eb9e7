"""CAMs, boxes and logits of any torchvision / timm classifier in one call: :func:`localize`."""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from wsolx import protocol
from wsolx.adapters.resolve import resolve_cam_parts

__all__ = ["Localization", "localize"]


class Localization(NamedTuple):
    """Output of :func:`localize`, on the model's device.

    Attributes:
        cams: ``(B, h, w)`` raw CAMs (feature-map resolution, the features' dtype).
        boxes: ``(B, 4)`` int64 ``[x0, y0, x1, y1]`` at ``threshold`` in ``image_size`` pixels
            (largest connected component, protocol rules of :func:`wsolx.cam_boxes`).
        logits: ``(B, classes)``.
        labels: ``(B,)`` int64 class of each CAM (the given labels or the predicted class).
    """

    cams: Tensor
    boxes: Tensor
    logits: Tensor
    labels: Tensor


def localize(
    model: nn.Module,
    images: Tensor,
    labels: Optional[Tensor] = None,
    *,
    clamp_negative: bool = False,
    percentile: float = 100.0,
    threshold: float = protocol.CAM_THRESHOLD,
    image_size: Optional[Union[int, Sequence[int]]] = None,
    features: Optional[Callable[[Tensor], Tensor]] = None,
    classifier: Optional[nn.Module] = None,
    head: Optional[Callable[[Tensor], Tensor]] = None,
    validate: bool = False,
) -> Localization:
    """Class activation maps, boxes and logits of ``model`` on ``images``, one forward pass, no hooks.

    ``CAM_c(h, w) = sum_k w[c, k] f_k(h, w)`` with the last feature map ``f`` and the weights of
    the linear classifier (found by :func:`wsolx.adapters.resolve_cam_parts`, or ``features=`` /
    ``classifier=`` / ``head=``); the logits come from the model's own head on the same features.

    Args:
        model: a torchvision / timm classifier (or any model, with ``features=`` and ``classifier=``).
            Call it in eval mode (``model.eval()``), under ``torch.no_grad()`` for inference.
        images: ``(B, 3, H, W)``; moved to the model's device.
        labels: ``(B,)`` classes whose CAMs to build; ``None``: the predicted class (top-1).
        clamp_negative: Negative Weight Clamping (``w = max(w, 0)``).
        percentile: standard value of the box threshold (100: max; 90: Percentile as a Standard).
        threshold: box threshold, a fraction of the standard value (paper: 0.2; PaS: 0.35).
        image_size: ``(H, W)`` frame of the boxes (default: the images' size).
        features / classifier / head: explicit parts (see :mod:`wsolx.adapters.resolve`).
        validate: check the labels' range (one host synchronisation); off, the path has none.

    Returns:
        :class:`Localization` ``(cams, boxes, logits, labels)``.

    Raises:
        ValueError: no feature map / linear classifier found; images not ``(B, 3, H, W)``; a
        feature map that is not ``(B, K, h, w)`` with ``K`` the classifier's input size.
    """
    from wsolx.ops import cam_boxes

    parts = resolve_cam_parts(model, features, classifier, head)
    if images.dim() != 4:
        raise ValueError(f"localize: images must be (B, C, H, W), got shape {tuple(images.shape)}")
    param = next(iter(model.parameters()), None)
    if param is not None:
        images = images.to(param.device)
    feats = parts.features(images)
    weight = parts.classifier.weight
    if not isinstance(feats, Tensor) or feats.dim() != 4:
        shape = tuple(feats.shape) if isinstance(feats, Tensor) else type(feats).__name__
        raise ValueError(
            f"localize: {type(model).__name__}'s feature map must be (B, K, h, w), got {shape} "
            "(a model without a spatial feature map, e.g. a ViT's tokens, has no CAM)"
        )
    if weight.size(1) != feats.size(1):
        raise ValueError(
            f"localize: the classifier takes {weight.size(1)} inputs but the feature map has "
            f"{feats.size(1)} channels (a projection between pooling and classifier: no CAM)"
        )
    logits = parts.head(feats)
    if labels is None:
        labels = logits.argmax(dim=1)
    else:
        labels = torch.as_tensor(labels, device=feats.device)
        if labels.dim() != 1 or labels.size(0) != feats.size(0) or labels.dtype.is_floating_point:
            raise ValueError(
                f"localize: labels must be ({feats.size(0)},) integers, got {tuple(labels.shape)} {labels.dtype}"
            )
        if validate and (bool((labels < 0).any()) or bool((labels >= weight.size(0)).any())):
            raise ValueError(f"localize: labels must lie in [0, {weight.size(0)}), got {labels.tolist()}")
        labels = labels.to(torch.int64)
    w = weight.to(feats.dtype)[labels]
    if clamp_negative:
        w = w.clamp_min(0)
    cams = torch.einsum("bk,bkhw->bhw", w, feats)
    size: Tuple[int, int]
    if image_size is None:
        size = (int(images.shape[-2]), int(images.shape[-1]))
    elif isinstance(image_size, int):
        size = (image_size, image_size)
    else:
        size = (int(image_size[0]), int(image_size[1]))
    boxes = cam_boxes(cams.detach().float(), [float(threshold)], image_size=size, percentile=float(percentile))[:, 0]
    return Localization(cams, boxes, logits, labels)
