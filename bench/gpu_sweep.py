"""Fig-1 runs for the GPU benchmarks: one trainer on device-resident synthetic data, and a Fig-1 sweep packed on
one GPU four ways: one job alone, N jobs through the real launcher (hydra joblib, trainer.jobs_per_gpu=N) with
trainer.pack=mps and with trainer.pack=timeslice, and N runs as threads of one process, each on its own CUDA
stream (a prototype the library does not offer: measured to learn whether building it would pay)."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from common import REPO
from cpu_runs import cli_env

from ablate.config import Config, DataConfig, ModelConfig, TrainerConfig
from ablate.data.augment import AUGMENTS, Geometry, Normalizer
from ablate.data.loader import TensorLoader
from ablate.dist import DistEnv
from ablate.fit import Trainer

TIMEOUT_S = 240  # one packed measurement; a hung one must not eat the device time of the rest


def run_group(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run `cmd` in its own process group; past `timeout` the whole group (launcher and its job processes) is
    killed and TimeoutError raised."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise TimeoutError(f"{' '.join(cmd[1:4])} ... did not finish in {timeout:.0f} s") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def epoch_rates(run_dir: Path) -> list[float]:
    """The trainer's images/s of each epoch, from the run folder's metrics.csv."""
    with open(run_dir / "metrics.csv", newline="") as f:
        return [float(row["images_per_s"]) for row in csv.DictReader(f)]


def steady(rates: list[float]) -> float:
    """A run's images/s once warm: the median over epochs after the first (warm-up, capture, autotuning)."""
    return statistics.median(rates[1:] or rates)


def fig1_trainer(s: dict, device: torch.device, out_dir: Path, seed: int, images: int | None = None,
                 **options) -> Trainer:
    """convnet4 through `Trainer` on `images` synthetic uint8 32×32 images held on the device (TensorLoader:
    crop 32 with padding 4 and flip, normalise, batched there), bf16 autocast, channels_last, `options` set in
    the trainer section. The data is random pixels: the speed does not depend on what is learnt."""
    n = images or s["images"]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, n).astype(np.int64)
    batch = s["fig1_batch"]
    model = ModelConfig(**yaml.safe_load((REPO / "conf" / "model" / "convnet4.yaml").read_text()))
    cfg = Config(name="bench", seed=seed, out_dir=str(out_dir), model=model,
                 data=DataConfig(name="synthetic", subset=batch, test_subset=10, augment="crop_flip"),
                 trainer=TrainerConfig(epochs=s["fig1_epochs"], batch_size=batch, eval_batch_size=1024,
                                       device=str(device), precision="bf16", channels_last=True, progress="none",
                                       **options))
    trainer = Trainer(cfg, DistEnv(), device)
    norm = Normalizer([0.49, 0.48, 0.45], [0.25, 0.24, 0.26], [0.2, 0.02, 0.005], np.eye(3).tolist(), device)
    geo = Geometry(32, 32, 4)
    trainer.data.train = TensorLoader(x, y, batch, norm, geo, train=True, augment=AUGMENTS.build("crop_flip"),
                                      seed=seed)
    trainer.data.val = TensorLoader(x[:1024], y[:1024], 1024, norm, geo, train=False)
    trainer.data.test = None
    return trainer


