"""Activation statistics (`trainer.activation_stats=true`): what each hidden layer does, once per epoch.

Measured on a fixed probe batch — the first PROBE_IMAGES images of the validation split (the test split when
there is none), centre crop, no augmentation, eval mode — so every epoch and every run of a sweep sees the same
images. Per hidden layer, named after the weighted layer feeding its activation (conv1, fc64, ...), extra
columns of metrics.csv:

    <layer>_pre_std      standard deviation of the pre-activations (the activation's input)
    <layer>_saturated    tanh: fraction of outputs with |y| > 0.95·a (a = model.tanh_a, the tanh's amplitude);
                         sigmoid: fraction outside [0.05, 0.95]
    <layer>_dead         relu: fraction of units (a channel at one position, or an fc neuron) whose output is 0
                         for every probe image
    <layer>_weight_rms   root mean square of the layer's weights

`saturated` exists for saturating activations, `dead` for relu; a run's columns are fixed at its start. The
initial values (before the first step) go into summary.json as `activation_stats_init`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

PROBE_IMAGES = 256
SATURATION = 0.95  # |tanh| / a above this, or sigmoid outside [1 - this, this]
STATS = ("pre_std", "saturated", "dead", "weight_rms")


def probe_batch(batches: Iterable, n: int = PROBE_IMAGES) -> torch.Tensor:
    """The first `n` images of an evaluation split (the centre view of multi-crop batches)."""
    xs, have = [], 0
    for x, _ in batches:
        if x.dim() == 5:  # (B, crops, C, H, W): views are the 4 corners, the centre, then their mirrors
            x = x[:, 4]
        xs.append(x[: n - have])
        have += len(xs[-1])
        if have >= n:
            break
    return torch.cat(xs)


class ActivationProbe:
    def __init__(self, model: nn.Module, activation: str, tanh_a: float, x: torch.Tensor):
        acts = [m for m in model.modules() if getattr(m, "ablate_activation", None)]
        weighted = model.weighted_layers()
        if len(acts) != len(weighted) - 1:  # every hidden weighted layer feeds one activation; the output none
            raise ValueError(f"{type(model).__name__}: {len(acts)} activations for {len(weighted)} weighted layers")
        self.layers = [(w.name, act, w.layer) for w, act in zip(weighted[:-1], acts, strict=True)]
        self.kind = activation
        self.amplitude = tanh_a
        self.x = x
        keep = {"pre_std", "weight_rms"} | ({"saturated"} if activation in ("tanh", "sigmoid") else set()) | (
            {"dead"} if activation == "relu" else set())
        self.stats = [s for s in STATS if s in keep]

    def columns(self) -> list[str]:
        return [f"{name}_{stat}" for name, _, _ in self.layers for stat in self.stats]

    def _saturated(self, y: torch.Tensor) -> float:
        if self.kind == "tanh":
            return (y.abs() > SATURATION * abs(self.amplitude)).float().mean().item()
        return ((y < 1 - SATURATION) | (y > SATURATION)).float().mean().item()

    @torch.no_grad()
    def measure(self, model: nn.Module) -> dict[str, float]:
        out: dict[str, float] = {}
        hooks = []
        for name, act, layer in self.layers:
            # A pre-hook: in-place activations (ReLU) overwrite their input.
            hooks.append(act.register_forward_pre_hook(
                lambda m, inputs, name=name: out.__setitem__(f"{name}_pre_std", inputs[0].float().std().item())))
            hooks.append(act.register_forward_hook(lambda m, inputs, y, name=name: out.update(self._post(name, y))))
            out[f"{name}_weight_rms"] = layer.weight.float().pow(2).mean().sqrt().item()
        was_training = model.training
        model.eval()
        try:
            model(self.x)
        finally:
            model.train(was_training)
            for h in hooks:
                h.remove()
        return {c: out[c] for c in self.columns()}

    def _post(self, name: str, y: torch.Tensor) -> dict[str, float]:
        row = {}
        if "saturated" in self.stats:
            row[f"{name}_saturated"] = self._saturated(y.float())
        if "dead" in self.stats:
            row[f"{name}_dead"] = (y == 0).all(dim=0).float().mean().item()
        return row
