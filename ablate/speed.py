"""The speed options of a run, applied in one place: `trainer.cuda_graphs`, `trainer.cudnn_benchmark`,
`trainer.fused_lrn` (all bookkeeping, ablate/identity.py: they change how fast a run goes, not what it
computes beyond float rounding). `trainer.pack` acts in the launcher (ablate/mps.py), `trainer.compile` and
`trainer.channels_last` in the trainer itself. docs/performance.md says what each is worth where measured."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ablate.graphs import make_step
from ablate.models.lrn import TowerLRN
from ablate.registry import ConfigError


def use_fused_lrn(model: nn.Module, device: torch.device) -> int:
    """Switch every TowerLRN of `model` to the fused kernels (CUDA only; elsewhere the layer stays as it is).
    Returns how many layers were switched."""
    from ablate.models import lrn_fused

    if device.type == "cuda" and not lrn_fused.available():
        raise ConfigError("trainer.fused_lrn=true needs Triton (it ships with CUDA builds of torch; "
                          "pip install triton), or set trainer.fused_lrn=false")
    layers = [m for m in model.modules() if isinstance(m, TowerLRN)]
    for layer in layers:
        layer.fused_op = lrn_fused.fused_lrn
    return len(layers)


def apply_speed_options(t, model: nn.Module, device: torch.device, say: bool = True) -> Callable:
    """Set the process-wide and per-model options of trainer section `t`; return the training step to use."""
    # Process-wide; set either way, so a run says exactly what it ran with (several trainers share a process
    # in the benchmarks).
    torch.backends.cudnn.benchmark = bool(t.cudnn_benchmark)
    if t.fused_lrn:
        use_fused_lrn(model, device)
    if t.cuda_graphs and device.type != "cuda" and say:
        print(f"[ablate] trainer.cuda_graphs=true has no effect on {device.type}: the plain step runs", flush=True)
    return make_step(t.cuda_graphs, device)
