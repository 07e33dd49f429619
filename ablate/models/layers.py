"""Layers the paper's nets need that torch lacks, and their shape arithmetic.

cuda-convnet's locally connected layer (LRN within towers is in lrn.py), and the output sizes of convolutions
and pooling, so that every model checks before training that a pooling choice still fits its feature maps. The
axes' values are in activations.py, norms.py, pools.py, regularizers.py and init.py.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ablate.registry import ConfigError


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
