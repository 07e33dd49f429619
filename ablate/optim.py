"""Optimizers and learning-rate schedules (registries of specs), and the weight-decay styles (a closed set).

Weight decay applies to the weights of the model's weighted layers (conv, linear and locally connected, as its
`weighted_layers()` declares them); biases, norm and PReLU parameters are excluded (as cuda-convnet's `wc` never
touched biases) unless `optim.decay_bias_and_norm`.
Its strength is `optim.weight_decay`, or per layer the model's `layer_decay` (cuda-convnet's per-layer `wc`;
`build_model` attaches `model.layer_decay` from the config). Styles: `coupled` adds λw to the gradient, so it
passes through momentum (SGD: exactly §5's rule) or Adam's scaling; `decoupled` shrinks the weights directly,
w ← w − lr·λ·w, outside momentum and Adam's scaling (SGDW/AdamW, Loshchilov & Hutter); `none` (no decay,
per-layer values included). The optimizer's `step()` does the whole update, decay included.

Learning rates: the biases of the weighted layers train at `optim.lr ×
optim.bias_lr_mult` (cuda-convnet's layer files set epsB = 2·epsW), the weights of the layers named in
`optim.layer_lr_mult` at `optim.lr` × their multiplier, everything else at `optim.lr`. Each kind
is its own parameter group, and every schedule scales each group's own lr, so the ratio holds throughout.
Group 0 always holds weights at `optim.lr`: the trainer logs its lr as the run's `lr`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ablate.config import DecayStyle
from ablate.registry import FRACTION, NON_NEGATIVE, POSITIVE, SHARE, Option, Registry

LR = Option("lr", "base learning rate, per step, for the global batch", POSITIVE)
WEIGHT_DECAY = Option("weight_decay", "decay strength λ (§5: 5e-4); equal λ is not equal strength across styles",
                      NON_NEGATIVE)
WEIGHT_DECAY_STYLE = Option("weight_decay_style", "coupled: λw added to the gradient (§5); decoupled: SGDW/AdamW; "
                                                  "none: no decay, per-layer values included")
DECAY_BIAS_AND_NORM = Option("decay_bias_and_norm", "also decay biases, norm and PReLU parameters")
BIAS_LR_MULT = Option("bias_lr_mult", "weighted layers' biases train at lr × this (cuda-convnet: 2)", NON_NEGATIVE)
LAYER_LR_MULT = Option("layer_lr_mult", "these layers' weights train at lr × this, by name; unlisted: at lr")
OPTIMIZERS = Registry("optim.name", options=(LR, WEIGHT_DECAY, WEIGHT_DECAY_STYLE, DECAY_BIAS_AND_NORM, BIAS_LR_MULT,
                                             LAYER_LR_MULT))
# reads_epochs: the schedule depends on trainer.epochs (the budget), so a run cannot be extended to a longer one
SCHEDULES = Registry("optim.schedule", requires=("reads_epochs",))
DECAY_STYLES = tuple(style.value for style in DecayStyle)


def param_groups(model: nn.Module, cfg) -> list[dict]:
    """One group per (decayed?, λ, lr multiplier); weights at the base lr first, so group 0's lr is `optim.lr`.

    With the defaults that is exactly two groups, decayed weights and excluded parameters (λ = 0), in the same
    order as before per-layer settings existed, so older checkpoints still load.
    """
    layer_decay = _by_weight(model, getattr(model, "layer_decay", None) or {})
    weighted = {id(w.layer) for w in model.weighted_layers()}
    lr_mult = _by_weight(model, cfg.layer_lr_mult or {})
    groups: dict[tuple, dict] = {}
    seen: set[int] = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            key = _group_key(module, id(module) in weighted, name, p, cfg, layer_decay, lr_mult.get(id(p), 1.0))
            groups.setdefault(key, {"params": [], "weight_decay": key[1], "lr": cfg.lr * key[2]})["params"].append(p)
    # Stable sort: groups at the base lr before the others (biases), decayed before excluded, else first seen.
    order = sorted(groups, key=lambda k: (k[2] != 1.0, not k[0]))
    return [groups[k] for k in order]


def _by_weight(model: nn.Module, per_name: dict[str, float]) -> dict[int, float]:
    """id(weight) → value, from a per-layer setting keyed by the model's weighted-layer names (model.layer_decay's
    λ, optim.layer_lr_mult's multiplier)."""
    layers = {w.name: w.layer for w in model.weighted_layers()}
    return {id(layers[name].weight): value for name, value in per_name.items()}


def _group_key(module: nn.Module, layered: bool, name: str, p: torch.Tensor, cfg, layer_decay: dict[int, float],
               weight_mult: float) -> tuple:
    """(decayed?, λ, lr multiplier) of one parameter of `module` (`layered`: one of the model's weighted layers)."""
    mult = cfg.bias_lr_mult if layered and name == "bias" else weight_mult
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


MOMENTUM = Option("momentum", "SGD momentum μ (§5: 0.9)", FRACTION)
PAPER_MOMENTUM_RESCALE = Option("paper_momentum_rescale", "rescale the momentum buffer on lr changes to match §5's "
                                                          "v-form", only_where_read=True)
ADAM_BETA1 = Option("adam_beta1", "Adam β1, decay of the gradient average", FRACTION)
ADAM_BETA2 = Option("adam_beta2", "Adam β2, decay of the squared-gradient average", FRACTION)
ADAM_EPS = Option("adam_eps", "Adam ε added to the denominator", POSITIVE)


