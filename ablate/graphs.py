"""Captured training steps (`trainer.cuda_graphs`): a small net's whole step replayed as one CUDA graph.

Why: the Figure-1 net (145k parameters) is bound by launches, not arithmetic. Its step is a few hundred tiny
kernels (forward, backward, the optimizer, the error count), each queued by Python; on an H200 four times the
batch gave 3.9× the images/s (reports/bench/2026-11-28-gpu-h200.md). A graph queues them all with one call.

What is captured, per batch shape: forward under autocast, loss, backward, the optimizer's update and the
step's count of wrong predictions, reading static input/label buffers that each batch is copied into (the
data is already on the device: TensorLoader). What runs eagerly, as `ablate.engine.train_step`:
- the first `warmup` full-size steps, and again after any optimizer hyperparameter changed (an lr schedule,
  with it the paper momentum rescale): a graph freezes Python-side values such as the lr and the momentum
  buffers' creation, so it is captured afresh once the new values have run eagerly;
- a batch smaller than the largest seen: an epoch's last partial batch runs eagerly, unpadded, so metrics
  and updates stay those of the exact batch;
- everything on a device that is not CUDA: `make_step` returns `train_step` itself, the path without the
  option, so CPU runs are bit-identical to runs without it (tests/test_graphs.py).

Numbers: a replay launches the kernels the eager step launched, with the same arguments, on the same data, in
the same order; the results are the eager step's (bench/gpu_bench.py checks parameters bit for bit after
captured vs eager steps on the GPU). Hence trainer.cuda_graphs is bookkeeping (ablate/identity.py). Random
ops (dropout) draw from CUDA's graph-safe generator; their equality with eager draws is not checked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ablate.engine import EpochMeter, StepContext, train_step

WARMUP = 3  # eager steps of a shape before capture: lazy state (momentum buffers, cuDNN handles) exists by then
_CAPTURE = threading.Lock()  # one capture at a time per process (several trainers in threads: bench/gpu_sweep.py)


def make_step(cuda_graphs: bool, device: torch.device) -> Callable:
    """The step function for a run: a CapturedStep on CUDA when asked, else the plain `train_step`."""
    return CapturedStep() if cuda_graphs and device.type == "cuda" else train_step


def _hyper(optimizer: torch.optim.Optimizer) -> tuple:
    """Every group's settings other than its parameters: what a captured optimizer step has frozen."""
    return tuple(tuple(sorted((k, repr(v)) for k, v in g.items() if k != "params")) for g in optimizer.param_groups)


class CapturedStep:
    """`train_step`'s stand-in that replays a captured graph where it can (see the module doc)."""

    def __init__(self, warmup: int = WARMUP):
        self.warmup = warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.key: tuple | None = None  # (shapes, dtypes, strides, hyperparameters) of the graph or the warm-up
        self.count = 0  # eager full-size steps run under `key`
        self.largest = 0  # largest batch seen: only that size is captured
        self.static: tuple = ()  # input, labels, loss, wrong count: the graph's own tensors
        self.grads: list = []  # the gradients the graph writes (kept referenced while it lives)
        self.side: torch.cuda.Stream | None = None
        self.captures = self.replays = self.eager_steps = 0  # what happened, for tests and benchmarks

    def __call__(self, model, x, y, optimizer, scaler, meter: EpochMeter, ctx: StepContext) -> None:
        x = ctx.prepare(x)
        self.largest = max(self.largest, len(y))
        key = (tuple(x.shape), x.dtype, x.stride(), tuple(y.shape), y.dtype, _hyper(optimizer))
        if self.graph is not None and key == self.key:
            return self._replay(x, y, meter)
        if len(y) < self.largest:  # the last partial batch: eagerly, unpadded
            self.eager_steps += 1
            return train_step(model, x, y, optimizer, scaler, meter, ctx)
        if key != self.key:  # a new shape or new hyperparameters: warm up again before capturing
            self.key = key
            self.count = 0  # eager warm-up steps taken at this key
            self.graph = None
            self.static = ()
            self.grads = []
        if self.count < self.warmup:
            self.count += 1
            return self._eager_on_side_stream(model, x, y, optimizer, scaler, meter, ctx)
        self._capture(model, x, y, optimizer, scaler, ctx)
        self._replay(x, y, meter)

    def _eager_on_side_stream(self, model, x, y, optimizer, scaler, meter, ctx) -> None:
        """Warm-up steps run on a side stream, as PyTorch's whole-network capture recipe asks."""
        self.eager_steps += 1
        self.side = self.side or torch.cuda.Stream(x.device)
        self.side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(self.side):
            train_step(model, x, y, optimizer, scaler, meter, ctx)
        torch.cuda.current_stream(x.device).wait_stream(self.side)

    def _capture(self, model, x, y, optimizer, scaler, ctx) -> None:
        sx, sy = torch.empty_like(x), torch.empty_like(y)
        optimizer.zero_grad(set_to_none=True)  # the graph's backward allocates the gradients in its own pool
        graph = torch.cuda.CUDAGraph()
        with _CAPTURE, torch.cuda.graph(graph, capture_error_mode="thread_local"):
            with ctx.autocast(cache=False):
                logits = model(sx)
                loss = F.cross_entropy(logits.float(), sy)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            wrong = (logits.detach().argmax(1) != sy).sum()
        self.graph, self.static = graph, (sx, sy, loss.detach(), wrong)
        self.grads = [p.grad for g in optimizer.param_groups for p in g["params"]]
        self.captures += 1

    def _replay(self, x, y, meter: EpochMeter) -> None:
        sx, sy, loss, wrong = self.static
        sx.copy_(x)
        sy.copy_(y)
        self.graph.replay()
        meter.add(loss.clone(), wrong, len(y))  # the loss is kept: copied before the next replay overwrites it
        self.replays += 1
