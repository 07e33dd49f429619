"""Optimizers, weight-decay styles and learning-rate schedules, each a registry."""

from __future__ import annotations

import torch
from torch import nn

from ablate.registry import Registry

OPTIMIZERS = Registry("optim.name")
SCHEDULES = Registry("optim.schedule")


def param_groups(model: nn.Module, cfg) -> list[dict]:
    """One parameter group; decay as configured (coupled: added to the gradient, as in the paper's rule)."""
    decay = cfg.weight_decay if cfg.weight_decay_style == "coupled" else 0.0
    return [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": decay}]


@OPTIMIZERS.register("sgd")
def _sgd(model: nn.Module, cfg) -> torch.optim.Optimizer:
    return torch.optim.SGD(param_groups(model, cfg), lr=cfg.lr, momentum=cfg.momentum)


@SCHEDULES.register("constant")
def _constant(optimizer, cfg, epochs: int):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


def build_optimizer(model: nn.Module, cfg) -> torch.optim.Optimizer:
    return OPTIMIZERS.build(cfg.name, model, cfg)


def build_schedule(optimizer: torch.optim.Optimizer, cfg, epochs: int):
    """A scheduler stepped once per epoch with the epoch's validation error (`step(metric)` or `step()`)."""
    return SCHEDULES.build(cfg.schedule, optimizer, cfg, epochs)


def step_schedule(scheduler, val_err: float) -> None:
    """Advance the schedule one epoch; plateau-style schedules read the epoch's validation error."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(val_err)
    else:
        scheduler.step()
