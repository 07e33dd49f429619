"""The in-process CPU contenders: ablate's trainer vs a bare loop, ablate's CIFAR pipeline vs torchvision's.

Each function runs one contender once and returns its timings; `bench/cpu.py` interleaves the pairs and
repeats them. Both sides of a pair get the same model (convnet4, same initial weights), batch and augmentation.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ablate.config import Config, DataConfig, ModelConfig, OptimConfig, TrainerConfig
from ablate.data import build_data
from ablate.data.loader import BatchSource
from ablate.dist import DistEnv
from ablate.engine import EpochMeter, StepContext, train_one_epoch
from ablate.fit import Trainer
from ablate.models import build_model
from ablate.optim import build_optimizer

CPU = torch.device("cpu")
# The constants people paste into torchvision scripts (CIFAR-10 train split, pixels in [0, 1]).
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


# -- 1. harness overhead ---------------------------------------------------------------------------------------
class Preloaded(BatchSource):
    """Ready batches, yielded as they are; records the wall time from the first batch asked for to the end."""

    def __init__(self, batches: list[tuple[torch.Tensor, torch.Tensor]]):
        super().__init__(sum(len(y) for _, y in batches), len(batches[0][1]), 0, True, 0, 1)
        self.batches = batches
        self.loop_s: float | None = None

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        t0 = time.perf_counter()
        yield from self.batches[self.start_batch:]
        self.loop_s = time.perf_counter() - t0


class NoBatches(BatchSource):
    """An empty split: the bare loop does not evaluate, so the harness run does not either."""

    def __init__(self):
        super().__init__(0, 1, 0, False, 0, 1)

    def __iter__(self):
        return iter(())


def overhead_config(out_dir: Path, batch: int, progress: str) -> Config:
    return Config(name="bench", out_dir=str(out_dir), model=ModelConfig(),
                  data=DataConfig(name="synthetic", subset=batch, test_subset=10),
                  trainer=TrainerConfig(epochs=1, batch_size=batch, device="cpu", progress=progress))


def make_batches(steps: int, batch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`steps` normalised CIFAR-shaped batches from the synthetic set (preloaded: no data work is timed)."""
    data = build_data(DataConfig(name="synthetic", subset=steps * batch, test_subset=10), 0, CPU, batch, batch)
    data.train.set_epoch(1)
    return [(x.clone(), y.clone()) for x, y in data.train]


def initial_weights(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return {k: v.clone() for k, v in build_model(ModelConfig(), 10, 32).state_dict().items()}


def harness_once(cfg: Config, batches, weights) -> dict[str, float]:
    """`Trainer.fit()` over the preloaded batches: steps with meter, progress, divergence/preemption checks and
    checkpoint cadence, then the epoch end (metrics row, summary, checkpoint). Evaluation sees no batches."""
    trainer = Trainer(cfg, DistEnv(), CPU)
    trainer.raw_model.load_state_dict(weights)
    trainer.data.train, trainer.data.val, trainer.data.test = Preloaded(batches), NoBatches(), None
    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null), contextlib.redirect_stdout(null):
        t0 = time.perf_counter()
        summary = trainer.fit()
        fit_s = time.perf_counter() - t0
    if summary["status"] != "completed":
        raise RuntimeError(f"harness run ended {summary['status']}: {summary.get('error')}")
    loop_s = trainer.data.train.loop_s
    return {"step_s": loop_s / len(batches), "fixed_s": fit_s - loop_s}


def bare_once(batches, weights) -> dict[str, float]:
    """The loop people write: forward, loss, zero_grad, backward, torch's SGD step. Nothing else."""
    model = build_model(ModelConfig(), 10, 32)
    model.load_state_dict(weights)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    t0 = time.perf_counter()
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return {"step_s": (time.perf_counter() - t0) / len(batches)}


# -- 2. end-to-end epoch on the real CIFAR-10 ------------------------------------------------------------------
def _steps_done(steps: int):
    return lambda batches_done: bool(steps) and batches_done >= steps


