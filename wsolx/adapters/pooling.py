"""Swap the global average pooling of a torchvision or timm classifier (e.g. for TAP fine-tuning)."""

from __future__ import annotations

from typing import List, Tuple

from torch import Tensor, nn

__all__ = ["PoolAdapter", "find_global_pool", "swap_pooling"]


class PoolAdapter(nn.Module):
    """A pooling ``(B, C, H, W) -> (B, C)`` (or ``(B, C, 1, 1)``) giving the output rank the replaced
    pooling gave: ``(B, C, 1, 1)`` with ``keepdim`` (torchvision's ``AdaptiveAvgPool2d(1)``, timm's
    un-flattened pools), else ``(B, C)``."""

    def __init__(self, pool: nn.Module, keepdim: bool) -> None:
        super().__init__()
        self.pool = pool
        self.keepdim = bool(keepdim)

    def forward(self, x: Tensor) -> Tensor:
        y = self.pool(x)
        if self.keepdim and y.dim() == 2:
            return y[:, :, None, None]
        if not self.keepdim and y.dim() == 4:
            return y.flatten(1)
        return y

    def extra_repr(self) -> str:
        return f"keepdim={self.keepdim}"


def _is_global_pool(m: nn.Module) -> bool:
    if type(m).__name__ == "SelectAdaptivePool2d":  # timm, without importing timm
        return getattr(m, "pool_type", "avg") != ""
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        size = m.output_size
        if isinstance(size, int):
            return size == 1
        return tuple(size) == (1, 1)
    return isinstance(m, PoolAdapter)


def find_global_pool(model: nn.Module) -> Tuple[str, nn.Module]:
    """``(qualified name, module)`` of the last global pooling layer of ``model`` (outermost one
    when pools are nested, e.g. timm's ``SelectAdaptivePool2d``).

    Raises:
        ValueError: the model has no global pooling module (pooling done functionally in
            ``forward``, as torchvision's MobileNetV2 / DenseNet, or no pooling at all).
    """
    found: List[Tuple[str, nn.Module]] = []
    for name, m in model.named_modules():
        if not name or any(name.startswith(prev + ".") for prev, _ in found):
            continue
        if _is_global_pool(m):
            found.append((name, m))
    if not found:
        raise ValueError(
            f"{type(model).__name__}: no global pooling module (nn.AdaptiveAvgPool2d(1) or timm SelectAdaptivePool2d) "
            "to replace; this model pools inside forward() and cannot be swapped"
        )
    return found[-1]


def _keepdim(m: nn.Module) -> bool:
    if isinstance(m, PoolAdapter):
        return m.keepdim
    if type(m).__name__ == "SelectAdaptivePool2d":
        return not isinstance(getattr(m, "flatten", None), nn.Flatten)
    return True  # AdaptiveAvgPool2d(1) keeps (B, C, 1, 1)


def swap_pooling(model: nn.Module, pool: nn.Module) -> nn.Module:
    """Replace the global average pooling of a torchvision / timm classifier by ``pool`` in place.

    ``pool`` maps ``(B, C, H, W)`` to ``(B, C)`` or ``(B, C, 1, 1)`` (e.g. ``wsolx.TAPool(0.1)``);
    it is wrapped in a :class:`PoolAdapter` giving the output rank the old layer gave, so the rest
    of the model (flatten, ConvNeXt's LayerNorm2d head) runs unchanged.

    Returns:
        ``model`` (for chaining).

    Raises:
        ValueError: no global pooling module was found (see :func:`find_global_pool`).
        TypeError: ``pool`` is not an ``nn.Module``.
    """
    if not isinstance(pool, nn.Module):
        raise TypeError(f"swap_pooling: pool must be an nn.Module (e.g. wsolx.TAPool(0.1)), got {type(pool).__name__}")
    name, old = find_global_pool(model)
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, PoolAdapter(pool, _keepdim(old)))
    return model