# -- packed sweeps ---------------------------------------------------------------------------------------------
def cli_sweep(s: dict, sweep_dir: Path, seeds: list[int], jobs_per_gpu: int, pack: str) -> dict:
    """One multirun of the CLI (a job per seed) through the joblib launcher; whole-process wall time."""
    n = s["sweep_images"]
    cmd = [sys.executable, "-m", "ablate", "-m", "model=convnet4", "data=synthetic", f"data.subset={n}",
           f"data.test_subset={max(10, n // 10)}", "data.augment=crop_flip", f"trainer.epochs={s['sweep_epochs']}",
           "trainer.precision=bf16", "trainer.channels_last=true", "trainer.cuda_graphs=true",
           f"trainer.device={s['device']}", "trainer.progress=none", "trainer.threads=1", "name=bench",
           f"seed={','.join(map(str, seeds))}", "hydra/launcher=ablate_joblib", f"trainer.jobs_per_gpu={jobs_per_gpu}",
           f"trainer.pack={pack}", f"hydra.sweep.dir={sweep_dir}"]
    t0 = time.perf_counter()
    proc = run_group(cmd, TIMEOUT_S)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:])} exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-3000:]}")
    runs = sorted(p.parent for p in sweep_dir.glob("*/metrics.csv"))
    if len(runs) != len(seeds):
        raise RuntimeError(f"{len(seeds)} jobs but {len(runs)} run folders with metrics in {sweep_dir}")
    rates = [steady(epoch_rates(r)) for r in runs]
    images = sum(len(epoch_rates(r)) * n for r in runs)
    return {"jobs": len(seeds), "wall_s": wall, "per_run_images_per_s": rates,
            "aggregate_images_per_s": sum(rates), "end_to_end_images_per_s": images / wall,
            "mps": "through an MPS daemon" in proc.stdout, "command": " ".join(["python", *cmd[1:-1]])}


def one_process(s: dict, device: torch.device, out_dir: Path, n: int) -> dict:
    """n trainers built one after another (seeding is process-wide), then fitted in n threads at once, each
    on its own CUDA stream; CUDA graphs, so each step is mostly one launch and the GIL is held briefly."""
    trainers = [fig1_trainer(s, device, out_dir / str(i), seed=i, images=s["sweep_images"], cuda_graphs=True)
                for i in range(n)]
    for t in trainers:
        t.cfg.trainer.epochs = s["sweep_epochs"]
    errors: list[BaseException] = []

    def fit(trainer: Trainer) -> None:
        stream = torch.cuda.stream(torch.cuda.Stream(device)) if device.type == "cuda" else contextlib.nullcontext()
        try:
            with stream:
                trainer.fit()
        except BaseException as err:  # reported below, after every thread is done
            errors.append(err)

    # Daemon threads and a deadline: a hang (the prototype shares one CUDA context) must not stop the benchmark.
    threads = [threading.Thread(target=fit, args=(t,), daemon=True) for t in trainers]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(1.0, TIMEOUT_S - (time.perf_counter() - t0)))
    wall = time.perf_counter() - t0
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"{sum(t.is_alive() for t in threads)} of {n} runs unfinished after {TIMEOUT_S} s")
    if errors:
        raise errors[0]
    rates = [steady(epoch_rates(Path(t.cfg.out_dir))) for t in trainers]
    images = n * s["sweep_epochs"] * s["sweep_images"]
    return {"jobs": n, "wall_s": wall, "per_run_images_per_s": rates, "aggregate_images_per_s": sum(rates),
            "end_to_end_images_per_s": images / wall, "note": "fit() time only: no process start-up"}


def packed(s: dict, device: torch.device, tmp: Path) -> dict:
    """The same Fig-1 job (seeds 0..N-1) alone and packed N to a GPU, each way guarded on its own."""
    n = s["sweep_jobs"]
    out: dict = {"jobs": n, "images": s["sweep_images"], "epochs": s["sweep_epochs"]}
    ways = {"one job alone": lambda: cli_sweep(s, tmp / "alone", [0], 1, "timeslice"),
            f"{n} jobs, MPS": lambda: cli_sweep(s, tmp / "mps", list(range(n)), n, "mps"),
            f"{n} jobs, time-sliced": lambda: cli_sweep(s, tmp / "timeslice", list(range(n)), n, "timeslice"),
            f"{n} runs in one process": lambda: one_process(s, device, tmp / "inproc", n)}
    if s["device"] == "cpu":  # without a GPU both are plain processes: one checks the script
        del ways[f"{n} jobs, time-sliced"]
    for label, fn in ways.items():
        print(f"[gpu_bench] packed: {label} ...", flush=True)
        try:
            out[label] = fn()
        except Exception as err:  # e.g. no MPS on this machine: the other ways still run
            out[label] = {"error": f"{type(err).__name__}: {str(err)[-1500:]}"}
    alone = out["one job alone"].get("aggregate_images_per_s")
    for res in out.values():
        if isinstance(res, dict) and alone and "aggregate_images_per_s" in res:
            res["times_alone"] = res["aggregate_images_per_s"] / alone
    return out
