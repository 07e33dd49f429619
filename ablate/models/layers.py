"""Per-axis layer registries: each maps a config string to a module constructor (like timm's create_act).

Constructors take keyword options and ignore the ones that do not concern them, so a model can pass the
same options to whatever value the axis is set to. Also here: the layers the paper's nets need that torch
lacks (cuda-convnet's locally connected layer; LRN within towers is in lrn.py) and the shape arithmetic that lets every
model check, before training, that a pooling choice still fits its feature maps.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ablate.models.lrn import TowerLRN
from ablate.registry import ConfigError, Registry

ACTIVATIONS = Registry("model.activation")

ACTIVATIONS.register("sigmoid", lambda **_: nn.Sigmoid())


class ScaledTanh(nn.Module):
    """cuda-convnet's `tanh[a,b]` neuron, a·tanh(b·x); LeCun et al. 1998 use a = 1.7159, b = 2/3."""

    def __init__(self, a: float = 1.0, b: float = 1.0):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x):
        return self.a * torch.tanh(self.b * x)

    def extra_repr(self) -> str:
        return f"a={self.a}, b={self.b}"


# Plain tanh stays torch's module (same graph and speed as before the scaled form existed).
ACTIVATIONS.register("tanh", lambda tanh_a=1.0, tanh_b=1.0, **_: nn.Tanh() if (tanh_a, tanh_b) == (1, 1)
                     else ScaledTanh(tanh_a, tanh_b))
ACTIVATIONS.register("relu", lambda **_: nn.ReLU(inplace=True))
ACTIVATIONS.register("leaky_relu", lambda leaky_slope=0.01, **_: nn.LeakyReLU(leaky_slope, inplace=True))
ACTIVATIONS.register("elu", lambda elu_alpha=1.0, **_: nn.ELU(elu_alpha, inplace=True))
# He et al. 2015: one learned slope per channel (per unit in fc layers), initialised to 0.25.
ACTIVATIONS.register("prelu", lambda channels=None, **_: nn.PReLU(channels or 1, init=0.25))
ACTIVATIONS.register("gelu", lambda **_: nn.GELU())


def activation_options(cfg) -> dict:
    """The activation keyword options a ModelConfig carries."""
    return {"leaky_slope": cfg.leaky_slope, "elu_alpha": cfg.elu_alpha, "tanh_a": cfg.tanh_a, "tanh_b": cfg.tanh_b}


def _second_moment(f, points: int = 80) -> float:
    """E[f(z)²] for z ~ N(0, 1), by Gauss–Hermite quadrature (exact to ~1e-12 for the smooth f used here)."""
    z, w = np.polynomial.hermite_e.hermegauss(points)
    return float(np.sum(w * f(z) ** 2) / math.sqrt(2 * math.pi))


def kaiming_gain(cfg) -> float:
    """The He-init gain for the configured activation (PReLU at its initial slope 0.25).

    He et al.'s argument: with weights N(0, g²/fan_in), a layer's pre-activation variance is g²·E[φ(h)²] for
    h its input pre-activation, so unit variance is kept when g = 1/√E[φ(z)²], z ~ N(0, 1) (ReLU: √2). For
    tanh torch uses 5/3, 4.6% above that value (1.593); for a·tanh(b·x) we keep torch's value at a = b = 1 and
    scale it by the same argument: g = 5/3 · √(E[tanh(z)²] / E[(a·tanh(b·z))²]). E[tanh(z)²] = 0.394; LeCun's
    1.7159·tanh(2x/3) has 0.750, so its gain is 1.208 (1.155 without torch's margin), not 5/3.
    """
    if cfg.activation == "tanh":
        scaled = _second_moment(lambda z: cfg.tanh_a * np.tanh(cfg.tanh_b * z))
        return 5.0 / 3 * math.sqrt(_second_moment(np.tanh) / scaled)
    slope = {"leaky_relu": cfg.leaky_slope, "prelu": 0.25}.get(cfg.activation, 0.0)
    return {"sigmoid": 1.0}.get(cfg.activation, math.sqrt(2.0 / (1 + slope**2)))


NORMS = Registry("model.norm")


def norm_groups(channels: int, groups: int, towers: int = 1) -> int:
    """GroupNorm's group count: `groups` clipped to the channels, lowered until it divides them (and, when it
    can, is a multiple of the towers, so no group mixes channels of two towers)."""
    g = min(groups, channels)
    while g > 1 and (channels % g or g % towers):
        g -= 1
    return g


