"""Initialisation of new layers (protocol / torchvision conventions), shared by models and methods.

Kept below :mod:`wsolx.models` and :mod:`wsolx.methods` so that both use one rule without importing
each other (``wsolx.models.init_new_layers`` re-exports it).
"""

from __future__ import annotations

from torch import nn

__all__ = ["init_new_layers"]


def init_new_layers(module: nn.Module, conv_init: str = "kaiming") -> None:
    """Initialise every layer of ``module`` (protocol / torchvision conventions).

    Conv: Kaiming normal (fan_out, ReLU) or, with ``conv_init="xavier"``, Xavier uniform (the
    protocol's choice for the SPG / ACoL heads); zero bias. BatchNorm: weight 1, bias 0, running
    statistics reset. Linear: normal(0, 0.01), zero bias. Raises if ``module`` holds a parameter
    of another layer type (so that :meth:`wsolx.models.WSOLModel._setup`, which allocates the model
    without initialisation, never leaves a tensor uninitialised).
    """
    if conv_init not in ("kaiming", "xavier"):
        raise ValueError(f"init_new_layers: conv_init must be 'kaiming' or 'xavier', got {conv_init!r}")
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            if conv_init == "xavier":
                nn.init.xavier_uniform_(m.weight)
            else:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_parameters()  # running stats (0, 1, 0) and affine (1, 0)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif any(True for _ in m.parameters(recurse=False)) or any(True for _ in m.buffers(recurse=False)):
            raise TypeError(f"init_new_layers: no initialisation rule for {type(m).__name__}")