# Builders: (parameter groups, lr, decoupled: decay outside the gradient), then their options.
@OPTIMIZERS.register("sgd", options=(MOMENTUM, PAPER_MOMENTUM_RESCALE), summary="SGD with momentum, buffer form",
                     source="§5")
def _sgd(groups: list[dict], lr: float, decoupled: bool, *, momentum: float,
         paper_momentum_rescale: bool) -> torch.optim.Optimizer:
    return SGD(groups, lr=lr, momentum=momentum, decoupled=decoupled, paper_momentum_rescale=paper_momentum_rescale)


@OPTIMIZERS.register("adam", options=(ADAM_BETA1, ADAM_BETA2, ADAM_EPS), summary="Adam (AdamW with decoupled decay)",
                     source="Kingma & Ba 2015; Loshchilov & Hutter 2019")
def _adam(groups: list[dict], lr: float, decoupled: bool, *, adam_beta1: float, adam_beta2: float,
          adam_eps: float) -> torch.optim.Optimizer:
    # decoupled_weight_decay=True is torch's AdamW update: w ← w − lr·λ·w beside the Adam step.
    return torch.optim.Adam(groups, lr=lr, betas=(adam_beta1, adam_beta2), eps=adam_eps,
                            decoupled_weight_decay=decoupled)


PLATEAU_FACTOR = Option("plateau_factor", "lr multiplier per drop (§5: divide by 10)", SHARE)
PLATEAU_PATIENCE = Option("plateau_patience", "epochs without a new best validation error before a drop (ours)",
                          NON_NEGATIVE)
PLATEAU_MAX_DROPS = Option("plateau_max_drops", "most drops over a run (§5: reduced three times)", NON_NEGATIVE)
STEP_SIZE = Option("step_size", "epochs between lr drops", POSITIVE)
STEP_GAMMA = Option("step_gamma", "lr multiplier per drop", SHARE)
MILESTONES = Option("milestones", "epochs after which the lr drops, ascending")
COSINE_MIN_LR = Option("cosine_min_lr", "lr the cosine decays to after the last epoch", NON_NEGATIVE)


def _ascending_epochs(options: dict) -> str | None:
    """The `check` of multistep (its options → the problem, or None): drops after ascending epochs >= 1."""
    ms = list(options["milestones"])
    if ms and ms[0] >= 1 and ms == sorted(set(ms)):
        return None
    return (f"optim.milestones={ms}: optim.schedule=multistep needs ascending epochs >= 1, e.g. "
            "optim.milestones=[120,130]")


# Builders: (optimizer, epochs, base lr), then their options.
@SCHEDULES.register("constant", reads_epochs=False, summary="the base lr throughout", source="Figure 1's runs")
def _constant(optimizer, epochs: int, lr: float):
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


@SCHEDULES.register("plateau", options=(PLATEAU_FACTOR, PLATEAU_PATIENCE, PLATEAU_MAX_DROPS),
                    summary="lr × factor when the validation error stops improving, at most max_drops times",
                    source="§5", reads_epochs=False)
def _plateau(optimizer, epochs: int, lr: float, *, plateau_factor: float, plateau_patience: int,
             plateau_max_drops: int):
    """§5: divide the lr by 10 when the validation error stops improving, at most `plateau_max_drops` times.

    "Stops improving" is literal (no tolerance): an epoch whose error is not below the best so far is a bad
    epoch, and `plateau_patience` + 1 bad epochs in a row trigger a drop. The floor min_lr = lr·factor^drops
    caps the number of drops.
    """
    floor = [g["lr"] * plateau_factor**plateau_max_drops for g in optimizer.param_groups]
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=plateau_factor, patience=plateau_patience, threshold=0.0,
        threshold_mode="abs", min_lr=floor, eps=0.0)


@SCHEDULES.register("step", options=(STEP_SIZE, STEP_GAMMA), summary="lr × gamma every step_size epochs",
                    reads_epochs=False)
def _step(optimizer, epochs: int, lr: float, *, step_size: int, step_gamma: float):
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=step_gamma)


@SCHEDULES.register("multistep", options=(MILESTONES, STEP_GAMMA), check=_ascending_epochs,
                    summary="lr × gamma after each listed epoch", source="cuda-convnet's hand-made drops",
                    reads_epochs=False)
def _multistep(optimizer, epochs: int, lr: float, *, milestones: list[int], step_gamma: float):
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=step_gamma)


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


@SCHEDULES.register("cosine", options=(COSINE_MIN_LR,), summary="cosine from the base lr to cosine_min_lr",
                    source="Loshchilov & Hutter 2017", reads_epochs=True)
def _cosine(optimizer, epochs: int, lr: float, *, cosine_min_lr: float):
    return GroupCosine(optimizer, epochs, cosine_min_lr, lr)


def build_optimizer(model: nn.Module, cfg) -> torch.optim.Optimizer:
    decoupled = cfg.weight_decay_style == DecayStyle.decoupled
    return OPTIMIZERS.build_from(cfg.name, cfg, param_groups(model, cfg), cfg.lr, decoupled)


def build_schedule(optimizer: torch.optim.Optimizer, cfg, epochs: int):
    """A scheduler stepped once per epoch with the epoch's validation error (`step(metric)` or `step()`)."""
    return SCHEDULES.build_from(cfg.schedule, cfg, optimizer, epochs, cfg.lr)


def step_schedule(scheduler, val_err: float) -> None:
    """Advance the schedule one epoch; plateau-style schedules read the epoch's validation error."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(val_err)
    else:
        scheduler.step()