@NORMS.register("none")
def _no_norm(channels: int, towers: int = 1, **_) -> nn.Module:
    return nn.Identity()


@NORMS.register("lrn")
def _lrn(channels: int, towers: int = 1, lrn_size: int = 5, lrn_alpha: float = 1e-4, lrn_beta: float = 0.75,
         lrn_k: float = 2.0, lrn_convention: str = "cudaconvnet", **_) -> nn.Module:
    return TowerLRN(lrn_size, lrn_alpha, lrn_beta, lrn_k, towers, lrn_convention)


@NORMS.register("groupnorm")
def _groupnorm(channels: int, towers: int = 1, groupnorm_groups: int = 32, **_) -> nn.Module:
    return nn.GroupNorm(norm_groups(channels, groupnorm_groups, towers), channels)


@NORMS.register("batchnorm")
def _batchnorm(channels: int, towers: int = 1, **_) -> nn.Module:
    return nn.BatchNorm2d(channels)


def norm_options(cfg) -> dict:
    """The normalization keyword options a ModelConfig carries."""
    return {"lrn_size": cfg.lrn_size, "lrn_alpha": cfg.lrn_alpha, "lrn_beta": cfg.lrn_beta, "lrn_k": cfg.lrn_k,
            "lrn_convention": cfg.lrn_convention, "groupnorm_groups": cfg.groupnorm_groups}


POOLS = Registry("model.pool")
_POOL_TYPES = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def _pool(default_kernel: int, default_stride: int):
    def build(kind: str = "max", ceil_mode: bool = False, kernel: int | None = None, stride: int | None = None):
        k = default_kernel if kernel is None else kernel
        return _POOL_TYPES[kind](k, default_stride if stride is None else stride, ceil_mode=ceil_mode)
    return build


POOLS.register("overlap", _pool(3, 2))  # §3.4: z = 3, s = 2, windows overlap
POOLS.register("nonoverlap", _pool(2, 2))  # §3.4's baseline: z = s = 2, traditional local pooling


def conv_out(n: int, kernel: int, stride: int = 1, padding: int = 0, where: str = "conv") -> int:
    out = (n + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise ConfigError(f"{where}: a {kernel}×{kernel} convolution does not fit the {n}×{n} input; "
                          "use a larger data image size or a model sized for it (e.g. alexnet_cifar for 32×32)")
    return out


def pool_out(n: int, pool: nn.Module, where: str) -> int:
    """The side of a pooling layer's output, as torch computes it; a window larger than the map fails here."""
    k, s = pool.kernel_size, pool.stride
    if n < k:
        raise ConfigError(f"{where}: a {k}×{k} pooling window does not fit the {n}×{n} feature map; "
                          "lower model.pool_kernel / model.pool_stride or use a larger input")
    out = (n - k + (s - 1 if pool.ceil_mode else 0)) // s + 1
    if pool.ceil_mode and (out - 1) * s >= n:  # torch: the last window must start inside the input
        out -= 1
    return out


class LocallyConnected2d(nn.Module):
    """cuda-convnet's `local` layer: a convolution whose filters are not shared across positions.

    Each of the out_size² output positions has its own (out_channels × in_channels·k²) filter bank and its
    own bias per channel. Initialised like torch's Conv2d (uniform ±1/√fan_in).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, in_size: int, padding: int = 0,
                 stride: int = 1):
        super().__init__()
        self.kernel, self.padding, self.stride = kernel, padding, stride
        self.out_size = conv_out(in_size, kernel, stride, padding, "local layer")
        self.out_channels = out_channels
        fan_in = in_channels * kernel * kernel
        positions = self.out_size**2
        bound = 1 / math.sqrt(fan_in)
        self.weight = nn.Parameter(torch.empty(positions, out_channels, fan_in).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_channels, self.out_size, self.out_size).uniform_(-bound, bound))

    @property
    def fan_in(self) -> int:
        return self.weight.shape[2]

    def forward(self, x):
        cols = F.unfold(x, self.kernel, padding=self.padding, stride=self.stride)  # (B, C·k², positions)
        out = torch.einsum("bcl,loc->bol", cols, self.weight)
        return out.reshape(x.shape[0], self.out_channels, self.out_size, self.out_size) + self.bias


def fan_in(layer: nn.Module) -> int:
    """Inputs feeding one output unit of a conv, linear or locally connected layer."""
    if isinstance(layer, LocallyConnected2d):
        return layer.fan_in
    if isinstance(layer, nn.Conv2d):
        return layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]
    return layer.in_features
