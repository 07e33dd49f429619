"""ablate's logging. Every module logs to `logging.getLogger(__name__)` (children of "ablate"); only the progress
display (ablate.progress's bar) prints.

Under `ablate-train`, Hydra configures logging: the console, and the job's log file in the run folder
(`train.log`), so that file holds the run's story: start, resumes and repairs, each epoch, warnings, and the final
status line. Used as a library (`ablate.train(...)`) in a program that configured no logging at all, a run would
be silent (Python shows only warnings then), so for the run's duration ablate's logger gets one console handler;
any logging configuration of the program's own (logging.basicConfig, Hydra, pytest) is used instead.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # Hydra's job log format
log = logging.getLogger("ablate.run")  # the run's own lines: its start, end and status


@contextlib.contextmanager
def console_unless_configured() -> Iterator[None]:
    logger, root = logging.getLogger("ablate"), logging.getLogger()
    if root.handlers or logger.handlers:
        yield
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(FORMAT))
    level = logger.level
    logger.addHandler(handler)
    if level == logging.NOTSET:  # a DDP worker other than rank 0 keeps its WARNING
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def log_files() -> list[str]:
    """The files the root logger writes (Hydra's job log), for spawned workers to write too."""
    return [h.baseFilename for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]


def to_files(paths: list[str]) -> None:
    """In a spawned worker (a fresh process without the parent's logging): append to the parent's log files."""
    root = logging.getLogger()
    if paths and not root.handlers:
        root.setLevel(logging.INFO)
        for path in paths:
            handler = logging.FileHandler(path)
            handler.setFormatter(logging.Formatter(FORMAT))
            root.addHandler(handler)


def label(out_dir: str | Path, job: int | None = None) -> str:
    """A run's short name for progress lines and bars: its job number in a sweep (parallel jobs share the
    console), else its folder name."""
    return f"job {job}" if job is not None else Path(out_dir).name


def _where(out_dir: str | Path, job: int | None) -> str:
    return f"job {job}: {out_dir}" if job is not None else str(out_dir)


def _job(summary: dict[str, Any]) -> int | None:
    return (summary.get("launch") or {}).get("hydra_job")


def _number(value: Any) -> str:
    try:
        return f"{float(value):.4f}"
    except (TypeError, ValueError):
        return str(value)


def run_start(cfg: Any, job: int | None, images: Any, params: int, device: Any, world_size: int) -> None:
    log.info("%s: %s on %s (%s training images), %s parameters, seed %d, %s × %d process(es), %d epochs",
             _where(cfg.out_dir, job), cfg.model.name, cfg.data.name, images, f"{params:,}", cfg.seed, device,
             world_size, cfg.trainer.epochs)


def final_status(summary: dict[str, Any], out_dir: str | Path) -> None:
    """One line that says how the run ended and what to do about it, at a level that matches."""
    status, where = summary.get("status"), _where(out_dir, _job(summary))
    if status == "completed":
        final, best = summary.get("final") or {}, summary.get("best") or {}
        early = f", stopped early ({summary['stopped_early']})" if summary.get("stopped_early") else ""
        log.info("%s: completed: %s epoch(s)%s, val_top1_err %s (best %s at epoch %s), %.0f s", where,
                 summary.get("epochs_completed"), early, _number(final.get("val_top1_err")),
                 _number(best.get("val_top1_err")), best.get("epoch"), summary.get("wall_s") or 0.0)
    elif status == "diverged":
        log.warning("%s: diverged at step %s (epoch %s): a non-finite loss; kept as a result (status diverged), "
                    "not retried", where, summary.get("diverged_step"), summary.get("diverged_epoch"))
    elif status == "preempted":
        log.warning("%s: preempted by %s after %s epoch(s): checkpoint saved; run the same command again to "
                    "resume", where, summary.get("preempt_signal"), summary.get("epochs_completed"))
    elif status == "failed":
        log.error("%s: failed: %s; traceback in %s", where, summary.get("error"), Path(out_dir) / "traceback.txt")
    else:
        log.warning("%s: ended with status %s", where, status)


def eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
