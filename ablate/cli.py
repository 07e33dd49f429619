"""`ablate-train`: the Hydra edge. The only module that imports Hydra.

It registers the schema with Hydra's ConfigStore (so types and closed sets are checked when the config is
composed), turns the composed DictConfig into a plain `ablate.config.Config`, validates it against the axes'
specs (`ablate.validate`, before any data is read) and hands it to `ablate.train`; the job returns the run's `trainer.objective`, the
float an optimizing sweeper (Optuna, Nevergrad) reads. Before a multirun starts, every job's config is composed
and checked (for big grids each swept value once) and no two jobs may share a run folder. In a multirun a
failing job is recorded (status `failed`, traceback in its run folder) and the sweep goes on; at the end a
status table is printed and the command exits non-zero if any job failed.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ablate import __version__
from ablate.config import Config, from_dict
from ablate.identity import check_name, folder_name
from ablate.mps import SweepPacker
from ablate.registry import ConfigError
from ablate.runfolder import FINAL, RunFolder, objective_value

log = logging.getLogger(__name__)
PACKAGE_DIR = Path(__file__).resolve().parent
# The launcher plugins' own configs, and ablate's configs built on them (conf/hydra/launcher/).
PLUGIN_LAUNCHERS = {"joblib": "ablate_joblib", "submitit_local": "ablate_submitit_local",
                    "submitit_slurm": "ablate_submitit_slurm"}


def config_source() -> tuple[str, str]:
    """Where the Hydra configs are: (what hydra.main is given, the folder on disk).

    An installed wheel carries them inside the package (`pkg://ablate.conf`). A source checkout (an editable
    install, or the checkout on PYTHONPATH) reads the conf/ folder beside its own package: the configs its code
    belongs with, even when another checkout's editable install also provides `ablate.conf`.
    """
    packaged = PACKAGE_DIR / "conf"
    if (packaged / "train.yaml").is_file():
        return "pkg://ablate.conf", str(packaged)
    checkout = PACKAGE_DIR.parent / "conf"
    return str(checkout), str(checkout)


CONFIG_PATH, CONF_DIR = config_source()


def job_dirname(overrides) -> str:
    """A run's folder name from its overrides (`hydra.overrides.task`): stable across launches."""
    return folder_name(str(o) for o in overrides)


def run_name(name: str) -> str:
    """`name`, checked before Hydra makes any folder from it (it may not leave runs/)."""
    check_name(str(name))
    return str(name)


def run_folder(name: str) -> str:
    """The run folder that Hydra's job folder settings (conf/train.yaml) give this run; outside a running app
    (the compose API, as in tests) the folder of a run without overrides."""
    overrides = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
    return f"runs/{run_name(name)}/{job_dirname(overrides)}"


