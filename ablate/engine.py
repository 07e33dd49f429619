"""One training epoch and one evaluation pass: the step-level code, read top to bottom.

`ablate.fit` drives these through a run (resume, checkpoints, signals, the run folder); here is only what
happens to a batch. Metric sums are kept on the device and all-reduced across ranks once per epoch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ablate.dist import all_reduce_sum

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class StepContext:
    """How a batch is fed: device, autocast precision, memory format."""
    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False

    def autocast(self, cache: bool = True):
        """`cache=False` for CUDA-graph capture: autocast's cache of cast weights must not outlive a captured
        region (PyTorch's graph recipe). It only saves re-casting a weight used twice: the values are the same."""
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype, cache_enabled=cache)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x


class EpochMeter:
    """Running sums of one epoch's training steps. Part of the checkpoint, so a resumed epoch reports the same."""

    def __init__(self, device: torch.device):
        self.device = device
        self.losses: list[torch.Tensor] = []
        self.wrong = torch.zeros((), dtype=torch.int64, device=device)
        self.seen = 0

    def update(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        self.add(loss.detach().float(), (logits.detach().argmax(1) != y).sum(), len(y))

    def add(self, loss: torch.Tensor, wrong: torch.Tensor, images: int) -> None:
        """One step's float32 loss (kept: not a buffer that is overwritten) and its count of wrong predictions."""
        self.losses.append(loss)
        self.wrong += wrong
        self.seen += images

    @property
    def steps(self) -> int:
        return len(self.losses)

    def first_nonfinite(self, since: int = 0) -> int | None:
        """Index of the first non-finite step loss at or after `since` (one host sync), else None."""
        if len(self.losses) <= since:
            return None
        bad = (~torch.isfinite(torch.stack(self.losses[since:]))).nonzero()
        return since + int(bad[0]) if len(bad) else None

    def result(self) -> dict[str, float]:
        """Epoch metrics over all ranks: mean step loss and the error of the training-step predictions."""
        loss_sum = torch.stack(self.losses).sum().double() if self.losses else torch.zeros((), dtype=torch.float64)
        sums = torch.stack([loss_sum.to(self.device), torch.tensor(float(self.steps), device=self.device).double(),
                            self.wrong.double(), torch.tensor(float(self.seen), device=self.device).double()])
        loss, steps, wrong, seen = all_reduce_sum(sums).tolist()
        return {"train_loss": loss / max(steps, 1), "train_err": wrong / max(seen, 1), "images": seen}

    def state_dict(self) -> dict:
        return {"losses": torch.stack(self.losses).cpu() if self.losses else torch.zeros(0),
                "wrong": int(self.wrong), "seen": self.seen}

    def load_state_dict(self, state: dict) -> None:
        self.losses = [v.to(self.device) for v in state["losses"]]
        self.wrong = torch.tensor(state["wrong"], dtype=torch.int64, device=self.device)
        self.seen = state["seen"]


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer, scaler,
               meter: EpochMeter, ctx: StepContext) -> None:
    """One training step: forward under autocast, loss, backward, the optimizer's update, the running sums."""
    with ctx.autocast():
        logits = model(ctx.prepare(x))
        loss = F.cross_entropy(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    meter.update(loss, logits, y)


def train_one_epoch(model: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer, scaler,
                    meter: EpochMeter, ctx: StepContext, start_batch: int = 0,
                    after_step: Callable[[int], bool] = lambda batch: False, step: Callable = train_step) -> bool:
    """Train over `loader` from `start_batch`; `after_step(batches_done)` returning True stops early. `step` is
    `train_step` or a stand-in with its signature (ablate.graphs.CapturedStep replays it as a CUDA graph).

    Returns True when the epoch ran to its end.
    """
    model.train()
    for batch, (x, y) in enumerate(loader, start=start_batch):
        step(model, x, y, optimizer, scaler, meter, ctx)
        if after_step(batch + 1):
            return False
    return True


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, ctx: StepContext | None = None) -> dict[str, float]:
    """Mean loss, top-1 and top-5 error over a split (summed over ranks when distributed).

    A batch of shape (B, crops, C, H, W) is multi-crop testing (the paper's 10 crops): the softmax outputs of
    the crops are averaged, and the loss is that of the averaged prediction.
    """
    ctx = ctx or StepContext(next(model.parameters()).device)
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=ctx.device)  # loss, top-1 hits, top-5 hits, images
    for x, y in loader:
        with ctx.autocast():
            if x.dim() == 5:
                logits = model(ctx.prepare(x.flatten(0, 1))).float()
                probs = logits.softmax(-1).view(x.shape[0], x.shape[1], -1).mean(1)
                log_probs = probs.clamp_min(1e-12).log()
            else:
                log_probs = model(ctx.prepare(x)).float().log_softmax(-1)
        hit = log_probs.topk(min(5, log_probs.shape[1]), dim=1).indices == y[:, None]
        sums += torch.stack([F.nll_loss(log_probs, y, reduction="sum").double(), hit[:, 0].sum().double(),
                             hit.any(1).sum().double(), torch.tensor(len(y), device=ctx.device).double()])
    loss, top1, top5, n = all_reduce_sum(sums).tolist()
    n = max(n, 1)
    return {"loss": loss / n, "top1_err": 1 - top1 / n, "top5_err": 1 - top5 / n}
