"""Stage 2 of bench/gpu.sh: the Figure-1 study grid through the packed path on the full CIFAR-10, timed, then the
final report (stage 1's bench/gpu_bench.py results with this section added).

The grid is issue 17's: sweeps/fig1_study_scan.yaml (convnet4, the layer file's init and lr structure, no
regularization, batch 128, a constant lr, until 25% training error or 40 epochs, activation statistics) at its
paper input (data.normalize=paper), 2 activations × 7 lrs × seeds 0, 1, 2: 42 runs, packed
`--jobs-per-gpu` to the GPU through the joblib launcher (trainer.pack=auto: MPS where it exists), bf16,
channels_last, CUDA graphs. At `--deadline-s` every job gets SIGTERM: each checkpoints and is marked preempted.

    python bench/gpu_study.py --root CIFAR --bench-json PARKED.json --out $OUT/gpu-h200.md
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, table, today
from cpu_runs import cli_env

GRID = ["+sweeps=fig1_study_scan", "data.normalize=paper", "name=fig1_study_gpu"]
GPU_GRID = ["seed=0,1,2"]
CPU_GRID = ["seed=0", "optim.lr=0.01", "trainer.epochs=1", "trainer.limit_train_batches=2",
            "trainer.activation_stats=false"]  # 2 runs (relu, tanh), two steps each


def run_grid(root: Path, sweep_dir: Path, jobs_per_gpu: int, deadline_s: float, cpu: bool) -> dict:
    cmd = [sys.executable, "-m", "ablate", "-m", *GRID, f"data.root={root}", "hydra/launcher=ablate_joblib",
           f"trainer.jobs_per_gpu={jobs_per_gpu}", "trainer.pack=auto", "trainer.threads=1",
           f"trainer.device={'cpu' if cpu else 'cuda'}", "trainer.cuda_graphs=true", "trainer.precision=bf16",
           "trainer.channels_last=true", "trainer.progress=line", f"hydra.sweep.dir={sweep_dir}",
           *(CPU_GRID if cpu else GPU_GRID)]
    sweep_dir.mkdir(parents=True, exist_ok=True)
    log = sweep_dir.parent / f"{sweep_dir.name}.log"
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=cli_env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            proc.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            print(f"[gpu_study] deadline {deadline_s:.0f} s: SIGTERM to every job (each checkpoints)", flush=True)
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    wall = time.perf_counter() - t0
    text = log.read_text()
    total = re.search(r"^(\d+) jobs: ", text, re.M)
    runs = [read_run(p.parent) for p in sorted(sweep_dir.glob("*/config.yaml"))]
    statuses = collections.Counter(r["status"] for r in runs)
    expected = int(total.group(1)) if total else len(runs)
    return {"jobs": expected, "wall_s": wall, "returncode": proc.returncode, "statuses": dict(statuses),
            "unfinished": expected - statuses.get("completed", 0) - statuses.get("diverged", 0),
            "jobs_per_gpu": jobs_per_gpu, "mps": "through an MPS daemon" in text, "runs": runs,
            "command": " ".join(["python", *cmd[1:]]), "log_tail": text[-2000:]}


def read_run(folder: Path) -> dict:
    """A run's status, factors and progress from its folder (summary.json, config.yaml, metrics.csv)."""
    import yaml

    summary = json.loads((folder / "summary.json").read_text()) if (folder / "summary.json").is_file() else {}
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    rows = []
    if (folder / "metrics.csv").is_file():
        with open(folder / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    reached = next((int(r["epoch"]) for r in rows if float(r["train_err"]) <= 0.25), None)
    rates = [float(r["images_per_s"]) for r in rows]
    return {"folder": folder.name, "status": summary.get("status", "not started"),
            "activation": cfg["model"]["activation"], "lr": cfg["optim"]["lr"], "seed": cfg["seed"],
            "epochs": len(rows), "reached_25_at": reached,
            "final_train_err": float(rows[-1]["train_err"]) if rows else None,
            "images_per_s": statistics.median(rates[1:] or rates) if rates else None}


def study_lines(res: dict) -> list[str]:
    """The study section: wall time, statuses, and per activation × lr how many seeds reached 25% and when."""
    cells: dict = collections.defaultdict(list)
    for r in res["runs"]:
        cells[(r["activation"], r["lr"])].append(r)
    rows = []
    for (act, lr), runs in sorted(cells.items()):
        at = [r["reached_25_at"] for r in runs if r["reached_25_at"]]
        rates = [r["images_per_s"] for r in runs if r["images_per_s"]]
        rows.append([act, f"{lr:g}", f"{len(at)}/{len(runs)}", f"{statistics.median(at):g}" if at else "—",
                     ", ".join(sorted({r["status"] for r in runs})),
                     f"{statistics.median(rates):,.0f}" if rates else "—"])
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(res["statuses"].items()))
    return [f"`{res['command']}` — {res['jobs']} runs, {res['jobs_per_gpu']} at a time on the GPU "
            f"({'through an MPS daemon' if res['mps'] else 'time-sliced: no MPS daemon'}); wall {res['wall_s']:.0f} s "
            f"(start-up of every process included); {statuses}.", "",
            *table(["activation", "lr", "seeds reaching 25% train error", "median epoch reaching it", "status",
                    "per-run images/s"], rows), ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="CIFAR-10 in the python-batch layout")
    parser.add_argument("--runs", type=Path, default=Path("runs/fig1_study_gpu"))
    parser.add_argument("--bench-json", type=Path, help="stage 1's gpu_bench results to add the section to")
    parser.add_argument("--out", type=Path, default=Path(f"reports/bench/{today()}-gpu-h200.md"))
    parser.add_argument("--jobs-per-gpu", type=int, default=21)
    parser.add_argument("--deadline-s", type=float, default=330)
    parser.add_argument("--cpu", action="store_true", help="2 tiny runs on the CPU (checks the script)")
    args = parser.parse_args()
    from gpu_report import render

    start = time.perf_counter()
    try:
        study = run_grid(args.root.resolve(), args.runs.resolve(), args.jobs_per_gpu, args.deadline_s, args.cpu)
    except Exception as err:  # still write the report: stage 1's results are worth having
        study = {"error": f"{type(err).__name__}: {err}"}
    study["seconds"] = time.perf_counter() - start
    results = (json.loads(args.bench_json.read_text()) if args.bench_json and args.bench_json.is_file() else
               {"date": today(), "mode": "cpu" if args.cpu else "gpu", "backend": "-", "total_s": 0,
                "device_name": "(stage 1's results were not found)", "sections": {}})
    results["sections"]["study"] = study
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    args.out.write_text(render(results))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
