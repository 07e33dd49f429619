"""Optimizers, weight-decay styles and learning-rate schedules, each a registry.

Weight decay applies to the weights of conv, linear and locally connected layers; biases, norm and PReLU
parameters are excluded (as cuda-convnet's `wc` never touched biases) unless `optim.decay_bias_and_norm`.
Its strength is `optim.weight_decay`, or per layer the model's `layer_decay` (cuda-convnet's per-layer `wc`;
`build_model` attaches `model.layer_decay` from the config). Styles: `coupled` adds λw to the gradient, so it
passes through momentum (SGD: exactly §5's rule) or Adam's scaling; `decoupled` shrinks the weights directly,
w ← w − lr·λ·w, outside momentum and Adam's scaling (SGDW/AdamW, Loshchilov & Hutter); `none` (no decay,
per-layer values included). The optimizer's `step()` does the whole update, decay included.

Learning rates: the biases of conv, linear and locally connected layers train at `optim.lr ×
optim.bias_lr_mult` (cuda-convnet's layer files set epsB = 2·epsW), everything else at `optim.lr`. Each kind
is its own parameter group, and every schedule scales each group's own lr, so the ratio holds throughout.
Group 0 always holds weights at `optim.lr`: the trainer logs its lr as the run's `lr`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ablate.models.layers import LocallyConnected2d
from ablate.registry import Registry

OPTIMIZERS = Registry("optim.name")
SCHEDULES = Registry("optim.schedule")
DECAY_STYLES = ("coupled", "decoupled", "none")
_DECAYED = (nn.Conv2d, nn.Linear, LocallyConnected2d)  # layers whose `weight` is decayed


def param_groups(model: nn.Module, cfg) -> list[dict]:
    """One group per (decayed?, λ, lr multiplier); weights at the base lr first, so group 0's lr is `optim.lr`.

    With the defaults that is exactly two groups, decayed weights and excluded parameters (λ = 0), in the same
    order as before per-layer settings existed, so older checkpoints still load.
    """
    layer_decay = _layer_decay_by_param(model)
    groups: dict[tuple, dict] = {}
    seen: set[int] = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            key = _group_key(module, name, p, cfg, layer_decay)
            groups.setdefault(key, {"params": [], "weight_decay": key[1], "lr": cfg.lr * key[2]})["params"].append(p)
    # Stable sort: groups at the base lr before the others (biases), decayed before excluded, else first seen.
    order = sorted(groups, key=lambda k: (k[2] != 1.0, not k[0]))
    return [groups[k] for k in order]


def _layer_decay_by_param(model: nn.Module) -> dict[int, float]:
    """id(weight) → λ of that layer, from the model's `layer_decay` (name → λ) and its named weighted layers."""
    per_name = getattr(model, "layer_decay", None) or {}
    if not per_name:
        return {}
    layers = {w.name: w.layer for w in model.weighted_layers()}
    return {id(layers[name].weight): decay for name, decay in per_name.items()}


def _group_key(module: nn.Module, name: str, p: torch.Tensor, cfg, layer_decay: dict[int, float]) -> tuple:
    """(decayed?, λ, lr multiplier) of one parameter."""
    layered = isinstance(module, _DECAYED)
    mult = cfg.bias_lr_mult if layered and name == "bias" else 1.0
    decayed = (layered and name == "weight") or cfg.decay_bias_and_norm
    if not decayed:
        return False, 0.0, mult
    if cfg.weight_decay_style == "none":
        return True, 0.0, mult
    # A bias (decay_bias_and_norm) takes its own layer's λ, found through the layer's weight.
    weight = module.weight if layered else p
    return True, layer_decay.get(id(weight), cfg.weight_decay), mult


