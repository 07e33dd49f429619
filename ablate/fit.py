"""`Trainer`: one process's training of a run, set up and fitted: per epoch train → evaluate → log → checkpoint.

Set-up builds the data, model, optimizer and schedule from the Config; `fit()` resumes from the newest readable
checkpoint if there is one (the folder's records are made to agree with it), then runs the epochs. It ends as
completed, diverged (a non-finite loss, agreed across ranks), preempted (SIGTERM/SIGUSR1/$SUBMITIT_PREEMPT_SIGNAL:
checkpoint at the next step boundary and return) or failed (traceback saved, status written, exception
re-raised). Only rank 0 writes. `ablate.trainer.train` is the run's life around it (claim, processes).
"""

from __future__ import annotations

import json
import logging
import random
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from ablate import checkpoint, dist, logs
from ablate.actstats import ActivationProbe, probe_batch
from ablate.atomic import atomic_write
from ablate.claim import check_config, check_data
from ablate.config import Config
from ablate.data import build_data
from ablate.engine import EpochMeter, StepContext, evaluate, train_one_epoch
from ablate.identity import fingerprint
from ablate.models import build_model, count_params
from ablate.optim import build_optimizer
from ablate.preemption import Preemption
from ablate.progress import Progress
from ablate.runfolder import METRIC_COLUMNS, RunFolder, Status, read_metric_rows
from ablate.schedules import build_schedule, step_schedule
from ablate.sinks import make_mirror
from ablate.speed import apply_speed_options

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """One process's share of a run: set up from the Config, then `fit()`."""

    def __init__(self, cfg: Config, env: dist.DistEnv, device: torch.device, previous: dict | None = None,
                 launch: dict | None = None):
        t = cfg.trainer
        if t.batch_size % env.world_size:
            raise ValueError(f"trainer.batch_size={t.batch_size} (global) must divide by the {env.world_size} "
                             "processes; choose a multiple")
        if t.threads:
            torch.set_num_threads(t.threads)
        torch.set_flush_denormal(t.flush_denormal)  # process-wide: each run of an in-process sweep sets its own
        self.cfg = cfg
        self.env = env
        self.device = device
        self.ctx = StepContext(device, t.precision, t.channels_last)
        seed_everything(cfg.seed)
        self.data = build_data(cfg.data, cfg.seed, device, t.batch_size // env.world_size,
                               t.eval_batch_size, rank=env.rank, world_size=env.world_size)
        self.previous = previous  # the summary found when the folder was claimed
        self.launch = launch  # this launch's record (the CLI's overrides, job number)
        self.job = (launch or {}).get("hydra_job")  # a sweep's job number: names it on a shared console
        if previous is not None and RunFolder(cfg.out_dir).has_results():
            check_data(RunFolder(cfg.out_dir), previous, self.data.info.get("identity"))
        self.raw_model = build_model(cfg.model, self.data.num_classes, self.data.image_size).to(device)
        if t.channels_last:
            self.raw_model = self.raw_model.to(memory_format=torch.channels_last)
        self.optimizer = build_optimizer(self.raw_model, cfg.optim)
        self.scheduler = build_schedule(self.optimizer, cfg.optim, t.epochs)
        self.scaler = torch.amp.GradScaler(device.type, enabled=t.precision == "fp16")
        self.train_step = apply_speed_options(t, self.raw_model, device, say=env.is_main)
        model = DistributedDataParallel(self.raw_model) if env.active else self.raw_model
        self.model = torch.compile(model) if t.compile else model
        self.run = RunFolder(cfg.out_dir) if env.is_main else None
        self.ckpt_dir = Path(cfg.out_dir) / "checkpoints"
        self.epoch, self.batch, self.step = 1, 0, 0  # position: next epoch to run, batches done in it
        self.rows: list[dict] = []  # one per finished epoch: metrics.csv's rows, also kept in each checkpoint
        self.columns = list(METRIC_COLUMNS)
        self.probe = None
        if t.activation_stats:
            with self._rng_untouched():
                x = self.ctx.prepare(probe_batch(self.data.val))
            self.probe = ActivationProbe(self.raw_model, cfg.model.activation, cfg.model.tanh_a, x)
            self.columns += self.probe.columns()
        self.meter = EpochMeter(device)
        self.mirror = None  # the wandb mirror, once the record is open
        self.stop_reason = None  # why an epoch stopped early: limit, preempted, diverged, train_err ...
        self.preemption = Preemption()  # a preemption signal received while fitting
        self.diverged_step = None  # the first step with a non-finite loss
        self._checked = 0  # meter steps already checked for a non-finite loss
        self.t_start = time.perf_counter()  # this attempt's start, reset by fit() (see _wall)

    # -- the run -----------------------------------------------------------------------------------------------
    def fit(self) -> dict:
        self.t_start = time.perf_counter()
        resumed = self._resume()  # may refuse (RunFolderError) before anything is written
        if self.run:
            self._open_record(resumed)
            logs.run_start(self.cfg, self.job, self.data.info.get("train_images", "?"),
                           count_params(self.raw_model), self.device, self.env.world_size)
        summary = {"status": Status.FAILED.value}
        with self.preemption:
            try:
                summary = self._finish(self._epochs())
                return summary
            except BaseException as exc:
                if self.run:
                    atomic_write(self.run.path / "traceback.txt", traceback.format_exc())
                    summary = self._finish(Status.FAILED, error=f"{type(exc).__name__}: {exc}")
                raise
            finally:
                if self.mirror:
                    self.mirror.finish(summary)

    def _epochs(self) -> str:
        t = self.cfg.trainer
        progress = Progress(t.progress if self.env.is_main else "none", t.epochs, len(self.data.train),
                            logs.label(self.cfg.out_dir, self.job))
        while self.epoch <= t.epochs:
            self.data.train.set_epoch(self.epoch, start_batch=self.batch)
            progress.start_epoch(self.epoch, done=self.batch)
            t0 = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            finished = train_one_epoch(self.model, self.data.train, self.optimizer, self.scaler, self.meter,
                                       self.ctx, self.batch, self._after_step(progress), self.train_step)
            progress.close()
            if not finished and self.stop_reason != "limit":
                return self._stop_early()
            if self._diverged():
                return Status.DIVERGED
            row = self._end_epoch(lr, time.perf_counter() - t0, progress)
            if t.stop_at_train_err is not None and row["train_err"] <= t.stop_at_train_err:
                self.stop_reason = f"train_err {row['train_err']:.4f} <= trainer.stop_at_train_err"
                return Status.COMPLETED
        return Status.COMPLETED

    def _after_step(self, progress: Progress):
        t = self.cfg.trainer

        def after_step(batches_done: int) -> bool:
            self.batch, self.step = batches_done, self.step + 1
            progress.step(self.cfg.trainer.batch_size)
            if t.limit_train_batches and batches_done >= t.limit_train_batches:
                self.stop_reason = "limit"
                return True
            # Ranks agree before stopping (a lone rank leaving would hang the others in the next all-reduce);
            # in one process the flag is read directly, with no device sync.
            check = self.step % t.check_every == 0
            preempt = self.preemption.signal is not None
            if self.env.active:
                preempt = check and dist.any_rank(preempt, self.device)
            if preempt:
                self.stop_reason = "preempted"
                return True
            if check and self._diverged():
                self.stop_reason = "diverged"
                return True
            if t.ckpt_every and self.step % t.ckpt_every == 0:
                self._save_checkpoint()
            return False
        return after_step

    def _stop_early(self) -> Status:
        if self.stop_reason == "preempted":
            self._save_checkpoint()
        return Status(self.stop_reason)

    def _diverged(self) -> bool:
        bad = self.meter.first_nonfinite(since=self._checked)
        self._checked = self.meter.steps
        diverged = bad is not None
        if self.env.active:  # every rank stops together
            diverged = dist.any_rank(diverged, self.device)
        if diverged:
            self.diverged_step = self.step - self.meter.steps + (bad if bad is not None else self.meter.steps) + 1
            return True
        return False

    def _end_epoch(self, lr: float, seconds: float, progress: Progress) -> dict:
        train = self.meter.result()
        val = evaluate(self.model, self.data.val, self.ctx)
        test = evaluate(self.model, self.data.test, self.ctx) if self.data.test is not None else val
        row = {"epoch": self.epoch, "step": self.step, "lr": lr, "train_loss": train["train_loss"],
               "train_err": train["train_err"], "val_loss": val["loss"], "val_top1_err": val["top1_err"],
               "val_top5_err": val["top5_err"], "test_loss": test["loss"], "test_top1_err": test["top1_err"],
               "test_top5_err": test["top5_err"], "epoch_s": round(seconds, 4),
               "images_per_s": round(train["images"] / max(seconds, 1e-9), 1)}
        if self.probe:
            row.update(self._activation_stats())
        self.rows.append(row)
        if self.run:
            self.run.log_epoch(row, self.rows, wall_s=self._wall())
            progress.end_epoch(row)
        if self.mirror:
            self.mirror.log(row, self.step)
        step_schedule(self.scheduler, val["top1_err"])
        self.epoch, self.batch = self.epoch + 1, 0
        self.meter = EpochMeter(self.device)
        self._checked = 0
        self._save_checkpoint()
        return row

    def _finish(self, status: Status, **fields) -> dict:
        if status == Status.DIVERGED:
            fields.update(diverged_step=self.diverged_step, diverged_epoch=self.epoch)
        if status == Status.PREEMPTED:
            fields.update(preempt_signal=self.preemption.signal)
        if status == Status.COMPLETED and self.stop_reason and self.stop_reason.startswith("train_err"):
            fields.update(stopped_early=self.stop_reason)
        if not self.run:
            return {"status": status.value, **fields}
        return self.run.finish(status, wall_s=self._wall(), **fields)

    def _wall(self) -> float:
        """Seconds this run has taken over all its attempts (a killed attempt's up to its last logged epoch)."""
        return self.run.summary.get("wall_s_before_resume", 0.0) + time.perf_counter() - self.t_start

    # -- run folder, checkpoints, resume -----------------------------------------------------------------------
    def _open_record(self, resumed: dict | None) -> None:
        config = self.cfg.to_dict()
        extra = {"params": count_params(self.raw_model), "world_size": self.env.world_size,
                 "device": str(self.device), "data": self.data.info, "fingerprint": fingerprint(config),
                 "launch": self.launch}
        if resumed:
            repairs = self.run.restore(config, self.rows, resumed.get("summary") or {}, extra)
            for repair in repairs:
                log.warning("%s: repaired on resume: %s", self.cfg.out_dir, repair)
        else:
            if self.probe:
                extra["activation_stats_init"] = self._activation_stats()
            self.run.start(config, {**extra, "input": self._input_stats()}, self.columns)
        self.mirror = make_mirror(self.cfg, self.run, resumed.get("mirror_id") if resumed else None, self.launch)
        if self.mirror and self.mirror.record():
            self.run.summary["wandb"] = self.mirror.record()  # where the mirror is: a report may link to it
            self.run.write_summary()

    def _rng_untouched(self):
        """Looking at data or activations must not change the training: every RNG is restored afterwards (a
        DataLoader draws its workers' seed from torch's generator; DropConnect's inference samples)."""
        devices = [self.device] if self.device.type == "cuda" else []
        return torch.random.fork_rng(devices=devices, device_type=self.device.type)

    def _activation_stats(self) -> dict:
        with self._rng_untouched():
            return self.probe.measure(self.raw_model)

    def _input_stats(self) -> dict:
        """Mean and std of the network's input over the first training batch: the scale the run saw."""
        self.data.train.set_epoch(1)
        with self._rng_untouched():
            x, _ = next(iter(self.data.train))
        x = x.float()
        return {"mean": x.mean().item(), "std": x.std().item(), "min": x.min().item(), "max": x.max().item(),
                "images": len(x)}

    def _save_checkpoint(self) -> None:
        rng = [checkpoint.rng_state()]
        meter = [self.meter.state_dict()]
        if self.env.active:  # every rank's RNG and running sums, so each resumes its own stream
            rng, meter = [None] * self.env.world_size, [None] * self.env.world_size
            torch.distributed.all_gather_object(rng, checkpoint.rng_state())
            torch.distributed.all_gather_object(meter, self.meter.state_dict())
        if not self.run:
            return
        checkpoint.save(self.ckpt_dir, {
            "model": self.raw_model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "epoch": self.epoch, "batch": self.batch, "step": self.step, "rng": rng, "meter": meter,
            "world_size": self.env.world_size, "mirror_id": self.mirror.run_id if self.mirror else None,
            # the run folder's records as of this checkpoint: what a resume restores them to
            "config": self.cfg.to_dict(), "rows": self.rows,
            "summary": json.loads(json.dumps(self.run.summary, default=str))})  # plain types: weights_only

    def _resume(self) -> dict | None:
        state = checkpoint.load_latest(self.ckpt_dir, map_location=self.device)
        if state is None:
            return None
        if "config" in state:  # the folder's config.yaml was checked when claimed; this is the weights' own
            check_config(RunFolder(self.cfg.out_dir), self.cfg.to_dict(), state["config"], None)
        if state["world_size"] != self.env.world_size:
            raise ValueError(f"{self.ckpt_dir} was written by {state['world_size']} processes; resume it with "
                             f"trainer.devices={state['world_size']}")
        self.raw_model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.batch, self.step = state["epoch"], state["batch"], state["step"]
        self.meter.load_state_dict(state["meter"][self.env.rank])
        checkpoint.set_rng_state(state["rng"][self.env.rank])
        # Checkpoints from before rows were stored: take the logged rows the checkpoint covers.
        self.rows = state["rows"] if "rows" in state else read_metric_rows(self.cfg.out_dir, self.epoch - 1)
        self.columns = list((state.get("summary") or {}).get("columns") or self.columns)
        if self.env.is_main:
            log.info("resuming %s at epoch %d, batch %d", self.cfg.out_dir, self.epoch, self.batch)
        return state
