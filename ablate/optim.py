"""Optimizers (a registry of specs) and the weight-decay styles (a closed set); lr schedules: ablate.schedules.

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
is its own parameter group, and every schedule (ablate.schedules) scales each group's own lr, so the ratio holds throughout.
Group 0 always holds weights at `optim.lr`: the trainer logs its lr as the run's `lr`.
"""

from __future__ import annotations

import torch
from torch import nn

from ablate.config import DecayStyle
from ablate.registry import FRACTION, NON_NEGATIVE, POSITIVE, Option, Registry

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


def build_optimizer(model: nn.Module, cfg) -> torch.optim.Optimizer:
    decoupled = cfg.weight_decay_style == DecayStyle.decoupled
    return OPTIMIZERS.build_from(cfg.name, cfg, param_groups(model, cfg), cfg.lr, decoupled)