def joblib_jobs(jobs_per_gpu: int, threads: int) -> int:
    """Parallel local jobs: jobs_per_gpu per visible GPU, else one per `threads` CPU cores."""
    import torch

    gpus = torch.cuda.device_count()
    return gpus * jobs_per_gpu if gpus else max(1, (os.cpu_count() or 1) // max(threads, 1))


def register() -> None:
    for name, fn in [("ablate_dirname", job_dirname), ("ablate_name", run_name),
                     ("ablate_joblib_jobs", joblib_jobs), ("ablate_out_dir", run_folder)]:
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
    ConfigStore.instance().store(name="ablate_schema", node=Config)


def to_config(dcfg: DictConfig, out_dir: str | None = None) -> Config:
    """Composed DictConfig → validated Config (raises ConfigError naming the valid values)."""
    from ablate.validate import validate  # here, not at import: --help, --cfg and --version need no torch

    if out_dir is not None:  # before resolving: the yaml's out_dir may interpolate Hydra's job folder
        dcfg = dcfg.copy()
        dcfg.out_dir = out_dir
    # Closed sets come back as their plain strings: what config.yaml and the run identity hold.
    data = OmegaConf.to_container(dcfg, resolve=True, throw_on_missing=True, enum_to_str=True)
    data.pop("hydra", None)
    return validate(from_dict(data))


def _pin_sweep_job(cfg: Config, job_num: int) -> None:
    """Parallel sweep jobs on a multi-GPU node: job i takes GPU i mod #GPUs (several per GPU if packed)."""
    import torch

    gpus = torch.cuda.device_count()
    if cfg.trainer.device == "auto" and cfg.trainer.devices == "1" and gpus > 1:
        cfg.trainer.device = f"cuda:{job_num % gpus}"


def sweep_notes(hc: Any) -> str | None:
    """The header comment of the sweep file this job came from (+sweeps=NAME), found where Hydra found it."""
    import importlib.resources

    name = hc.runtime.choices.get("sweeps")
    if not name:
        return None
    for source in hc.runtime.config_sources:
        try:
            root = (Path(source.path) if source.schema == "file" else importlib.resources.files(source.path)
                    if source.schema == "pkg" else None)
            text = root.joinpath("sweeps", f"{name}.yaml").read_text() if root is not None else None
        except (OSError, ModuleNotFoundError, TypeError, ValueError):
            continue
        if text is not None:
            lines = [ln[1:].strip() for ln in itertools.takewhile(lambda ln: ln.startswith("#"), text.splitlines())]
            return "\n".join(ln for ln in lines if not ln.startswith("@package")) or None
    return None


def _parallel_jobs_log_lines(cfg: Config, hc: Any) -> None:
    """Jobs that run side by side (joblib, submitit) would draw their bars over each other: lines instead."""
    if cfg.trainer.progress == "auto" and not str(hc.launcher.get("_target_", "")).endswith("BasicLauncher"):
        cfg.trainer.progress = "line"


def _task(dcfg: DictConfig) -> float:
    """One job. Returns `trainer.objective` of the run: what an optimizing sweeper (Optuna, Nevergrad) reads;
    Hydra's basic sweeper ignores it. A failed job returns nan, which such sweepers record as a failed trial."""
    from ablate.trainer import train  # here, not at import: --help, --cfg and --version need no torch

    logging.captureWarnings(True)  # per job process: warnings join the run's story in its log file
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        cfg = to_config(dcfg, out_dir=hc.runtime.output_dir)
        if multirun:
            _pin_sweep_job(cfg, hc.job.num)
            _parallel_jobs_log_lines(cfg, hc)
        launch = {"overrides": list(hc.overrides.task), "mode": "multirun" if multirun else "run",
                  "sweep": hc.runtime.choices.get("sweeps"), "notes": sweep_notes(hc)}
        summary = train(cfg, launch={**launch, "hydra_job": hc.job.num} if multirun else launch)
    except ConfigError as err:
        print(f"ablate-train: error: {err}", file=sys.stderr)
        if multirun:
            return math.nan
        sys.exit(2)
    except Exception as err:
        if not multirun:
            raise
        # One bad job must not take the sweep down: its run folder says `failed` and holds the traceback.
        log.error("job %d failed (%s: %s); the sweep goes on", hc.job.num, type(err).__name__, err)
        return math.nan
    if summary.get("status") == "preempted" and summary.get("preempt_signal"):
        # Checkpoint is safe on disk: now let the signal do what it was sent for (terminate, or submitit's
        # handler requeue the job).
        signal.raise_signal(getattr(signal, summary["preempt_signal"]))
    return objective_value(summary, cfg.trainer.objective)


def sweep_jobs(config: DictConfig) -> list[list[str]]:
    """Every job's overrides, as Hydra's basic sweeper will expand them (sweeper params, then the command line)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = [f"{k}={v}" for k, v in (config.hydra.sweeper.get("params") or {}).items()]
    parsed = OverridesParser.create().parse_overrides(params + list(config.hydra.overrides.task))
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def is_basic_sweeper(config: DictConfig) -> bool:
    return str(config.hydra.sweeper.get("_target_", "")).endswith("BasicSweeper")


def check_sweep_folders(config: DictConfig, jobs: list[list[str]]) -> None:
    """Two jobs of one sweep that would write one run folder fail the sweep before any job starts."""
    seen: dict[str, list[str]] = {}
    for job in jobs:
        name = job_dirname(job)
        if name in seen and seen[name] != sorted(job):
            differ = sorted(set(job) ^ set(seen[name]))
            raise ConfigError(
                f"two jobs of this sweep would share the run folder {config.hydra.sweep.dir}/{name}: they differ "
                f"only in {', '.join(differ)}, which run-folder names leave out (ablate.identity.BOOKKEEPING and "
                "the experiment/sweeps selectors). Sweep them as separate launches with different name=..., or "
                "sweep a key that names the folder. No job was started.")
        seen[name] = sorted(job)


# Composing and validating one job's config takes ~0.1 s: up to this many jobs each is checked; beyond, each
# distinct swept value is checked once (in the first job that has it): the grid's thousands of jobs check ~20.
CHECK_EVERY_JOB_UP_TO = 64


def jobs_to_check(jobs: list[list[str]]) -> list[list[str]]:
    if len(jobs) <= CHECK_EVERY_JOB_UP_TO:
        return jobs
    picked, seen = [], set()
    for job in jobs:
        if not seen.issuperset(job):
            picked.append(job)
            seen.update(job)
    return picked


def check_sweep_values(config: DictConfig, jobs: list[list[str]]) -> str:
    """Compose and validate jobs' configs before any job starts (Hydra's compose API works inside the running
    app); a bad value fails the sweep with the valid list. Returns what was checked."""
    from hydra import compose

    picked = jobs_to_check(jobs)
    for job in picked:
        try:
            to_config(compose(config.hydra.job.config_name, overrides=list(job)), out_dir="unused")
        except Exception as err:  # ConfigError, or Hydra's own (an unknown config group option, a bad key)
            raise ConfigError(f"job {','.join(job) or '(no overrides)'}: {err}\nNo job was started.") from None
    if len(picked) == len(jobs):
        return f"checked the config of each of the {len(jobs)} jobs"
    return (f"checked each swept value once ({len(picked)} of {len(jobs)} job configs); other combinations are "
            "checked as each job starts")


def check_sweep(config: DictConfig) -> str:
    """Before a multirun: no two jobs share a run folder, and every swept value makes a valid config."""
    if not is_basic_sweeper(config):
        return "this sweeper chooses its jobs as it goes: each job's config is checked as it starts"
    jobs = sweep_jobs(config)
    check_sweep_folders(config, jobs)
    return check_sweep_values(config, jobs)


class SweepStatus(Callback):
    """Before a multirun: refuse jobs that would share a folder or whose config is invalid. After it: a table of
    this launch's jobs and their statuses; exit 1 if any is not completed or diverged."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time()
        launcher = config.hydra.runtime.choices.get("hydra/launcher")
        if launcher in PLUGIN_LAUNCHERS:
            log.warning("hydra/launcher=%s is the plugin's own defaults, without ablate's settings (job packing "
                        "per GPU, SLURM requeue on preemption); ablate's is hydra/launcher=%s", launcher,
                        PLUGIN_LAUNCHERS[launcher])
        try:
            log.info("sweep: %s", check_sweep(config))
        except ConfigError as err:
            print(f"ablate-train: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep = Path(config.hydra.sweep.dir)
        if is_basic_sweeper(config):
            jobs = sorted({sweep / job_dirname(job) for job in sweep_jobs(config)})
        else:  # a sweeper that picks jobs as it goes: the folders this launch wrote
            jobs = sorted(p.parent for p in sweep.glob("*/summary.json")
                          if p.stat().st_mtime >= getattr(self, "started", 0) - 1)
        rows = [(job.name, (RunFolder(job).read_summary() or {}).get("status", "not started")) for job in jobs]
        width = max([len(name) for name, _ in rows] + [3])
        print(f"\n{'job':<{width}}  status\n{'-' * width}  ---------")
        for name, status in rows:
            print(f"{name:<{width}}  {status}")
        failed = [name for name, status in rows if status not in FINAL]
        print(f"{len(rows)} jobs: {len(rows) - len(failed)} completed or diverged, {len(failed)} not "
              f"(failed/preempted/running) in {sweep}")
        if failed:
            raise SystemExit(1)


class PackJobs(Callback):
    """trainer.jobs_per_gpu > 1 on a GPU: the sweep's CUDA MPS daemon (trainer.pack; the logic is ablate/mps.py)."""

    def __init__(self) -> None:
        self.packer = SweepPacker()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.packer.start(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.packer.stop()


def main() -> None:
    if "--version" in sys.argv[1:]:  # before Hydra, whose own --version names Hydra's
        print(f"ablate {__version__}")
        return
    if not Path(CONF_DIR, "train.yaml").is_file():
        sys.exit(f"ablate-train: error: ablate's configs are missing (no {CONF_DIR}/train.yaml); reinstall ablate "
                 "(pip install ablate, or pip install -e . in a checkout)")
    register()
    hydra.main(config_path=CONFIG_PATH, config_name="train", version_base="1.3")(_task)()


if __name__ == "__main__":
    main()
