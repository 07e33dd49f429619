"""The `model.activation` axis (§3.1): each value's module and its He-init gain.

Every value declares `gain`, the factor `model.init=kaiming` draws its weights with: N(0, gain²/fan_in). He et
al.'s argument: a layer's pre-activation variance is gain²·E[φ(h)²] for unit-variance h, so the variance is kept
when gain = 1/√E[φ(z)²], z ~ N(0, 1) (ReLU: √2). A value without a gain cannot be registered, so a new
activation never silently gets ReLU's.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ablate.registry import POSITIVE, Option, Registry

ACTIVATIONS = Registry("model.activation", requires=("gain",))
RELU_GAIN = math.sqrt(2.0)

TANH_A = Option("tanh_a", "output scale a of a·tanh(b·x) (LeCun: 1.7159)", POSITIVE)
TANH_B = Option("tanh_b", "input scale b of a·tanh(b·x) (LeCun: 0.6667, i.e. 2/3)", POSITIVE)
LEAKY_SLOPE = Option("leaky_slope", "slope for negative inputs")
ELU_ALPHA = Option("elu_alpha", "saturation value −α for large negative inputs")


def _rectifier_gain(slope: float) -> float:
    """He et al.'s gain for a rectifier with `slope` for negative inputs (ReLU: 0, √2)."""
    return math.sqrt(2.0 / (1 + slope**2))


def _second_moment(f, points: int = 80) -> float:
    """E[f(z)²] for z ~ N(0, 1), by Gauss–Hermite quadrature (exact to ~1e-12 for the smooth f used here)."""
    z, w = np.polynomial.hermite_e.hermegauss(points)
    return float(np.sum(w * f(z) ** 2) / math.sqrt(2 * math.pi))


def tanh_gain(tanh_a: float, tanh_b: float) -> float:
    """torch's 5/3 for plain tanh (4.6% above 1/√E[tanh(z)²] = 1.593), scaled for a·tanh(b·x) by the same
    argument: g = 5/3 · √(E[tanh(z)²] / E[(a·tanh(b·z))²]). E[tanh(z)²] = 0.394; LeCun's 1.7159·tanh(2x/3) has
    0.750, so its gain is 1.208 (1.155 without torch's margin), not 5/3."""
    scaled = _second_moment(lambda z: tanh_a * np.tanh(tanh_b * z))
    return 5.0 / 3 * math.sqrt(_second_moment(np.tanh) / scaled)


def init_gain(cfg) -> float:
    """The configured activation's declared gain, at its configured options."""
    gain = ACTIVATIONS.get(cfg.activation).meta["gain"]
    return gain(**ACTIVATIONS.options_of(cfg.activation, cfg)) if callable(gain) else gain


class ScaledTanh(nn.Module):
    """cuda-convnet's `tanh[a,b]` neuron, a·tanh(b·x); LeCun et al. 1998 use a = 1.7159, b = 2/3."""

    def __init__(self, a: float = 1.0, b: float = 1.0):
        super().__init__()
        self.a = a
        self.b = b

    def forward(self, x):
        return self.a * torch.tanh(self.b * x)

    def extra_repr(self) -> str:
        return f"a={self.a}, b={self.b}"


@ACTIVATIONS.register("sigmoid", summary="logistic 1/(1 + e^−x), saturating", source="§3.1", gain=1.0)
def _sigmoid(channels: int | None) -> nn.Module:
    return nn.Sigmoid()


@ACTIVATIONS.register("tanh", options=(TANH_A, TANH_B), summary="a·tanh(b·x), saturating; plain tanh at a = b = 1",
                      source="§3.1, Figure 1; cuda-convnet's tanh[a,b]", gain=tanh_gain)
def _tanh(channels: int | None, *, tanh_a: float, tanh_b: float) -> nn.Module:
    # Plain tanh stays torch's module (same graph and speed as before the scaled form existed).
    return nn.Tanh() if (tanh_a, tanh_b) == (1, 1) else ScaledTanh(tanh_a, tanh_b)


@ACTIVATIONS.register("relu", summary="max(0, x), non-saturating", source="§3.1, Figure 1 (Nair & Hinton 2010)",
                      gain=RELU_GAIN)
def _relu(channels: int | None) -> nn.Module:
    return nn.ReLU(inplace=True)


@ACTIVATIONS.register("leaky_relu", options=(LEAKY_SLOPE,), summary="max(x, slope·x)", source="Maas et al. 2013",
                      gain=lambda leaky_slope: _rectifier_gain(leaky_slope))
def _leaky_relu(channels: int | None, *, leaky_slope: float) -> nn.Module:
    return nn.LeakyReLU(leaky_slope, inplace=True)


# ELU and GELU take ReLU's gain: both are ~x for large positive inputs and ~0 (or −α) below.
@ACTIVATIONS.register("elu", options=(ELU_ALPHA,), summary="x above 0, α(eˣ − 1) below", source="Clevert et al. 2016",
                      gain=RELU_GAIN)
def _elu(channels: int | None, *, elu_alpha: float) -> nn.Module:
    return nn.ELU(elu_alpha, inplace=True)


# He et al. 2015: one learned slope per channel (per unit in fc layers), initialised to 0.25; its gain is at
# that initial slope.
@ACTIVATIONS.register("prelu", summary="max(x, a·x), a learned per channel (initially 0.25; not decayed)",
                      source="He et al. 2015", gain=_rectifier_gain(0.25))
def _prelu(channels: int | None) -> nn.Module:
    return nn.PReLU(channels or 1, init=0.25)


@ACTIVATIONS.register("gelu", summary="x·Φ(x)", source="Hendrycks & Gimpel 2016", gain=RELU_GAIN)
def _gelu(channels: int | None) -> nn.Module:
    return nn.GELU()


# x·σ(x) is not ~0 below zero like ReLU: its gain is He et al.'s 1/√E[φ(z)²] itself, 1.677.
@ACTIVATIONS.register("silu", summary="x·σ(x) (swish)", source="Elfwing et al. 2018; Ramachandran et al. 2017",
                      gain=1 / math.sqrt(_second_moment(lambda z: z / (1 + np.exp(-z)))))
def _silu(channels: int | None) -> nn.Module:
    return nn.SiLU(inplace=True)
