"""Packed sweep: N small CIFAR-shaped runs of the CLI at once on one device vs one after another (runs/hour)."""

from __future__ import annotations

import csv
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import REPO
from cpu_runs import cli_env


def epoch_rates(run_dir: Path) -> list[float]:
    """The trainer's images/s of each epoch, from the run folder's metrics.csv."""
    with open(run_dir / "metrics.csv", newline="") as f:
        return [float(row["images_per_s"]) for row in csv.DictReader(f)]


def sweep_command(s: dict, seed: int, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "ablate", "model=convnet4", "data=synthetic", f"data.subset={s['sweep_images']}",
            f"data.test_subset={max(10, s['sweep_images'] // 5)}", "data.augment=crop_flip",
            f"trainer.epochs={s['sweep_epochs']}", "trainer.precision=bf16", "trainer.channels_last=true",
            f"trainer.device={s['device']}", "trainer.progress=none", f"seed={seed}", "name=bench",
            f"hydra.run.dir={run_dir}"]


def _finish(proc: subprocess.Popen, cmd: list[str]) -> None:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{out[-3000:].decode(errors='replace')}")


def _launch(cmds: list[list[str]]) -> list[subprocess.Popen]:
    return [subprocess.Popen(c, cwd=REPO, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            for c in cmds]


def packed_sweep(s: dict, tmp: Path) -> dict:
    """The same N runs (seeds 0..N-1) twice: sequentially, then all launched together. Whole-process wall time,
    so start-up (imports, data, CUDA context) counts, as it does in a real sweep."""
    n = s["sweep_runs"]
    seq = [sweep_command(s, i, tmp / "sweep-seq" / str(i)) for i in range(n)]
    packed = [sweep_command(s, i, tmp / "sweep-packed" / str(i)) for i in range(n)]
    t0 = time.perf_counter()
    for cmd in seq:
        _finish(_launch([cmd])[0], cmd)
    seq_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    procs = _launch(packed)
    for proc, cmd in zip(procs, packed, strict=True):
        _finish(proc, cmd)
    packed_s = time.perf_counter() - t0

    def rate(cmds: list[list[str]]) -> float:  # median over runs of each run's median epoch images/s
        return statistics.median(statistics.median(epoch_rates(Path(c[-1].split("=", 1)[1]))) for c in cmds)

    return {"runs": n, "command": " ".join(["python", *seq[0][1:-1]]), "sequential_s": seq_s, "packed_s": packed_s,
            "sequential_runs_per_hour": n * 3600 / seq_s, "packed_runs_per_hour": n * 3600 / packed_s,
            "speedup": seq_s / packed_s, "run_images_per_s_sequential": rate(seq),
            "run_images_per_s_packed": rate(packed)}
