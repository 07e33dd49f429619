"""CPU benchmarks of issue 8: harness overhead, end-to-end CIFAR-10 epoch, peak memory, start-up.

    python bench/cpu.py [--quick] [--root ../shared/data/cifar10] [--out reports/bench/DATE-cpu-HOST.md]

Every contender pair runs interleaved in one process (A B, then B A, ...), so load from other work on the
machine hits both alike; the tables give medians with min–max over the repeats and the ratios of the pairs.
`--quick` runs everything with tiny sizes (a smoke test of this script, not a measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's ablate, not an installed one

import cpu_runs  # noqa: E402
import cpu_steps  # noqa: E402
import torch  # noqa: E402
from common import REPO, Stat, default_cifar_root, goal_line, machine_lines, machine_name, table, today  # noqa: E402

FULL = {"repeats": 5, "overhead_steps": 40, "e2e_steps": 0, "data_steps": 0, "run_steps": 50, "test_subset": None,
        "profile_steps": 20, "warmup_run": True}
QUICK = {"repeats": 2, "overhead_steps": 3, "e2e_steps": 3, "data_steps": 5, "run_steps": 2, "test_subset": 200,
         "profile_steps": 2, "warmup_run": False}
EPOCH_STEPS = 391  # one CIFAR-10 epoch at batch 128


def paired(run_a, run_b, repeats: int) -> tuple[list[dict], list[dict]]:
    """Alternate the order each repeat (AB, BA, AB, ...) so drift in machine load is shared."""
    a, b = [], []
    for r in range(repeats):
        if r % 2 == 0:
            a.append(run_a(r))
            b.append(run_b(r))
        else:
            b.append(run_b(r))
            a.append(run_a(r))
    return a, b


def stat(rows: list[dict], key: str) -> Stat:
    return Stat([row[key] for row in rows])


def bench_overhead(p: dict, batch: int, tmp: Path) -> tuple[list[str], dict]:
    steps = p["overhead_steps"]
    batches = cpu_steps.make_batches(steps, batch)
    weights = cpu_steps.initial_weights()
    cfg = lambda r: cpu_steps.overhead_config(tmp / f"harness{r}", batch, "bar")  # noqa: E731
    cpu_steps.harness_once(cpu_steps.overhead_config(tmp / "warmup", batch, "bar"), batches[:2], weights)
    cpu_steps.bare_once(batches[:2], weights)
    h, b = paired(lambda r: cpu_steps.harness_once(cfg(r), batches, weights),
                  lambda r: cpu_steps.bare_once(batches, weights), p["repeats"])
    ratio = Stat([x["step_s"] / y["step_s"] for x, y in zip(h, b, strict=True)])
    fixed = stat(h, "fixed_s")
    share = fixed.median / (EPOCH_STEPS * stat(b, "step_s").median)
    res = {"harness_step_s": stat(h, "step_s").to_dict(), "bare_step_s": stat(b, "step_s").to_dict(),
           "ratio": ratio.to_dict(), "fixed_s": fixed.to_dict(), "fixed_share_of_epoch": share}
    lines = [f"convnet4, batch {batch}, {steps} steps per repeat on the same preloaded tensors, "
             f"{p['repeats']} repeats. Harness: `Trainer.fit()` (EpochMeter, tqdm bar, divergence/preemption "
             "checks every 25 steps, checkpoint cadence, metrics row, summary and checkpoint at the epoch end; "
             "evaluation given no batches). Bare: forward, loss, zero_grad, backward, `torch.optim.SGD` step.", "",
             *table(["contender", "ms per step, median (min–max)"],
                    [["ablate harness", stat(h, "step_s").fmt(2, 1e3)], ["bare loop", stat(b, "step_s").fmt(2, 1e3)],
                     ["ratio harness/bare (paired)", ratio.fmt(3)]]), "",
             f"Per-run fixed cost outside the steps (run folder, git state, metrics, summary, epoch-end checkpoint): "
             f"{fixed.fmt(1, 1e3)} ms, {share:.2%} of a {EPOCH_STEPS}-step epoch of bare steps."]
    return lines, res


def bench_e2e(p: dict, root: Path, batch: int, workers: int) -> tuple[list[str], dict]:
    out, res = [], {}
    for label, model_on, steps in (("with the model (training)", True, p["e2e_steps"]),
                                   ("data pipeline alone (no model)", False, p["data_steps"])):
        a, t = paired(lambda r, m=model_on, s=steps: cpu_steps.ablate_epoch(root, batch, s, None, m),
                      lambda r, m=model_on, s=steps: cpu_steps.torchvision_epoch(root, batch, s, workers, m),
                      p["repeats"])
        for rows in (a, t):
            for row in rows:
                row["total_s"] = row["setup_s"] + row["loop_s"]
        speedup = Stat([y["total_s"] / x["total_s"] for x, y in zip(a, t, strict=True)])
        images = a[0]["images"]
        key = "train" if model_on else "data_only"
        res[key] = {"images": images, "ablate": {k: stat(a, k).to_dict() for k in ("setup_s", "loop_s", "total_s")},
                    "torchvision": {k: stat(t, k).to_dict() for k in ("setup_s", "loop_s", "total_s")},
                    "speedup": speedup.to_dict()}
        what = "a full epoch" if not steps else f"the first {steps} steps of an epoch"
        out += [f"### {label}: {what} ({images:,} images), set-up included", "",
                *table(["pipeline", "set-up s", "loop s", "total s", "images/s (total)"],
                       [[n, stat(r, "setup_s").fmt(2), stat(r, "loop_s").fmt(2), stat(r, "total_s").fmt(2),
                         f"{images / stat(r, 'total_s').median:,.0f}"]
                        for n, r in (("ablate (cached arrays, tensor crop/flip)", a),
                                     (f"torchvision (ImageFolder, PIL, {workers} workers)", t))]),
                "", f"Speed-up ablate vs torchvision (paired, total time): **{speedup.fmt(2)}×**", ""]
    return out, res


def bench_runs(p: dict, root: Path, tmp: Path) -> tuple[list[str], dict]:
    args = cpu_runs.cifar_run_overrides(root, p["run_steps"], p["test_subset"], None)
    warm = cpu_runs.run_cli(args, tmp / "run-warmup") if p["warmup_run"] else None
    runs = [cpu_runs.run_cli(args, tmp / f"run{r}") for r in range(p["repeats"])]
    rss, bar, first, wall = (stat(runs, k) for k in ("peak_rss_mib", "bar_s", "first_step_s", "wall_s"))
    cmd = "python -m ablate " + " ".join(args)
    res = {"command": cmd, "runs": runs, "warmup": warm, "peak_rss_mib": rss.to_dict(), "bar_s": bar.to_dict(),
           "first_step_s": first.to_dict(), "wall_s": wall.to_dict()}
    test = f"{p['test_subset']} test images" if p["test_subset"] else "the whole 10,000-image test set"
    mem = [f"`{cmd}`: the whole train split loaded (50,000 images), {p['run_steps']} training steps, {test} "
           f"evaluated, {p['repeats']} runs. Peak RSS is each run's own `ru_maxrss` (os.wait4).", "",
           *table(["quantity", "median (min–max)"], [["peak RSS, MiB", rss.fmt(0)],
                                                     ["run wall time, s", wall.fmt(2)]])]
    warmed = "a discarded warm-up run first" if warm else "warmed by the benchmarks above"
    start = [f"Same runs, warm decode cache ({warmed}); seconds from launching the command:", "",
             *table(["marker", "seconds, median (min–max)"],
                    [["progress bar drawn (training loop entered, data and model ready)", bar.fmt(2)],
                     ["first checkpoint written (first training step done; trainer.ckpt_every=1)", first.fmt(2)]])]
    return (mem, start), res


def profile_section(root: Path, batch: int, steps: int, workers: int) -> list[str]:
    prof = cpu_steps.profile_e2e(root, batch, steps, None, workers)
    rows = [[name, *(f"{phases.get(k, 0):.1f}" for k in ("data", "forward+loss", "backward", "optimizer"))]
            for name, (phases, _) in prof.items()]
    lines = [f"torch.profiler over {steps} training steps (after 2 warm-up steps), ms per step by phase:", "",
             *table(["pipeline", "data", "forward+loss", "backward", "optimizer"], rows), ""]
    for name, (_, top) in prof.items():
        lines += [f"Top ops by self CPU time, {name}:", "", "```", top.strip(), "```", ""]
    return lines


def run(args, p: dict) -> tuple[str, dict]:
    threads = torch.get_num_threads()
    lines = [f"# CPU benchmarks, {today()}, `{machine_name()}`", "", *machine_lines(threads),
             f"- Sizes: {'--quick (tiny sizes: a smoke test, not a measurement)' if args.quick else 'full'}", ""]
    results: dict = {"date": today(), "machine": machine_name(), "quick": args.quick, "threads": threads}
    goals = []
    have_data = (args.root / "train").is_dir()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        body, res = bench_overhead(p, args.batch, tmp)
        results["overhead"] = res
        lines += ["## 1. Harness overhead", "", *body, ""]
        r = res["ratio"]["median"]
        goals.append(goal_line("harness overhead ≤ 1.05×", r <= 1.05, f"{r:.3f}× per step ("
                               f"{'under' if r <= 1.05 else 'over'} the goal by {abs(r - 1.05) * 100:.1f} points)"))
        if not have_data:
            note = f"skipped: no CIFAR-10 ImageFolder tree at `{args.root}` (pass --root)"
            lines += ["## 2. End-to-end epoch on CIFAR-10", "", note, "", "## 3. Peak memory", "", note, "",
                      "## 4. Start-up", "", note, ""]
            results["skipped"] = note
        else:
            body, res = bench_e2e(p, args.root, args.batch, args.workers)
            results["e2e"] = res
            lines += ["## 2. End-to-end epoch on CIFAR-10", "", f"Data: `{args.root}`. convnet4, batch {args.batch}, "
                      "RandomCrop(32, padding=4) + horizontal flip + normalise on both sides; ablate through the "
                      "engine's `train_one_epoch` (its SGD, EpochMeter), torchvision through the reference-style "
                      f"loop with `torch.optim.SGD`. {p['repeats']} repeats, interleaved.", "", *body]
            s = res["train"]["speedup"]["median"]
            goals.append(goal_line("end-to-end epoch ablate ≥ 1.5× faster", s >= 1.5,
                                   f"{s:.2f}× ({'above' if s >= 1.5 else 'below'} the goal by "
                                   f"{abs(s - 1.5) / 1.5:.0%}); data pipeline alone: "
                                   f"{res['data_only']['speedup']['median']:.2f}×"))
            (mem, start), res = bench_runs(p, args.root, tmp)
            results["runs"] = res
            lines += ["## 3. Peak memory (RSS) of a CIFAR-10 run", "", *mem, "", "## 4. Start-up", "", *start, ""]
            m = res["peak_rss_mib"]["median"]
            goals.append(goal_line("peak RSS ≤ 2 GiB", m <= 2048, f"{m:,.0f} MiB median ({m / 2048:.0%} of 2 GiB)"))
            goals.append(f"- start-up (no goal): first training step done {res['first_step_s']['median']:.2f} s "
                         "after the command, median")
            if s < 1.5:
                lines += ["## Profile: where the end-to-end time goes", "",
                          *profile_section(args.root, args.batch, p["profile_steps"], args.workers)]
    lines[lines.index("## 1. Harness overhead"):lines.index("## 1. Harness overhead")] = ["## Goals", "", *goals, ""]
    load = os.getloadavg()
    lines += [f"Load average at the end (1/5/15 min): {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}. "
              f"Total benchmark time {time.perf_counter() - T0:.0f} s.", ""]
    return "\n".join(lines), results


T0 = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 repeats (for tests)")
    parser.add_argument("--root", type=Path, default=default_cifar_root(), help="CIFAR-10 ImageFolder tree")
    parser.add_argument("--out", type=Path, help="report path (default reports/bench/DATE-cpu-HOST.md)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the torchvision pipeline")
    parser.add_argument("--repeats", type=int, help="override the number of repeats")
    parser.add_argument("--e2e-steps", type=int, help="override the steps of the end-to-end run (0 = epoch)")
    args = parser.parse_args()
    p = dict(QUICK if args.quick else FULL)
    if args.repeats:
        p["repeats"] = args.repeats
    if args.e2e_steps is not None:
        p["e2e_steps"] = args.e2e_steps
    out = args.out or REPO / "reports" / "bench" / f"{today()}-cpu-{machine_name()}.md"
    report, results = run(args, p)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    print(report)
    print(f"wrote {out} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
