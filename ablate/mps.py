"""Packing sweep jobs on a GPU (`trainer.jobs_per_gpu > 1`, `trainer.pack`): a CUDA MPS daemon per sweep.

Why: several training processes on one GPU take turns (time-slicing): on an H200, 16 Figure-1 jobs ran at
~4k images/s each, about 2× one job alone in total (reports/bench/2026-11-28-gpu-h200.md). Under CUDA's
Multi-Process Service the jobs' kernels go through one server and run at the same time, so small nets that
each leave most of the GPU idle can fill it together. Each job stays its own process, with its own run folder,
lock, checkpoints, exact resume and divergence handling: MPS changes where kernels run, not what a job does.

`trainer.pack`: `mps` starts a daemon or fails naming the fix, `timeslice` never does (plain processes),
`auto` (the default) starts one when `nvidia-cuda-mps-control` is on PATH and else says so and time-slices.
The daemon is started only where it can help: a multirun through a local launcher (joblib, submitit's local
one), jobs_per_gpu > 1, a visible GPU and trainer.device not cpu. It gets its own pipe and log folders
(CUDA_MPS_PIPE_DIRECTORY / CUDA_MPS_LOG_DIRECTORY, set in the launcher's environment, which the job processes
inherit), so two sweeps never share one; at the sweep's end (or the launcher's exit) it is told to quit and
the folders are removed. A daemon the user already runs (CUDA_MPS_PIPE_DIRECTORY set) is used, never stopped.

Whether MPS or several runs in one process pack better was not measured when this was written (no GPU in that
session): docs/performance.md says what bench/gpu.sh measures and where MPS stands.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ablate.registry import ConfigError

BINARY = "nvidia-cuda-mps-control"
ENV = ("CUDA_MPS_PIPE_DIRECTORY", "CUDA_MPS_LOG_DIRECTORY")
LOCAL_LAUNCHERS = ("JoblibLauncher", "LocalLauncher")  # jobs as processes on this machine


WATCHER = """
import os, shutil, subprocess, sys, time
pid, root, binary = int(sys.argv[1]), sys.argv[2], sys.argv[3]
while os.path.isdir(root):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        subprocess.run([binary], input="quit\\n", text=True, capture_output=True, timeout=60)
        time.sleep(2)
        shutil.rmtree(root, ignore_errors=True)
        break
    time.sleep(1)
"""


class MpsDaemon:
    """One MPS control daemon with its own pipe and log folders (under one temporary folder)."""

    def __init__(self, binary: str = BINARY):
        self.binary = binary
        self.root: Path | None = None
        self.saved: dict[str, str | None] = {}

    @property
    def env(self) -> dict[str, str]:
        assert self.root is not None
        return {ENV[0]: str(self.root / "pipe"), ENV[1]: str(self.root / "log")}

    def _control(self, command: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run([self.binary], input=command + "\n", env={**os.environ, **self.env}, text=True,
                              capture_output=True, timeout=timeout)

    def start(self) -> None:
        """Start the daemon and wait until it answers; set this process's environment to reach it."""
        path = shutil.which(self.binary)
        if path is None:
            raise ConfigError(f"trainer.pack=mps needs {self.binary} on PATH (it comes with the NVIDIA driver's "
                              "utilities, e.g. the nvidia-utils package); install it, or set trainer.pack=timeslice")
        self.binary = path
        # Short and fixed-length: the pipe folder holds a Unix socket, whose path may not exceed ~100 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="ablate-mps-"))
        for sub in ("pipe", "log"):
            (self.root / sub).mkdir()
        started = subprocess.run([self.binary, "-d"], env={**os.environ, **self.env}, capture_output=True,
                                 text=True, timeout=30)
        if started.returncode != 0 or not self._answers():
            detail = (started.stderr or started.stdout).strip() or self._log_tail()
            self._remove()
            raise ConfigError(f"trainer.pack=mps: {self.binary} -d did not start a daemon ({detail}); set "
                              "trainer.pack=timeslice to run the jobs as plain processes")
        self.saved = {k: os.environ.get(k) for k in ENV}
        os.environ.update(self.env)
        atexit.register(self.stop)
        self._watch()

    def _watch(self) -> None:
        """A detached watcher that quits the daemon if this process dies without stopping it (SIGKILL, or
        SIGTERM's default action, which skips atexit); it exits once the folder is gone (a normal stop)."""
        subprocess.Popen([sys.executable, "-c", WATCHER, str(os.getpid()), str(self.root), self.binary],
                         env={**os.environ, **self.env}, start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _alive(self) -> bool:
        try:
            return self._control("get_server_list", timeout=5).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def _answers(self, wait_s: float = 10) -> bool:
        end = time.monotonic() + wait_s
        while time.monotonic() < end:
            if self._alive():
                return True
            time.sleep(0.2)
        return False

    def _log_tail(self) -> str:
        log = self.root / "log" / "control.log" if self.root else None
        return log.read_text()[-500:].strip() if log and log.is_file() else "no log"

    def stop(self, wait_s: float = 30) -> None:
        """Ask the daemon to quit (it lets running clients finish), restore the environment, remove the folders."""
        if self.root is None:
            return
        try:
            self._control("quit", timeout=wait_s)
        except (OSError, subprocess.TimeoutExpired) as err:
            print(f"[ablate] MPS daemon in {self.root} did not take 'quit': {err}", file=sys.stderr, flush=True)
        end = time.monotonic() + wait_s
        while time.monotonic() < end and self._alive():  # it exits once its clients have
            time.sleep(0.2)
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._remove()
        atexit.unregister(self.stop)

    def _remove(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


def pack_mode(config: Any, gpus: int) -> str:
    """What a multirun with this composed config should do: 'mps', 'timeslice' or 'mps-if-available'."""
    t, launcher = config.trainer, str(config.hydra.launcher.get("_target_", ""))
    if (t.jobs_per_gpu <= 1 or gpus == 0 or str(t.device) == "cpu" or t.pack == "timeslice"
            or not launcher.endswith(LOCAL_LAUNCHERS)):
        return "timeslice"
    if os.environ.get(ENV[0]):
        return "existing"
    return "mps" if t.pack == "mps" else "mps-if-available"


class SweepPacker:
    """The sweep's MPS daemon, from the multirun's start to its end (ablate.cli.PackJobs, the Hydra callback
    conf/train.yaml registers, calls `start` and `stop`; Hydra itself is imported by ablate.cli alone)."""

    def __init__(self) -> None:
        self.daemon: MpsDaemon | None = None

    def start(self, config: Any) -> None:
        import torch

        mode = pack_mode(config, torch.cuda.device_count())
        if mode == "existing":
            print(f"[ablate] packing jobs through the MPS daemon at ${ENV[0]}={os.environ[ENV[0]]}", flush=True)
            return
        if mode == "mps-if-available" and shutil.which(BINARY) is None:
            print(f"[ablate] trainer.pack=auto: {BINARY} is not on PATH; jobs share the GPU by time-slicing "
                  "(set trainer.pack=timeslice to silence this)", flush=True)
            return
        if mode.startswith("mps"):
            self.daemon = MpsDaemon()
            try:
                self.daemon.start()
            except ConfigError as err:
                print(f"ablate-train: error: {err}", file=sys.stderr)
                raise SystemExit(2) from None
            print(f"[ablate] packing {config.trainer.jobs_per_gpu} jobs per GPU through an MPS daemon "
                  f"({self.daemon.env[ENV[0]]})", flush=True)

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None
