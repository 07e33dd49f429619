"""Markdown for the GPU benchmarks (bench/gpu_bench.py, and bench/gpu_study.py's section): the goals first,
side by side, then one section per measurement; a skipped or failed one says why, an absent one says so."""

from __future__ import annotations

from common import Stat, goal_line, table

PEAK_BF16 = 790e12  # H200 dense bf16 matrix rate measured on these machines (.library KINDS.md), FLOP/s
ALEXNET_MAC = 0.72e9  # multiply-accumulates of one 224×224 forward pass of the two-tower net
TRAIN_FLOP_PER_IMAGE = 3 * ALEXNET_MAC * 2  # forward + backward ≈ 3 forwards; 2 FLOP per MAC
GOALS = {"fig1": 100_000, "packed": 4.0, "study_s": 300.0, "alexnet": 40_000}
TITLES = {"fig1": "Fig-1 net (convnet4), one job", "alexnet": "Paper AlexNet (two towers, LRN, dropout), 224×224",
          "packed": "Fig-1 sweep packed on one GPU", "lrn": "LRN layer alone",
          "study": "Figure-1 study grid, full CIFAR-10"}


def _ok(res: dict | None) -> bool:
    return bool(res) and "skipped" not in res and "error" not in res


def _best(res: dict, key: str = "images_per_s") -> tuple[str, float]:
    rows = [(label, Stat(r[key]["values"]).median) for label, r in res.items() if isinstance(r, dict) and key in r]
    return max(rows, key=lambda row: row[1]) if rows else ("", 0.0)


def goals(sections: dict) -> list[str]:
    """One line per goal: met / MISSED with the number, or NOT MEASURED and why."""
    lines, g = ["## Goals", ""], GOALS

    def absent(name: str, what: str) -> None:
        res = sections.get(name)
        why = (res or {}).get("skipped") or (res or {}).get("error") or "not run"
        lines.append(f"- **{what}: NOT MEASURED** — {why}")

    fig1, alex, packed, study = (sections.get(k) for k in ("fig1", "alexnet", "packed", "study"))
    if _ok(fig1):
        label, best = _best(fig1)
        lines.append(goal_line(f"Fig-1 net, one job, batch {fig1['batch']} ≥ {g['fig1']:,} images/s",
                               best >= g["fig1"], f"{best:,.0f} images/s ({label}; {best / g['fig1']:.0%} of the goal)"))
    else:
        absent("fig1", f"Fig-1 net, one job ≥ {g['fig1']:,} images/s")
    ways = {k: r for k, r in (packed or {}).items() if isinstance(r, dict) and "times_alone" in r
            and k != "one job alone"}
    if _ok(packed) and ways:
        label, res = max(ways.items(), key=lambda kv: kv[1]["times_alone"])
        lines.append(goal_line(f"Fig-1 sweep packed on one GPU ≥ {g['packed']:.0f}× one job alone",
                               res["times_alone"] >= g["packed"],
                               f"{res['times_alone']:.2f}× ({label}: {res['aggregate_images_per_s']:,.0f} images/s "
                               "in total)"))
    else:
        absent("packed", f"Fig-1 sweep packed ≥ {g['packed']:.0f}× one job")
    if _ok(study) and "wall_s" in study:
        done = study["wall_s"] <= g["study_s"] and study.get("unfinished", 1) == 0
        lines.append(goal_line(f"Figure-1 study grid ({study['jobs']} runs) ≤ {g['study_s'] / 60:.0f} min", done,
                               f"{study['wall_s']:.0f} s wall, {study.get('unfinished', '?')} runs unfinished"))
    else:
        absent("study", f"Figure-1 study grid ≤ {g['study_s'] / 60:.0f} min")
    if _ok(alex):
        label, best = _best(alex)
        lines.append(goal_line(f"AlexNet, bf16, batch {alex['batch']} ≥ {g['alexnet']:,} images/s",
                               best >= g["alexnet"],
                               f"{best:,.0f} images/s ({label}; {best / g['alexnet']:.0%} of the goal)"))
    else:
        absent("alexnet", f"AlexNet ≥ {g['alexnet']:,} images/s")
    return lines + [""]


def _fig1(res: dict) -> list[str]:
    rows = [[label, Stat(r["images_per_s"]["values"]).fmt(0), f"{r['epoch1_images_per_s']:,.0f}",
             f"{r.get('replays', '—')} / {r.get('eager_steps', '—')}"]
            for label, r in res.items() if isinstance(r, dict) and "images_per_s" in r]
    return ["convnet4 through `Trainer.fit()`, synthetic uint8 32×32 images resident on the device (TensorLoader: "
            f"crop 32 with padding 4 and flip, normalise, batched there), batch {res['batch']}, bf16 autocast, "
            "channels_last, foreach SGD; the trainer's own images/s per epoch (epoch 1: warm-up and capture).", "",
            *table(["step", "images/s, median (min–max)", "epoch 1", "replayed / eager steps"], rows), ""]