def ablate_epoch(root: Path, batch: int, steps: int, cache_dir: str | None, model_on: bool = True) -> dict:
    """ablate's CIFAR pipeline (cached uint8 arrays, batched crop/flip on tensors) through the engine's epoch.

    `steps` = 0 runs the whole epoch; `model_on=False` only draws the batches (the data pipeline alone)."""
    t0 = time.perf_counter()
    cfg = DataConfig(name="cifar10", root=str(root), augment="crop_flip", loader="tensor", cache_dir=cache_dir)
    data = build_data(cfg, 0, CPU, batch, 512)
    data.train.set_epoch(1)
    t1 = time.perf_counter()
    if not model_on:
        images = 0
        for i, (_, y) in enumerate(data.train):
            images += len(y)
            if steps and i + 1 >= steps:
                break
        return {"setup_s": t1 - t0, "loop_s": time.perf_counter() - t1, "images": int(images)}
    model = build_model(ModelConfig(), 10, 32)
    model.load_state_dict(initial_weights())
    opt = build_optimizer(model, OptimConfig())
    meter = EpochMeter(CPU)
    train_one_epoch(model, data.train, opt, torch.amp.GradScaler("cpu", enabled=False), meter, StepContext(CPU),
                    after_step=_steps_done(steps))
    images = meter.result()["images"]
    return {"setup_s": t1 - t0, "loop_s": time.perf_counter() - t1, "images": int(images)}


def torchvision_loader(root: Path, batch: int, workers: int):
    """The torchvision reference-script pipeline: ImageFolder + PIL transforms + DataLoader with workers."""
    import torchvision.transforms as T
    from torch.utils.data import DataLoader
    from torchvision.datasets import ImageFolder

    tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize(CIFAR_MEAN, CIFAR_STD)])
    ds = ImageFolder(str(root / "train"), transform=tf)
    return DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, persistent_workers=False)


def torchvision_epoch(root: Path, batch: int, steps: int, workers: int = 2, model_on: bool = True) -> dict:
    t0 = time.perf_counter()
    torch.manual_seed(0)
    loader = torchvision_loader(root, batch, workers)
    model = build_model(ModelConfig(), 10, 32)
    model.load_state_dict(initial_weights())
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    t1 = time.perf_counter()
    images = 0
    for i, (x, y) in enumerate(loader):  # workers start here, so their start-up is in the loop time
        if model_on:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        images += len(y)
        if steps and i + 1 >= steps:
            break
    loop_s = time.perf_counter() - t1
    del loader
    return {"setup_s": t1 - t0, "loop_s": loop_s, "images": int(images)}


# -- where the time goes ---------------------------------------------------------------------------------------
def phase_profile(batches_iter, model, opt, steps: int) -> tuple[dict[str, float], str]:
    """torch.profiler over `steps` steps with the phases labelled: ms per step per phase, and the top ops."""
    from torch.profiler import ProfilerActivity, profile, record_function

    it = iter(batches_iter)
    for _ in range(2):  # warm-up outside the profile (DataLoader workers start, allocator warms)
        x, y = next(it)
        F.cross_entropy(model(x), y).backward()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            with record_function("phase:data"):
                x, y = next(it)
            with record_function("phase:forward+loss"):
                loss = F.cross_entropy(model(x), y)
            with record_function("phase:backward"):
                opt.zero_grad(set_to_none=True)
                loss.backward()
            with record_function("phase:optimizer"):
                opt.step()
    events = prof.key_averages()
    phases = {e.key.removeprefix("phase:"): e.cpu_time_total / 1e3 / steps for e in events
              if e.key.startswith("phase:")}
    top = events.table(sort_by="self_cpu_time_total", row_limit=8, max_name_column_width=40)
    return phases, top


def profile_e2e(root: Path, batch: int, steps: int, cache_dir: str | None, workers: int) -> dict[str, dict]:
    """Phase split of a training step on both CIFAR pipelines (same model and steps)."""
    out = {}
    cfg = DataConfig(name="cifar10", root=str(root), augment="crop_flip", loader="tensor", cache_dir=cache_dir)
    data = build_data(cfg, 0, CPU, batch, 512)
    data.train.set_epoch(1)
    model = build_model(ModelConfig(), 10, 32)
    out["ablate"] = phase_profile(data.train, model, build_optimizer(model, OptimConfig()), steps)
    model = build_model(ModelConfig(), 10, 32)
    loader = torchvision_loader(root, batch, workers)
    out["torchvision"] = phase_profile(loader, model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
                                       steps)
    return out
