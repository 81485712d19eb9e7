"""Optimiser and LR schedule: SGD with Nesterov momentum, per-group learning rates and gradient
scales, step decay.

Two ways to slow the pretrained layers down exist, and they are not the same with weight decay:

* the protocol's (Choe et al.): the pretrained layers train at ``lr`` and the new layers at
  ``new_lr_ratio * lr`` (``optim.new_lr_ratio``, 10);
* the paper's released code (Bae et al.): every layer at one ``lr`` (0.003), the pretrained
  layers' *gradients* multiplied by 0.1 after the backward pass (``optim.pretrained_grad_scale``).
  SGD then adds ``weight_decay * p`` to the scaled gradient, so weight decay acts at the full
  ``lr`` on those layers (an ``lr`` of 3e-4 would make it 10x weaker).

:class:`GradScaledSGD` is ``torch.optim.SGD`` that first multiplies the gradients of each group by
its ``grad_scale`` (in place, as the paper's ``param.grad *= ratio``), so the paper's update is
reproduced operation for operation.
"""

from __future__ import annotations

from typing import Any, Dict, List

import torch
from torch import nn

from wsolx.engine.config import ConfigError, OptimConfig

__all__ = ["build_optimizer", "build_scheduler", "GradScaledSGD"]


class GradScaledSGD(torch.optim.SGD):
    """``torch.optim.SGD`` whose parameter groups may carry a ``grad_scale``: before each step the
    gradients of such a group are multiplied by it in place (after AMP unscaling, before weight
    decay and momentum). Groups without the key, or with 1.0, are untouched."""

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            scale = group.get("grad_scale", 1.0)
            if scale != 1.0:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad.mul_(scale)
        super().step()
        return loss


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
    """SGD over ``model.param_groups(cfg.lr, cfg.new_lr_ratio)`` (new layers at ``new_lr_ratio`` x lr),
    the pretrained group's gradients scaled by ``cfg.pretrained_grad_scale`` (:class:`GradScaledSGD`).

    Args:
        model: the bare model (not a DDP wrapper).
        cfg: resolved optimiser section (``lr``, ``new_lr_ratio`` and ``weight_decay`` set).
    """
    if cfg.lr is None or cfg.weight_decay is None or cfg.new_lr_ratio is None:
        raise ConfigError("optim.lr / new_lr_ratio / weight_decay are unresolved; call resolve_defaults(cfg) first")
    groups = _param_groups(model, cfg.lr, cfg.new_lr_ratio)
    scale = 1.0 if cfg.pretrained_grad_scale is None else float(cfg.pretrained_grad_scale)
    for g in groups:
        g["grad_scale"] = scale if g.get("name") == "pretrained" else 1.0
    return GradScaledSGD(
        groups,
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
