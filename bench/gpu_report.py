"""Markdown for bench/gpu_bench.py's results: one section each, a skipped or failed one says why."""

from __future__ import annotations

from common import Stat, goal_line, table


def _stat(d: dict) -> Stat:
    return Stat(d["values"])


def _fig1(res: dict, goals: dict, title: str, images: int) -> list[str]:
    rows, best = [], 0.0
    for label, r in res.items():
        if not label.startswith("batch"):
            continue
        ips = _stat(r["images_per_s"])
        best = max(best, ips.median)
        rows.append([label, ips.fmt(0), f"{r['epoch1_images_per_s']:,.0f}"])
    return [f"## {title}", "",
            f"convnet4 through `Trainer.fit()`, {images:,} synthetic uint8 32×32 images resident on the device "
            "(TensorLoader: crop 32 with padding 4 and flip, normalise, all batched on the device), bf16 autocast, "
            "channels_last; the trainer's own images/s per epoch (epoch 1 is warm-up, the rest are the repeats).", "",
            *table(["batch", "images/s, median (min–max)", "epoch 1 (warm-up)"], rows), "",
            goal_line(f"Fig-1 net ≥ {goals['fig1']:,} images/s", best >= goals["fig1"],
                      f"best {best:,.0f} images/s ({best / goals['fig1']:.0%} of the goal)"), ""]


def _alexnet(res: dict, goals: dict, peak: float, flop: float, mac: float) -> list[str]:
    rows, best = [], 0.0
    for label, r in res.items():
        if isinstance(r, dict) and "images_per_s" in r:
            ips = _stat(r["images_per_s"])
            best = max(best, ips.median)
            rows.append([label, ips.fmt(0), f"{r['mfu']:.1%}"])
    return ["## Paper AlexNet (two towers, LRN, dropout), synthetic 224×224", "",
            f"Engine training steps (`train_one_epoch`: forward, loss, backward, ablate's SGD with momentum and weight "
            f"decay, EpochMeter), batch {res['batch']}, bf16 autocast, channels_last. MFU = images/s × 3 × "
            f"{mac / 1e9:.2f} GMAC × 2 FLOP / {peak / 1e12:.0f} TFLOP/s (a training step counted as three forward "
            f"passes, {flop / 1e9:.2f} GFLOP per image). torch.utils.flop_counter counts "
            f"{res['counted_forward_gmac']:.3f} GMAC for one forward pass of this model.", "",
            *table(["mode", "images/s, median (min–max)", "MFU"], rows), "",
            goal_line(f"AlexNet ≥ {goals['alexnet']:,} images/s", best >= goals["alexnet"],
                      f"best {best:,.0f} images/s ({best / goals['alexnet']:.0%} of the goal)"), ""]


def _lrn(res: dict, alex: dict | None) -> list[str]:
    rows = []
    for where, r in res.items():
        if isinstance(r, dict) and "eager" in r:
            rows.append([where, _stat(r["eager"]["ms"]).fmt(3), _stat(r["compiled"]["ms"]).fmt(3),
                         f"{r['speedup']:.2f}×"])
    lines = ["## LRN: eager vs compiled", "",
             "Forward + backward of the two-tower LRN layer alone (n=5, α=1e-4, β=0.75, k=2) at AlexNet's shapes, "
             "bf16 channels_last input under bf16 autocast (as inside the model), batch as in the AlexNet section.", "",
             *table(["where", "eager ms", "compiled ms", "speed-up"], rows), ""]
    if alex and "eager" in alex:
        step_ms = alex["batch"] / _stat(alex["eager"]["images_per_s"]).median * 1e3
        lrn_ms = sum(_stat(r["eager"]["ms"]).median for r in res.values() if isinstance(r, dict) and "eager" in r)
        lines += [f"Eager LRN (both layers) is {lrn_ms:.2f} ms of the {step_ms:.2f} ms eager AlexNet step "
                  f"({lrn_ms / step_ms:.0%}).", ""]
    return lines


def _sweep(res: dict) -> list[str]:
    return ["## Packed sweep", "",
            f"{res['runs']} runs of `{res['command']}` (seeds 0..{res['runs'] - 1}), whole processes: one after "
            "another, then all at once on the same device.", "",
            *table(["schedule", "wall s", "runs/hour", "per-run images/s (median)"],
                   [["one at a time", f"{res['sequential_s']:.1f}", f"{res['sequential_runs_per_hour']:,.0f}",
                     f"{res['run_images_per_s_sequential']:,.0f}"],
                    [f"{res['runs']} packed", f"{res['packed_s']:.1f}", f"{res['packed_runs_per_hour']:,.0f}",
                     f"{res['run_images_per_s_packed']:,.0f}"]]), "",
            f"Packing gives {res['speedup']:.2f}× the runs per hour.", ""]


TITLES = {"fig1": "Fig-1 net (convnet4), eager", "alexnet": "Paper AlexNet", "lrn": "LRN",
          "packed_sweep": "Packed sweep", "fig1_compiled": "Fig-1 net (convnet4), trainer.compile=true"}


def render_sections(results: dict, sizes: dict, goals: dict, peak: float, flop: float, mac: float) -> list[str]:
    sections = results["sections"]
    lines = [f"Total time {results['total_s']:.0f} s.", ""]
    for name, res in sections.items():
        if "skipped" in res or "error" in res:
            why = f"skipped: {res['skipped']}" if "skipped" in res else f"FAILED: `{res['error']}`"
            lines += [f"## {TITLES[name]}", "", why, ""]
        elif name in ("fig1", "fig1_compiled"):
            lines += _fig1(res, goals, TITLES[name], sizes["images"])
        elif name == "alexnet":
            lines += _alexnet(res, goals, peak, flop, mac)
        elif name == "lrn":
            alex = sections.get("alexnet")
            lines += _lrn(res, alex if alex and "batch" in alex else None)
        elif name == "packed_sweep":
            lines += _sweep(res)
        lines += [f"({res['seconds']:.1f} s)", ""] if "seconds" in res else []
    return lines
