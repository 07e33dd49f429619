"""Benchmark: first decode of the full CIFAR-10 into the uint8 cache, then a cached start, in seconds.

    python bench/data_decode.py [--root ../shared/data/cifar10] [--out reports/bench/data_decode.md]

Uses a fresh temporary cache folder, so the first decode is a real decode (the files themselves may already
be in the OS page cache; the table says which run read them first). Also times one augmented epoch of the
tensor path on the CPU, the loader the trainer uses for CIFAR-10.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from ablate.config import DataConfig
from ablate.data import DATASETS, build_data

REPO = Path(__file__).resolve().parent.parent


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run(root: Path) -> str:
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        cfg = DataConfig(name="cifar10", root=str(root), cache_dir=cache, augment="crop_flip_pca")
        ds, first = timed(lambda: DATASETS.build("cifar10", cfg))
        rows.append(("first decode (PNG → uint8 arrays, cache written)", first, ds.info["cache"]))
        ds, warm = timed(lambda: DATASETS.build("cifar10", cfg))
        rows.append(("cached start (listing + fingerprint + .npy load + CRC check)", warm, ds.info["cache"]))
        data, start = timed(lambda: build_data(cfg, 0, torch.device("cpu"), 128, 512))
        rows.append(("cached start of build_data (adds channel stats, loaders)", start, data.info["cache"]))
        data.train.set_epoch(1)
        n, epoch = timed(lambda: sum(len(y) for _, y in data.train))
        rows.append((f"one crop_flip_pca epoch on the CPU tensor path ({n / epoch:,.0f} images/s)", epoch, ""))
    lines = ["# CIFAR-10 decode and cached start", "",
             f"Source: `{root}` ({len(ds.train_y):,} train + {len(ds.test_y):,} test images, {ds.source}).",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores visible, "
             f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, load average "
             f"{os.getloadavg()[0]:.1f} at the end.", "",
             "| step | seconds | cache |", "|---|---:|---|"]
    lines += [f"| {name} | {sec:.2f} | {state} |" for name, sec, state in rows]
    lines += ["", "Produced by `python bench/data_decode.py`."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "cifar10")
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads; 0 = torch's default")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    report = run(args.root)
    print(report, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)


if __name__ == "__main__":
    main()
