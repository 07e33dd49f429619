"""`train(cfg) -> summary`: one run, from a Config to a finished run folder.

The run's life: validate the config, claim the run folder (its lock; a folder holding another config's results
is refused, a finished one skipped or, if a sibling completed the very same run, recorded as that one:
`ablate.claim`), start `trainer.devices` processes (or join torchrun's), and in each set up and fit a
`Trainer` (ablate/fit.py: the epochs, checkpoints and resume). A set-up that fails (device, data, model, ...)
is recorded in the run folder as failed, with its traceback, and re-raised. Only rank 0 writes.
"""

from __future__ import annotations

import logging
import os
import traceback
from pathlib import Path

from ablate import checkpoint, dist, logs
from ablate.claim import RunFolderError, claim
from ablate.config import Config
from ablate.data import dataset_identity
from ablate.fit import Trainer
from ablate.runfolder import RunFolder
from ablate.validate import validate

log = logging.getLogger(__name__)


def train(cfg: Config, launch: dict | None = None) -> dict:
    """Train one run into `cfg.out_dir` (spawning `trainer.devices` workers) and return its summary.

    `launch` (e.g. the CLI's overrides and job number) is recorded in summary.json as this launch's record.

    Raises ConfigError, having run and written nothing, when the config cannot run (ablate.validate), or when
    the folder is in use by another process or holds results of a different config or data set (RunFolderError).
    """
    validate(cfg)
    torchrun = dist.launched_by_torchrun()
    owner = not torchrun or os.environ["RANK"] == "0"  # other torchrun ranks check but never lock or write
    with logs.console_unless_configured(), \
            claim(cfg.out_dir, cfg.to_dict(), lock=owner, data_identity=lambda: dataset_identity(cfg.data),
                  reuse=cfg.trainer.reuse_identical, extend=cfg.trainer.extend_shorter and not torchrun) as got:
        if got.same_as is not None:
            if owner:
                log.info("%s is the same run as %s (completed): recorded as such, not trained again "
                         "(trainer.reuse_identical=false and trainer.extend_shorter=false train it anyway)",
                         cfg.out_dir, got.same_as)
                return got.run.record_same_as(RunFolder(got.same_as), cfg.to_dict(), launch)
            return RunFolder(got.same_as).read_summary()
        if got.done:
            if owner:
                log.info("%s is already %s with this config; skipping (delete the folder or change `name` to run "
                         "it again)", cfg.out_dir, got.previous["status"])
            return got.previous
        if torchrun and cfg.trainer.extend_shorter and owner:
            log.warning("trainer.extend_shorter is not honoured under torchrun (its ranks start at once): %s is "
                        "trained whole", cfg.out_dir)
        previous = _extend(cfg, got.extend_from, launch) if got.extend_from is not None else got.previous
        world = dist.requested_world_size(cfg.trainer.devices)
        if world > 1 and not torchrun:
            dist.spawn(_train_process, world, cfg, previous, launch, logs.log_files())
            return RunFolder(cfg.out_dir).read_summary()
        return _train_process(cfg, previous, launch)


def _extend(cfg: Config, source: Path, launch: dict | None) -> dict | None:
    """Start `cfg.out_dir` as the continuation of `source`, which completed this run with fewer epochs under a
    schedule that does not read the budget (validated): its newest checkpoint and records, labelled with this
    config, so `fit()` resumes where it stopped. The wandb mirror starts a new run at the next epoch. None (and
    a warning) when `source` has no readable checkpoint: the run is then trained from scratch."""
    run, other, config = RunFolder(cfg.out_dir), RunFolder(source), cfg.to_dict()
    summary = run.record_extension(other, config, launch)
    if not checkpoint.copy_as(other.path / "checkpoints", run.path / "checkpoints", config, summary):
        log.warning("%s has no readable checkpoint to continue: %s is trained from scratch", source, cfg.out_dir)
        return None
    run.write_extension(other, config)
    log.info("%s continues %s (completed at epoch %s) from its checkpoint (trainer.extend_shorter)", cfg.out_dir,
             source, summary["extended_from"]["epochs"])
    return summary


def _train_process(cfg: Config, previous: dict | None, launch: dict | None = None,
                   log_files: list[str] | None = None) -> dict:
    logs.to_files(log_files or [])  # a spawned worker: the parent's log file, if it had one
    env = dist.env_from_torchrun() if dist.launched_by_torchrun() else dist.DistEnv()
    if not env.is_main:  # one story per run: the other ranks log only warnings and errors
        logging.getLogger("ablate").setLevel(logging.WARNING)
    with logs.console_unless_configured():  # a spawned worker of a program without logging config
        return _run_process(cfg, env, previous, launch)


def _run_process(cfg: Config, env: dist.DistEnv, previous: dict | None, launch: dict | None) -> dict:
    try:
        trainer = _set_up(cfg, env, previous, launch)
        try:
            summary = trainer.fit()
        except RunFolderError:
            raise
        except BaseException:
            if env.is_main:
                logs.final_status(RunFolder(cfg.out_dir).read_summary() or {"status": "failed"}, cfg.out_dir)
            raise
        if env.is_main:
            logs.final_status(summary, cfg.out_dir)
        dist.barrier(env)
        return summary
    finally:
        dist.cleanup(env)


def _set_up(cfg: Config, env: dist.DistEnv, previous: dict | None, launch: dict | None) -> Trainer:
    try:
        device = dist.device_for(env, cfg.trainer.device)
        dist.setup(env, device)
        return Trainer(cfg, env, device, previous, launch)
    except RunFolderError:
        raise
    except Exception as exc:  # set-up failed (device, data, model, ...): the run folder still says so
        if env.is_main:
            run = RunFolder(cfg.out_dir)
            run.record_setup_failure(cfg.to_dict(), exc, traceback.format_exc())
            logs.final_status(run.summary, cfg.out_dir)
        raise
