"""The `model.pool` axis (§3.4): the pooling windows.

A model asks for a pooling layer of a `kind` (max or avg, its own choice: convnet4 pools max, avg, avg) and says
whether windows may overhang the right edge (`ceil_mode`, cuda-convnet's convention); the axis value chooses the
window and stride. `model.pool_kernel` and `model.pool_stride` override both for any value. Each builder returns
a module with `kernel_size`, `stride` and `ceil_mode`, from which ablate.models.layers.pool_out sizes its output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ablate.models.layers import pool_out
from ablate.registry import POSITIVE, Option, Registry

POOL_KERNEL = Option("pool_kernel", "pooling window side, pixels; null: the pool value's own", POSITIVE, optional=True)
POOL_STRIDE = Option("pool_stride", "pooling stride, pixels; null: the pool value's own", POSITIVE, optional=True)
POOLS = Registry("model.pool", options=(POOL_KERNEL, POOL_STRIDE))
_POOL_TYPES = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def _windows(kernel: int, stride: int):
    """A builder of torch's max/avg pooling with kernel×kernel windows every `stride` pixels (unless overridden)."""
    def build(kind: str, ceil_mode: bool, kernel_override: int | None, stride_override: int | None) -> nn.Module:
        k = kernel if kernel_override is None else kernel_override
        return _POOL_TYPES[kind](k, stride if stride_override is None else stride_override, ceil_mode=ceil_mode)
    return build


POOLS.register("overlap", _windows(3, 2), summary="3×3 windows, stride 2: neighbouring windows overlap",
               source="§3.4 (z = 3, s = 2)")
POOLS.register("nonoverlap", _windows(2, 2), summary="2×2 windows, stride 2: traditional local pooling",
               source="§3.4's baseline (z = s = 2)")


class StochasticPool2d(nn.Module):
    """Zeiler & Fergus 2013: in training each window outputs one of its activations, drawn with probability
    proportional to its value; at test time the probability-weighted average Σ pᵢaᵢ. The rule is for non-negative
    (ReLU) activations: a negative one counts as 0, never drawn and without weight, so a window of negatives
    gives 0. Windows overhanging the edge (ceil_mode) see zeros there, as max pooling sees nothing."""

    def __init__(self, kernel_size: int, stride: int, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size, self.stride
        out_h, out_w = (pool_out(n, self, "stochastic pooling") for n in x.shape[2:])
        right, bottom = ((out - 1) * s + k - n for out, n in ((out_w, x.shape[3]), (out_h, x.shape[2])))
        a = F.pad(F.relu(x), (0, max(0, right), 0, max(0, bottom)))
        windows = a.unfold(2, k, s).unfold(3, k, s)[:, :, :out_h, :out_w].flatten(-2)  # B, C, H', W', k²
        total = windows.sum(-1, keepdim=True)
        if not self.training:
            return ((windows * windows).sum(-1, keepdim=True) / total.clamp_min(1e-12)).squeeze(-1)
        # Inverse CDF: the first activation whose running sum passes u ~ U(0, total); an all-zero window gives 0.
        u = torch.rand_like(total) * total
        pick = (windows.cumsum(-1) < u).sum(-1, keepdim=True).clamp_max(k * k - 1)
        return windows.gather(-1, pick).squeeze(-1)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, ceil_mode={self.ceil_mode}"


@POOLS.register("stochastic", summary="3×3 windows, stride 2; max pooling becomes stochastic pooling (a draw ∝ "
                                      "activation in training, the weighted average at test), average pooling stays",
                source="Zeiler & Fergus 2013")
def _stochastic(kind: str, ceil_mode: bool, kernel_override: int | None, stride_override: int | None) -> nn.Module:
    k = 3 if kernel_override is None else kernel_override
    s = 2 if stride_override is None else stride_override
    return StochasticPool2d(k, s, ceil_mode) if kind == "max" else nn.AvgPool2d(k, s, ceil_mode=ceil_mode)