def _alexnet(res: dict) -> list[str]:
    rows = [[label, Stat(r["images_per_s"]["values"]).fmt(0), f"{r['mfu']:.1%}"]
            for label, r in res.items() if isinstance(r, dict) and "images_per_s" in r]
    return [f"Engine training steps (`train_one_epoch`: forward, loss, backward, SGD with momentum and weight decay), "
            f"batch {res['batch']}, bf16 autocast, channels_last. MFU = images/s × 3 × {ALEXNET_MAC / 1e9:.2f} GMAC "
            f"× 2 FLOP / {PEAK_BF16 / 1e12:.0f} TFLOP/s; torch.utils.flop_counter counts "
            f"{res['counted_forward_gmac']:.3f} GMAC per forward pass.", "",
            *table(["setup", "images/s, median (min–max)", "MFU"], rows), ""]


def _packed(res: dict) -> list[str]:
    rows = []
    for label, r in res.items():
        if not isinstance(r, dict):
            continue
        if "error" in r:
            rows.append([label, "FAILED", f"`{r['error'].strip().splitlines()[-1][:120]}`", "", "", "", ""])
            continue
        mps = {True: "yes", False: "no"}.get(r.get("mps"), "—")
        rows.append([label, f"{Stat(r['per_run_images_per_s']).median:,.0f}",
                     f"{r['aggregate_images_per_s']:,.0f}", f"{r.get('times_alone', 0):.2f}×", f"{r['wall_s']:.1f}",
                     f"{r['end_to_end_images_per_s']:,.0f}", mps])
    return [f"The same Fig-1 job (convnet4, {res['images']:,} synthetic images, {res['epochs']} epochs, batch 128, "
            "bf16, channels_last, CUDA graphs), seeds 0..N-1. Per-run images/s: each run's median epoch after the "
            "first; aggregate: their sum (the jobs run side by side throughout); end to end: all images over the "
            "wall time, process start-up included (not for the one-process row).", "",
            *table(["schedule", "per-run images/s", "aggregate images/s", "× one job", "wall s",
                    "end-to-end images/s", "MPS daemon"], rows), ""]


def _lrn(res: dict) -> list[str]:
    rows = []
    for where, r in res.items():
        if not isinstance(r, dict) or "bytes_min" not in r:
            continue
        fused = Stat(r["fused (Triton)"]["ms"]["values"]).median
        rows.append([where, *(Stat(r[k]["ms"]["values"]).fmt(3) for k in
                              ("TowerLRN eager", "TowerLRN compiled", "fused (Triton)")),
                     f"{r['bytes_min'] / fused / 1e6:,.0f}"])
    return ["Forward + backward of the two-tower LRN (n=5, α=1e-4, β=0.75, k=2) alone, bf16 channels_last, batch as "
            "in the AlexNet section. GB/s: the fewest bytes the pass must move (read x, write y; read x and the "
            "gradient, write dx) over the fused kernel's time.", "",
            *table(["where", "TowerLRN eager, ms", "TowerLRN compiled, ms", "fused (Triton), ms", "fused GB/s"], rows),
            ""]


def _study(res: dict) -> list[str]:
    from gpu_study import study_lines

    return study_lines(res)


RENDER = {"fig1": _fig1, "alexnet": _alexnet, "packed": _packed, "lrn": _lrn, "study": _study}


def render(results: dict) -> str:
    mode = ("--cpu (tiny sizes on the CPU: a check of the script, not a measurement)" if results["mode"] == "cpu"
            else "GPU")
    lines = [f"# GPU benchmarks, {results['date']}, {results['device_name']}", "", *results.get("machine", []),
             f"- Mode: {mode}; torch.compile backend `{results['backend']}`; benchmarks {results['total_s']:.0f} s",
             "", *goals(results["sections"])]
    for name, res in results["sections"].items():
        lines += [f"## {TITLES[name]}", ""]
        if not _ok(res):
            lines += [f"skipped: {res['skipped']}" if "skipped" in res else f"FAILED: `{res['error']}`", ""]
            continue
        lines += RENDER[name](res)
        lines += [f"({res['seconds']:.1f} s)", ""] if "seconds" in res else []
    return "\n".join(lines)
