"""`ablate-train`: the Hydra edge. The only module that imports Hydra.

It registers the schema with Hydra's ConfigStore (so types are checked when the config is composed), turns the
composed DictConfig into a plain `ablate.config.Config` (which checks every axis value against its registry,
before any data is read) and hands it to `ablate.train`. In a multirun a failing job is recorded (status
`failed`, traceback in its run folder) and the sweep goes on; at the end a status table is printed and the
command exits non-zero if any job failed.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ablate.config import Config, from_dict
from ablate.registry import ConfigError
from ablate.sinks import RunFolder
from ablate.trainer import train

REPO_DIR = str(Path(__file__).resolve().parent.parent)  # holds conf/ and sweeps/
CONF_DIR = str(Path(REPO_DIR) / "conf")
_MAX_DIRNAME = 120


def job_dirname(override_dirname: str) -> str:
    """A run's folder name from its overrides: stable across launches, so a re-run finds its folder."""
    if not override_dirname:
        return "default"
    name = override_dirname.replace("/", "_")
    if len(name) > _MAX_DIRNAME:  # keep within file-name limits, still unique
        name = name[:_MAX_DIRNAME - 9] + "-" + hashlib.sha1(name.encode()).hexdigest()[:8]
    return name


def joblib_jobs(jobs_per_gpu: int, threads: int) -> int:
    """Parallel local jobs: jobs_per_gpu per visible GPU, else one per `threads` CPU cores."""
    gpus = torch.cuda.device_count()
    return gpus * jobs_per_gpu if gpus else max(1, (os.cpu_count() or 1) // max(threads, 1))


def register() -> None:
    for name, fn in [("ablate_dirname", job_dirname), ("ablate_joblib_jobs", joblib_jobs),
                     ("ablate_repo", lambda: REPO_DIR)]:
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
    ConfigStore.instance().store(name="ablate_schema", node=Config)


def to_config(dcfg: DictConfig, out_dir: str | None = None) -> Config:
    """Composed DictConfig → validated Config (raises ConfigError naming the valid values)."""
    data = OmegaConf.to_container(dcfg, resolve=True, throw_on_missing=True)
    data.pop("hydra", None)
    if out_dir is not None:
        data["out_dir"] = out_dir
    return from_dict(data)


def _pin_sweep_job(cfg: Config, job_num: int) -> None:
    """Parallel sweep jobs on a multi-GPU node: job i takes GPU i mod #GPUs (several per GPU if packed)."""
    gpus = torch.cuda.device_count()
    if cfg.trainer.device == "auto" and cfg.trainer.devices == "1" and gpus > 1:
        cfg.trainer.device = f"cuda:{job_num % gpus}"


def _task(dcfg: DictConfig) -> dict[str, Any]:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        cfg = to_config(dcfg, out_dir=hc.runtime.output_dir)
        if multirun:
            _pin_sweep_job(cfg, hc.job.num)
        summary = train(cfg)
    except ConfigError as err:
        print(f"ablate-train: error: {err}", file=sys.stderr)
        if multirun:
            return {"status": "failed", "error": str(err)}
        sys.exit(2)
    except Exception as err:
        if not multirun:
            raise
        # One bad job must not take the sweep down: its run folder says `failed` and holds the traceback.
        print(f"ablate-train: job {hc.job.num} failed: {type(err).__name__}: {err}", file=sys.stderr)
        return {"status": "failed", "error": f"{type(err).__name__}: {err}"}
    if summary.get("status") == "preempted" and summary.get("preempt_signal"):
        # Checkpoint is safe on disk: now let the signal do what it was sent for (terminate, or submitit's
        # handler requeue the job).
        signal.raise_signal(getattr(signal, summary["preempt_signal"]))
    return summary


class SweepStatus(Callback):
    """At the end of a multirun: a table of this launch's jobs and their statuses; exit 1 if any failed."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep = Path(config.hydra.sweep.dir)
        jobs = sorted(p.parent.parent for p in sweep.glob("*/.hydra/overrides.yaml")
                      if p.stat().st_mtime >= getattr(self, "started", 0) - 1)
        rows = [(job.name, (RunFolder(job).read_summary() or {}).get("status", "failed")) for job in jobs]
        width = max([len(name) for name, _ in rows] + [3])
        print(f"\n{'job':<{width}}  status\n{'-' * width}  ---------")
        for name, status in rows:
            print(f"{name:<{width}}  {status}")
        failed = [name for name, status in rows if status not in ("completed", "diverged")]
        print(f"{len(rows)} jobs: {len(rows) - len(failed)} completed or diverged, {len(failed)} not "
              f"(failed/preempted/running) in {sweep}")
        if failed:
            raise SystemExit(1)


def main() -> None:
    register()
    hydra.main(config_path=CONF_DIR, config_name="train", version_base="1.3")(_task)()


if __name__ == "__main__":
    main()
