"""Where a run's record goes: the run folder (always; the single source of truth) and a progress display.

The run folder holds `config.yaml` (the resolved config), `metrics.csv` (one row per epoch, flushed as it is
written, so a crash loses nothing already logged) and `summary.json` (status, final/best metrics, provenance),
rewritten atomically after every epoch.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

METRIC_COLUMNS = ["epoch", "step", "lr", "train_loss", "train_err", "val_loss", "val_top1_err", "val_top5_err",
                  "test_loss", "test_top1_err", "test_top5_err", "epoch_s", "images_per_s"]
STATUSES = ("running", "completed", "failed", "diverged", "preempted")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def git_state() -> dict[str, Any]:
    """The SHA and dirty flag of the checkout the ablate code runs from (None outside a git checkout)."""
    where = Path(__file__).resolve().parent
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None
    sha = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"sha": sha, "dirty": bool(dirty) if sha else None}


def versions() -> dict[str, str]:
    import torch
    import torchvision

    import ablate
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "ablate": ablate.__version__}


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: write them as strings so the file stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class RunFolder:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.metrics_path = self.path / "metrics.csv"
        self.summary_path = self.path / "summary.json"
        self.summary: dict[str, Any] = {}

    def read_summary(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.summary_path.read_text())
        except (OSError, ValueError):
            return None

    def start(self, config: dict[str, Any], extra: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / "config.yaml", yaml.safe_dump(config, sort_keys=False))
        with open(self.metrics_path, "w", newline="") as f:
            csv.writer(f).writerow(METRIC_COLUMNS)
        self.summary = {"status": "running", "name": config.get("name"), "seed": config.get("seed"),
                        "start_time": now_iso(), "end_time": None, "wall_s": 0.0, "epochs_completed": 0,
                        "final": {}, "best": {}, "git": git_state(), "versions": versions(),
                        "platform": platform.platform(), "argv": sys.argv, **extra}
        self.write_summary()

    def resume(self, epochs_done: int, extra: dict[str, Any]) -> None:
        """Continue an interrupted run: drop metric rows past the checkpoint, which will be computed again."""
        self.summary = self.read_summary() or {}
        with open(self.metrics_path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("epoch", "").isdigit() and int(r["epoch"]) <= epochs_done]
        tmp = self.metrics_path.with_name("metrics.csv.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, METRIC_COLUMNS)
            writer.writeheader()
            writer.writerows({k: r.get(k, "") for k in METRIC_COLUMNS} for r in rows)
        os.replace(tmp, self.metrics_path)
        self.summary.update(status="running", end_time=None, resumes=self.summary.get("resumes", 0) + 1,
                            wall_s_before_resume=self.summary.get("wall_s", 0.0), **extra)
        self.summary.pop("error", None)
        self.write_summary()

    def record_setup_failure(self, config: dict[str, Any], exc: BaseException, trace: str) -> None:
        """A run that failed before its first step: keep what an earlier attempt logged, mark it failed."""
        if self.read_summary() is None:
            self.start(config, {})
        else:
            self.summary = self.read_summary()
        (self.path / "traceback.txt").write_text(trace)
        self.finish("failed", error=f"{type(exc).__name__}: {exc}")

    def log_epoch(self, row: dict[str, Any]) -> None:
        with open(self.metrics_path, "a", newline="") as f:
            csv.DictWriter(f, METRIC_COLUMNS).writerow({k: row.get(k, "") for k in METRIC_COLUMNS})
            f.flush()
        self.summary["epochs_completed"] = row["epoch"]
        self.summary["final"] = {k: _clean(v) for k, v in row.items()}
        best = self.summary.get("best") or {}
        if math.isfinite(row["val_top1_err"]) and row["val_top1_err"] < best.get("val_top1_err", math.inf):
            self.summary["best"] = {k: _clean(v) for k, v in row.items()}
        self.write_summary()

    def finish(self, status: str, **fields: Any) -> dict[str, Any]:
        assert status in STATUSES, status
        self.summary.update(status=status, end_time=now_iso(), **{k: _clean(v) for k, v in fields.items()})
        self.write_summary()
        return self.summary

    def write_summary(self) -> None:
        atomic_write_text(self.summary_path, json.dumps(self.summary, indent=2, default=str))


class WandbMirror:
    """Mirror of the run folder in wandb (rank 0 only). Never waits for a network it was not given."""

    def __init__(self, cfg, run: RunFolder, run_id: str | None):
        import wandb  # lazy: only runs that ask for wandb pay for the import

        mode = cfg.logger.mode or os.environ.get("WANDB_MODE") or ("online" if _has_wandb_key() else "offline")
        self.wandb = wandb
        self.run = wandb.init(
            project=cfg.logger.project, group=cfg.logger.group or cfg.name, name=run.path.name,
            id=run_id, resume="allow", dir=str(run.path), mode=mode, config=cfg.to_dict(), reinit="finish_previous",
            settings=wandb.Settings(init_timeout=60, silent=True))
        self.run_id = self.run.id if self.run else None
        if self.run:
            self.run.define_metric("*", step_metric="step")

    def log(self, row: dict[str, Any], step: int) -> None:
        if self.run:
            self.run.log({**row, "step": step})

    def finish(self) -> None:
        if self.run:
            self.run.finish()
            self.run = None


def _has_wandb_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.exists() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def make_mirror(cfg, run: RunFolder, run_id: str | None) -> WandbMirror | None:
    return WandbMirror(cfg, run, run_id) if cfg.logger.name == "wandb" else None
