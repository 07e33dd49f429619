"""Optimizers, weight-decay styles and learning-rate schedules, each a registry.

Weight decay applies to the weights of conv, linear and locally connected layers; biases, norm and PReLU
parameters are excluded (as cuda-convnet's `wc` never touched biases) unless `optim.decay_bias_and_norm`.
Styles: `coupled` adds λw to the gradient, so it passes through momentum (SGD: exactly §5's rule) or Adam's
scaling; `decoupled` shrinks the weights directly, w ← w − lr·λ·w, outside momentum and Adam's scaling
(SGDW/AdamW, Loshchilov & Hutter); `none`. The optimizer's `step()` does the whole update, decay included.
"""

from __future__ import annotations

import torch
from torch import nn

from ablate.models.layers import LocallyConnected2d
from ablate.registry import Registry

OPTIMIZERS = Registry("optim.name")
SCHEDULES = Registry("optim.schedule")
DECAY_STYLES = ("coupled", "decoupled", "none")
_DECAYED = (nn.Conv2d, nn.Linear, LocallyConnected2d)  # layers whose `weight` is decayed


def param_groups(model: nn.Module, cfg) -> list[dict]:
    """Two groups: decayed weights (λ per the style) and excluded parameters (λ = 0); the first is never empty."""
    decay, rest, seen = [], [], set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            is_weight = name == "weight" and isinstance(module, _DECAYED)
            (decay if is_weight or cfg.decay_bias_and_norm else rest).append(p)
    strength = 0.0 if cfg.weight_decay_style == "none" else cfg.weight_decay
    groups = [{"params": decay, "weight_decay": strength}, {"params": rest, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


class SGD(torch.optim.Optimizer):
    """SGD with momentum in torch's buffer form, with the paper's rule and its decoupled variant.

    coupled:   b ← μb + ∂L/∂w + λw;  w ← w − ε·b.  With v = −ε·b this is §5's
               v ← μv − λεw − ε∂L/∂w, w ← w + v, exactly, while ε is constant.
    decoupled: b ← μb + ∂L/∂w;       w ← w − ε·b − ε·λ·w   (SGDW: the decay skips the momentum buffer)
    paper_momentum_rescale: when ε changes between steps, b is first multiplied by ε_old/ε_new, so the
    velocity v = −ε·b carries over unchanged as in the v-form (the b-form would rescale it by ε_new/ε_old).
    The ε the buffer was last used with lives in the optimizer state, so checkpoints carry it.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 decoupled: bool = False, paper_momentum_rescale: bool = False):
        defaults = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "decoupled": decoupled,
                    "paper_momentum_rescale": paper_momentum_rescale}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, group)
        return loss

    def _update(self, p: torch.Tensor, group: dict) -> None:
        lr, mu, lam = group["lr"], group["momentum"], group["weight_decay"]
        d = p.grad
        if lam and not group["decoupled"]:
            d = d.add(p, alpha=lam)
        if mu:
            state = self.state[p]
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d.clone()
            else:
                if group["paper_momentum_rescale"] and state["buffer_lr"] != lr:
                    buf.mul_(state["buffer_lr"] / lr)
                buf.mul_(mu).add_(d)
            state["buffer_lr"] = lr
            d = buf
        if lam and group["decoupled"]:
            p.mul_(1 - lr * lam)  # of the pre-step weights, as SGDW's w ← w − ε·b − ε·λ·w
        p.add_(d, alpha=-lr)


@OPTIMIZERS.register("sgd")
def _sgd(model: nn.Module, cfg) -> torch.optim.Optimizer:
    return SGD(param_groups(model, cfg), lr=cfg.lr, momentum=cfg.momentum,
               decoupled=cfg.weight_decay_style == "decoupled", paper_momentum_rescale=cfg.paper_momentum_rescale)


@OPTIMIZERS.register("adam")
def _adam(model: nn.Module, cfg) -> torch.optim.Optimizer:
    # decoupled_weight_decay=True is torch's AdamW update: w ← w − lr·λ·w beside the Adam step.
    return torch.optim.Adam(param_groups(model, cfg), lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2),
                            eps=cfg.adam_eps, decoupled_weight_decay=cfg.weight_decay_style == "decoupled")


@SCHEDULES.register("constant")
def _constant(optimizer, cfg, epochs: int):
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


@SCHEDULES.register("plateau")
def _plateau(optimizer, cfg, epochs: int):
    """§5: divide the lr by 10 when the validation error stops improving, at most `plateau_max_drops` times.

    "Stops improving" is literal (no tolerance): an epoch whose error is not below the best so far is a bad
    epoch, and `plateau_patience` + 1 bad epochs in a row trigger a drop. The floor min_lr = lr·factor^drops
    caps the number of drops.
    """
    floor = [g["lr"] * cfg.plateau_factor**cfg.plateau_max_drops for g in optimizer.param_groups]
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience, threshold=0.0,
        threshold_mode="abs", min_lr=floor, eps=0.0)


@SCHEDULES.register("step")
def _step(optimizer, cfg, epochs: int):
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.step_gamma)


@SCHEDULES.register("cosine")
def _cosine(optimizer, cfg, epochs: int):
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=cfg.cosine_min_lr)


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
