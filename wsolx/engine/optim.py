"""Optimiser and LR schedule of the paper: SGD with Nesterov momentum, 10x lr on new layers, step decay."""

from __future__ import annotations

from typing import Any, Dict, List

import torch
from torch import nn

from wsolx.engine.config import ConfigError, OptimConfig

__all__ = ["build_optimizer", "build_scheduler"]


def _param_groups(model: nn.Module, lr: float, new_lr_ratio: float) -> List[Dict[str, Any]]:
    if hasattr(model, "param_groups"):
        groups = list(model.param_groups(lr, new_lr_ratio))
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": lr}]
    groups = [g for g in groups if len(list(g["params"])) > 0]
    if not groups:
        raise ConfigError("the model has no trainable parameters")
    return groups


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.SGD:
    """SGD over ``model.param_groups(cfg.lr, cfg.new_lr_ratio)`` (new layers at ``new_lr_ratio`` x lr).

    Args:
        model: the bare model (not a DDP wrapper).
        cfg: resolved optimiser section (``lr``, ``new_lr_ratio`` and ``weight_decay`` set).
    """
    if cfg.lr is None or cfg.weight_decay is None or cfg.new_lr_ratio is None:
        raise ConfigError("optim.lr / new_lr_ratio / weight_decay are unresolved; call resolve_defaults(cfg) first")
    return torch.optim.SGD(
        _param_groups(model, cfg.lr, cfg.new_lr_ratio),
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov,
        weight_decay=cfg.weight_decay,
    )


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig) -> torch.optim.lr_scheduler.LRScheduler:
    """Multiply every group's lr by ``lr_gamma`` at each of ``lr_milestones`` or, without
    milestones, every ``lr_step`` epochs (stepped once per epoch; ``lr_step`` 0 keeps it constant)."""
    gamma = cfg.lr_gamma if cfg.lr_gamma is not None else 0.1
    if cfg.lr_milestones:
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.lr_milestones), gamma=gamma)
    step = cfg.lr_step or 0
    if step <= 0:
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=1.0)
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=gamma)
