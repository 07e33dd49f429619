"""Whole runs as a user starts them (`python -m ablate ...` in a subprocess): start-up time and peak memory.

Two markers of the first training step are read from outside, without hooks in the library:
- the progress bar appearing on stderr (`trainer.progress=bar` draws it just before the first batch);
- the first checkpoint appearing in the run folder (`trainer.ckpt_every=1` writes one after step 1).
Peak RSS is the child's own `ru_maxrss` from `os.wait4` (per process, not the max over all children).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import REPO


def cli_env() -> dict[str, str]:
    env = dict(os.environ, WANDB_MODE="disabled", HYDRA_FULL_ERROR="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def run_cli(overrides: list[str], run_dir: Path, marker: bytes = b"epoch 1/", timeout: float = 1800) -> dict:
    """Run the CLI once; seconds to the bar and to the first checkpoint, total wall, peak RSS in MiB."""
    cmd = [sys.executable, "-m", "ablate", *overrides, f"hydra.run.dir={run_dir}"]
    ckpt_dir = run_dir / "checkpoints"
    out = bytearray()
    seen: dict[str, float] = {}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def read() -> None:
        while chunk := proc.stdout.read1(65536):
            if "bar_s" not in seen and marker in out[-len(marker):] + chunk:
                seen["bar_s"] = time.perf_counter() - t0
            out.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    first_ckpt = None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if first_ckpt is None and ckpt_dir.is_dir() and any(ckpt_dir.iterdir()):
            first_ckpt = time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            proc.kill()
        time.sleep(0.005)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(10)
    if proc.returncode != 0:
        tail = out[-3000:].decode(errors="replace")
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    return {"bar_s": seen.get("bar_s"), "first_step_s": first_ckpt, "wall_s": wall,
            "peak_rss_mib": usage.ru_maxrss / 1024}  # ru_maxrss is in KiB on Linux


def cifar_run_overrides(root: Path, steps: int, test_subset: int | None, cache_dir: str | None) -> list[str]:
    """A CIFAR-10 run of the default convnet4 with the paper's augmentation; `steps` training steps per epoch
    (0 = all) and the whole test set evaluated (or `test_subset` images)."""
    args = ["data=cifar10", f"data.root={root}", "data.augment=crop_flip", "trainer.epochs=1",
            "trainer.device=cpu", "trainer.progress=bar", "trainer.ckpt_every=1",
            f"trainer.limit_train_batches={steps}", "name=bench",
            "trainer.reuse_identical=false"]  # repeats of one run, each measured
    if test_subset:
        args.append(f"data.test_subset={test_subset}")
    if cache_dir:
        args.append(f"data.cache_dir={cache_dir}")
    return args
