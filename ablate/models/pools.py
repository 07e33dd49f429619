"""The `model.pool` axis (§3.4): the pooling windows.

A model asks for a pooling layer of a `kind` (max or avg, its own choice: convnet4 pools max, avg, avg) and says
whether windows may overhang the right edge (`ceil_mode`, cuda-convnet's convention); the axis value chooses the
window and stride. `model.pool_kernel` and `model.pool_stride` override both for any value. Each builder returns
a module with `kernel_size`, `stride` and `ceil_mode`, from which ablate.models.layers.pool_out sizes its output.
"""

from __future__ import annotations

from torch import nn

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
