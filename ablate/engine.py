"""The shared trainer: `train(cfg) -> summary`, built from `train_one_epoch` and `evaluate`.

Reads top to bottom like torchvision's reference scripts. Hydra never reaches here: `cfg` is a plain
`ablate.config.Config`, so `ablate.train(Config(...))` works from a notebook.
"""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ablate.config import Config
from ablate.data import build_data
from ablate.models import build_model, count_params
from ablate.optim import build_optimizer, build_schedule, step_schedule
from ablate.progress import Progress
from ablate.sinks import RunFolder


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def train_one_epoch(model: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer,
                    progress: Progress, limit_batches: int = 0) -> dict[str, float]:
    """One pass; the error is that of the predictions made during the training steps (what Fig. 1 plots)."""
    model.train()
    losses, wrong, seen, steps = [], None, 0, 0
    for x, y in loader:
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        # Accumulate on the device; one host sync per epoch, not per step.
        losses.append(loss.detach())
        batch_wrong = (logits.detach().argmax(1) != y).sum()
        wrong = batch_wrong if wrong is None else wrong + batch_wrong
        seen += len(y)
        steps += 1
        progress.step(len(y))
        if limit_batches and steps >= limit_batches:
            break
    step_losses = torch.stack(losses).float().cpu()
    finite = torch.isfinite(step_losses)
    first_bad = int((~finite).nonzero()[0]) if not bool(finite.all()) else None
    return {"train_loss": float(step_losses.mean()), "train_err": int(wrong) / seen, "steps": steps,
            "images": seen, "first_bad_step": first_bad}


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable) -> dict[str, float]:
    """Mean loss, top-1 and top-5 error over a split.

    A batch of shape (B, crops, C, H, W) is multi-crop testing (the paper's 10 crops): the softmax outputs of
    the crops are averaged, and the loss is that of the averaged prediction.
    """
    model.eval()
    loss_sum = top1 = top5 = 0.0
    n = 0
    for x, y in loader:
        if x.dim() == 5:
            probs = model(x.flatten(0, 1)).float().softmax(-1).view(x.shape[0], x.shape[1], -1).mean(1)
            log_probs = probs.clamp_min(1e-12).log()
        else:
            log_probs = model(x).float().log_softmax(-1)
        loss_sum += float(F.nll_loss(log_probs, y, reduction="sum"))
        topk = log_probs.topk(min(5, log_probs.shape[1]), dim=1).indices
        hit = topk == y[:, None]
        top1 += float(hit[:, 0].sum())
        top5 += float(hit.any(1).sum())
        n += len(y)
    return {"loss": loss_sum / n, "top1_err": 1 - top1 / n, "top5_err": 1 - top5 / n}


def _epoch_row(epoch: int, step: int, lr: float, tr: dict, val: dict, test: dict | None, seconds: float) -> dict:
    row = {"epoch": epoch, "step": step, "lr": lr, "train_loss": tr["train_loss"], "train_err": tr["train_err"],
           "val_loss": val["loss"], "val_top1_err": val["top1_err"], "val_top5_err": val["top5_err"],
           "epoch_s": round(seconds, 4), "images_per_s": round(tr["images"] / seconds, 1)}
    test = test or val  # without a separate validation split, validation *is* the test split
    row.update(test_loss=test["loss"], test_top1_err=test["top1_err"], test_top5_err=test["top5_err"])
    return row


def train(cfg: Config) -> dict:
    """Train one run into `cfg.out_dir`; return its summary. A completed run folder is not trained again."""
    run = RunFolder(cfg.out_dir)
    previous = run.read_summary()
    if previous and previous.get("status") == "completed":
        print(f"[ablate] {cfg.out_dir} is already completed; skipping (delete it or change `name` to re-run)")
        return previous
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.trainer.device)
    data = build_data(cfg.data, cfg.seed, device, cfg.trainer.batch_size, cfg.trainer.eval_batch_size)
    model = build_model(cfg.model, data.num_classes, data.image_size).to(device)
    optimizer = build_optimizer(model, cfg.optim)
    scheduler = build_schedule(optimizer, cfg.optim, cfg.trainer.epochs)
    run.start(cfg.to_dict(), {"params": count_params(model), "world_size": 1, "device": str(device),
                              "data": data.info})
    progress = Progress(cfg.trainer.progress, cfg.trainer.epochs, len(data.train), cfg.out_dir)
    t_start, step = time.perf_counter(), 0
    try:
        for epoch in range(1, cfg.trainer.epochs + 1):
            data.train.set_epoch(epoch)
            lr = optimizer.param_groups[0]["lr"]
            progress.start_epoch(epoch)
            t0 = time.perf_counter()
            tr = train_one_epoch(model, data.train, optimizer, progress, cfg.trainer.limit_train_batches)
            seconds = time.perf_counter() - t0
            if tr["first_bad_step"] is not None:
                progress.close()
                return run.finish("diverged", diverged_step=step + tr["first_bad_step"] + 1,
                                  diverged_epoch=epoch, wall_s=time.perf_counter() - t_start)
            step += tr["steps"]
            val = evaluate(model, data.val)
            test = evaluate(model, data.test) if data.test is not None else None
            row = _epoch_row(epoch, step, lr, tr, val, test, seconds)
            run.log_epoch(row)
            progress.end_epoch(row)
            step_schedule(scheduler, row["val_top1_err"])
        progress.close()
        return run.finish("completed", wall_s=time.perf_counter() - t_start)
    except BaseException as exc:
        progress.close()
        (run.path / "traceback.txt").write_text(traceback.format_exc())
        run.finish("failed", error=f"{type(exc).__name__}: {exc}", wall_s=time.perf_counter() - t_start)
        raise

