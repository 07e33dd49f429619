"""The `model.init` axis: how weights and biases start.

Every model lists its weighted layers, input to output, with their names and the (weight std, bias) its
source used: `model.weighted_layers() -> [Weighted(name, layer, std, bias), ...]`; the last entry is the
output layer.

- `paper`: those values. For the AlexNets that is §5: weights N(0, 0.01²), biases 1 in conv2, conv4, conv5
  and the hidden fc layers (to give ReLUs positive inputs early), 0 elsewhere. For the cuda-convnet CIFAR nets
  it is their layer files' `initW` per layer, biases 0.
- `kaiming`: He et al. 2015, weights N(0, gain²/fan_in) with the activation's declared gain (gain 1 on the
  output layer), biases 0.
- `default`: torch's own initialisation, left untouched.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ablate.models.layers import fan_in
from ablate.registry import Registry

# Builders: (the built model, the activation's init gain).
INITS = Registry("model.init")


@INITS.register("default", summary="torch's own initialisation, left untouched")
def _default(model: nn.Module, gain: float) -> None:
    return None


@torch.no_grad()
def _set(layer: nn.Module, std: float, bias: float) -> None:
    layer.weight.normal_(0.0, std)
    if layer.bias is not None:
        layer.bias.fill_(bias)


@INITS.register("paper", summary="the source's values: §5 for the AlexNets (N(0, 0.01²), biases 1 in conv2, "
                "conv4, conv5, fc6, fc7), the layer files' initW for the cuda-convnet nets", source="§5; layer files")
def _paper(model: nn.Module, gain: float) -> None:
    for w in model.weighted_layers():
        _set(w.layer, w.std, w.bias)


@INITS.register("kaiming", summary="N(0, gain²/fan_in) with the activation's gain (1 on the output layer), biases 0",
                source="He et al. 2015")
def _kaiming(model: nn.Module, gain: float) -> None:
    layers = [w.layer for w in model.weighted_layers()]
    for i, layer in enumerate(layers):
        _set(layer, (1.0 if i == len(layers) - 1 else gain) / math.sqrt(fan_in(layer)), 0.0)