class SGD(torch.optim.Optimizer):
    """SGD with momentum in torch's buffer form, with the paper's rule and its decoupled variant.

    coupled:   b ← μb + ∂L/∂w + λw;  w ← w − ε·b.  With v = −ε·b this is §5's
               v ← μv − λεw − ε∂L/∂w, w ← w + v, exactly, while ε is constant.
    decoupled: b ← μb + ∂L/∂w;       w ← w − ε·b − ε·λ·w   (SGDW: the decay skips the momentum buffer)
    paper_momentum_rescale: when ε changes between steps, b is first multiplied by ε_old/ε_new, so the
    velocity v = −ε·b carries over unchanged as in the v-form (the b-form would rescale it by ε_new/ε_old).
    The ε the buffer was last used with lives in the optimizer state, so checkpoints carry it.
    `foreach` (default) updates each group with multi-tensor kernels: a few launches per step instead of
    several per parameter, the same numbers as the per-parameter loop (`foreach=False`, the reference).
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 decoupled: bool = False, paper_momentum_rescale: bool = False, foreach: bool = True):
        defaults = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "decoupled": decoupled,
                    "paper_momentum_rescale": paper_momentum_rescale}
        super().__init__(params, defaults)
        # An attribute, not a group default: state dicts (checkpoints) stay exactly as they were.
        self.foreach = foreach

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params and self.foreach:
                self._update_group(params, group)
            else:
                for p in params:
                    self._update(p, group)
        return loss

    def _update_group(self, params: list[torch.Tensor], group: dict) -> None:
        """`_update` for a whole group in a few multi-tensor (torch._foreach_*) launches instead of several per
        parameter: the same operations on the same values in the same order, so the same numbers (on CPU the
        foreach ops are those very per-tensor ops; tests/test_optim.py checks bit equality with the loop)."""
        lr, mu, lam = group["lr"], group["momentum"], group["weight_decay"]
        d = [p.grad for p in params]
        if lam and not group["decoupled"]:
            d = torch._foreach_add(d, params, alpha=lam)
        if mu:
            d = self._momentum_group(params, d, group)
        if lam and group["decoupled"]:
            torch._foreach_mul_(params, 1 - lr * lam)
        torch._foreach_add_(params, d, alpha=-lr)

    def _momentum_group(self, params: list[torch.Tensor], d: list[torch.Tensor], group: dict) -> list[torch.Tensor]:
        """b ← μb + d per parameter (b ← d on its first step), after the paper rescale where ε changed."""
        lr, bufs, updates, rescale = group["lr"], [], [], {}
        for p, dp in zip(params, d, strict=True):
            state = self.state[p]
            buf = state.get("momentum_buffer")
            if buf is None:
                state["momentum_buffer"] = dp.clone()
            else:
                if group["paper_momentum_rescale"] and state["buffer_lr"] != lr:
                    rescale.setdefault(state["buffer_lr"] / lr, []).append(buf)
                bufs.append(buf)
                updates.append(dp)
            state["buffer_lr"] = lr
        for factor, scaled in rescale.items():
            torch._foreach_mul_(scaled, factor)
        if bufs:
            torch._foreach_mul_(bufs, group["momentum"])
            torch._foreach_add_(bufs, updates)
        return [self.state[p]["momentum_buffer"] for p in params]

    def _update(self, p: torch.Tensor, group: dict) -> None:
        """The rule for one parameter, as written above: the reference `_update_group` is tested against."""
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


@SCHEDULES.register("multistep")
def _multistep(optimizer, cfg, epochs: int):
    """cuda-convnet's hand-made drops: lr × step_gamma after each epoch listed in `optim.milestones`."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.milestones), gamma=cfg.step_gamma)


class GroupCosine(torch.optim.lr_scheduler.CosineAnnealingLR):
    """Cosine annealing in closed form, each group from its own lr to its own floor.

    torch's version sends every group to the same `eta_min`; here a group's floor is `cosine_min_lr` times the
    group's lr multiplier (its base lr / optim.lr), so biases stay at bias_lr_mult × the weights' lr.
    """

    def __init__(self, optimizer, epochs: int, min_lr: float, lr: float):
        self.floor_ratio = min_lr / lr  # set before super().__init__, whose first step() reads it
        super().__init__(optimizer, T_max=epochs, eta_min=min_lr)

    def get_lr(self):
        return self._get_closed_form_lr()

    def _get_closed_form_lr(self):
        c = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [base * (self.floor_ratio + (1 - self.floor_ratio) * c) for base in self.base_lrs]


@SCHEDULES.register("cosine")
def _cosine(optimizer, cfg, epochs: int):
    return GroupCosine(optimizer, epochs, cfg.cosine_min_lr, cfg.lr)


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
