"""GPU benchmarks of issue 17, the goal rows side by side: the Fig-1 net alone (eager vs CUDA graphs), the paper
AlexNet (fused LRN, foreach SGD, cuDNN autotuning, compiled or not), a packed Fig-1 sweep (MPS vs time-slicing
vs several runs in one process), and the LRN layer alone. The Figure-1 study grid (the fourth goal) needs the
real CIFAR-10 and runs in stage 2 of bench/gpu.sh (bench/gpu_study.py), which adds its section to this report.

    python bench/gpu_bench.py --out $OUT/gpu_bench.md          # on the GPU (~5 minutes on an H200)
    python bench/gpu_bench.py --cpu --out /tmp/gpu_bench.md    # the same code paths, tiny, on CPU

Sections run in order; each is guarded (an error is printed and recorded, the rest still run) and skipped when
the time left before --deadline-s is less than it needs. Results go to FILE (markdown) and FILE with a .json
suffix. All data is synthetic and in memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's ablate, not an installed one

import gpu_sweep  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from common import REPO, Stat, machine_lines, time_fwd_bwd, today  # noqa: E402
from gpu_report import PEAK_BF16, TRAIN_FLOP_PER_IMAGE, render  # noqa: E402

from ablate.config import ModelConfig, OptimConfig  # noqa: E402
from ablate.engine import EpochMeter, StepContext, train_one_epoch  # noqa: E402
from ablate.models import build_model, lrn_fused  # noqa: E402
from ablate.models.lrn import TowerLRN  # noqa: E402
from ablate.optim import build_optimizer  # noqa: E402
from ablate.speed import use_fused_lrn  # noqa: E402

SIZES = {
    "gpu": {"images": 50_000, "fig1_batch": 128, "fig1_epochs": 6, "alex_batch": 256, "alex_iters": 20,
            "repeats": 5, "warmup": 3, "lrn_batch": 256, "lrn_iters": 20, "sweep_jobs": 16,
            "sweep_images": 20_000, "sweep_epochs": 5, "device": "cuda"},
    "cpu": {"images": 128, "fig1_batch": 64, "fig1_epochs": 2, "alex_batch": 1, "alex_iters": 1,
            "repeats": 2, "warmup": 1, "lrn_batch": 1, "lrn_iters": 1, "sweep_jobs": 2,
            "sweep_images": 128, "sweep_epochs": 2, "device": "cpu"},
}
# Fig-1 rows: trainer options on top of bf16 + channels_last (the foreach SGD step is the default in all).
FIG1_ROWS = {"eager": {}, "CUDA graphs": {"cuda_graphs": True},
             "CUDA graphs + cuDNN autotuning": {"cuda_graphs": True, "cudnn_benchmark": True}}
# AlexNet rows: (fused LRN, foreach SGD, cudnn.benchmark, torch.compile).
ALEX_ROWS = {"eager, TowerLRN, per-parameter SGD (the 2026-11-28 setup)": (False, False, False, False),
             "eager, fused LRN, foreach SGD, cuDNN autotuning": (True, True, True, False),
             "compiled, TowerLRN, foreach SGD, cuDNN autotuning": (False, True, True, True),
             "compiled, fused LRN, foreach SGD, cuDNN autotuning": (True, True, True, True)}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- Fig-1 net through the trainer, GPU-resident data --------------------------------------------------------
def fig1(s: dict, device: torch.device, tmp: Path) -> dict:
    """convnet4 trained by `Trainer.fit()` on synthetic uint8 CIFAR-shaped images held on the device, bf16
    autocast, channels_last; the trainer's own per-epoch images/s (epoch 1 is warm-up and capture)."""
    out = {"batch": s["fig1_batch"]}
    for label, options in FIG1_ROWS.items():
        if s["device"] == "cpu" and options.get("cudnn_benchmark"):
            continue  # the same CPU path as the row before
        trainer = gpu_sweep.fig1_trainer(s, device, tmp / f"fig1-{len(out)}", seed=0, **options)
        trainer.fit()
        rates = gpu_sweep.epoch_rates(Path(trainer.cfg.out_dir))
        out[label] = {"images_per_s": Stat(rates[1:]).to_dict(), "epoch1_images_per_s": rates[0],
                      "step": type(trainer.train_step).__name__}
        if hasattr(trainer.train_step, "replays"):
            step = trainer.train_step
            out[label].update(replays=step.replays, captures=step.captures, eager_steps=step.eager_steps)
    return out


# -- paper AlexNet on synthetic 224×224 input --------------------------------------------------------------
def time_steps(model, opt, ctx: StepContext, batch: tuple, s: dict) -> Stat:
    """images/s of engine training steps (`train_one_epoch` over `alex_iters` copies of one batch), per repeat."""
    meter = EpochMeter(ctx.device)
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=False)
    train_one_epoch(model, [batch] * s["warmup"], opt, scaler, meter, ctx)  # warm-up, compilation, autotuning
    sync(ctx.device)
    rates = []
    for _ in range(s["repeats"]):
        t0 = time.perf_counter()
        train_one_epoch(model, [batch] * s["alex_iters"], opt, scaler, meter, ctx)
        sync(ctx.device)
        rates.append(s["alex_iters"] * len(batch[1]) / (time.perf_counter() - t0))
    return Stat(rates)


def alexnet(s: dict, device: torch.device, backend: str) -> dict:
    """One row per ALEX_ROWS entry: a fresh model and optimizer, `time_steps` after warm-up (and compilation)."""
    from torch.utils.flop_counter import FlopCounterMode

    cfg = ModelConfig(**yaml.safe_load((REPO / "conf" / "model" / "alexnet.yaml").read_text()))
    b = s["alex_batch"]
    batch = (torch.randn(b, 3, 224, 224, device=device), torch.randint(0, 1000, (b,), device=device))
    ctx = StepContext(device, "bf16", channels_last=True)
    out: dict = {"batch": b}
    for label, (fused, foreach, autotune, compiled) in ALEX_ROWS.items():
        if s["device"] == "cpu" and compiled:
            continue  # minutes on a CPU; tests/test_lrn_fused.py and test_models.py check compiling the layers
        torch.manual_seed(0)
        model = build_model(cfg, 1000, 224).to(device, memory_format=torch.channels_last)
        if "counted_forward_gmac" not in out:
            with FlopCounterMode(display=False) as counter:
                model(torch.randn(1, 3, 224, 224, device=device))
            out["counted_forward_gmac"] = counter.get_total_flops() / 2 / 1e9
        if fused:
            use_fused_lrn(model, device)
        opt = build_optimizer(model, OptimConfig(lr=0.01, momentum=0.9, weight_decay=5e-4))
        opt.foreach = foreach
        torch.backends.cudnn.benchmark = autotune
        net = torch.compile(model, backend=backend) if compiled else model
        ips = time_steps(net, opt, ctx, batch, s)
        out[label] = {"images_per_s": ips.to_dict(), "mfu": ips.median * TRAIN_FLOP_PER_IMAGE / PEAK_BF16}
        del model, opt, net
        torch.backends.cudnn.benchmark = False
    return out


def lrn(s: dict, device: torch.device, backend: str) -> dict:
    """Forward + backward of the two-tower LRN alone at AlexNet's conv1 and conv2 output shapes, bf16 NHWC."""
    out = {}
    b = s["lrn_batch"]
    args = (5, 1e-4 / 5, 0.75, 2.0, 2)
    for where, shape in (("conv1 (96×55×55)", (b, 96, 55, 55)), ("conv2 (256×27×27)", (b, 256, 27, 27))):
        layer = TowerLRN(5, 1e-4, 0.75, 2.0, towers=2).to(device)
        x = torch.randn(shape, device=device, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last)
        x.requires_grad_(True)
        grad = torch.randn_like(x)
        res = {}
        for label, fn in (("TowerLRN eager", layer), ("TowerLRN compiled", torch.compile(layer, backend=backend)),
                          ("fused (Triton)", lambda t: lrn_fused.fused_lrn(t, *args))):
            ms = time_fwd_bwd(fn, x, grad, s["repeats"], s["lrn_iters"], s["warmup"])
            res[label] = {"ms": ms.to_dict()}
        res["bytes_min"] = 5 * x.numel() * x.element_size()  # read x, write y; read x and g, write dx
        out[where] = res
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="tiny sizes on the CPU (checks the script end to end)")
    parser.add_argument("--out", type=Path, default=Path(f"reports/bench/{today()}-gpu.md"))
    parser.add_argument("--deadline-s", type=float, default=300.0, help="skip sections that would end after this")
    parser.add_argument("--backend", help="torch.compile backend (default: inductor; aot_eager with --cpu)")
    parser.add_argument("--only", nargs="*", help="run only these sections")
    args = parser.parse_args()
    args.backend = args.backend or ("aot_eager" if args.cpu else "inductor")
    s = SIZES["cpu" if args.cpu else "gpu"]
    device = torch.device(s["device"])
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_bench: no CUDA device; run with --cpu to check the script on the CPU")
    t0 = time.perf_counter()
    results = {"date": today(), "mode": "cpu" if args.cpu else "gpu", "sizes": s, "backend": args.backend,
               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
               "machine": machine_lines(torch.get_num_threads()), "sections": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # (name, seconds it needs on the H200, what runs); the estimates include compilation and start-up.
        sections = [("fig1", 40, lambda: fig1(s, device, tmp)),
                    ("alexnet", 150, lambda: alexnet(s, device, args.backend)),
                    ("packed", 120, lambda: gpu_sweep.packed(s, device, tmp)),
                    ("lrn", 40, lambda: lrn(s, device, args.backend))]
        for name, need, fn in sections:
            if args.only and name not in args.only:
                continue
            left = args.deadline_s - (time.perf_counter() - t0)
            if not args.cpu and left < need:
                results["sections"][name] = {"skipped": f"{left:.0f} s left before --deadline-s, needs ~{need} s"}
                continue
            start = time.perf_counter()
            print(f"[gpu_bench] {name} ...", flush=True)
            try:
                results["sections"][name] = {**fn(), "seconds": time.perf_counter() - start}
            except Exception as err:
                traceback.print_exc()
                results["sections"][name] = {"error": f"{type(err).__name__}: {err}"}
            print(f"[gpu_bench] {name} done in {time.perf_counter() - start:.1f} s", flush=True)
            write(results, args.out, t0)  # after every section: a run killed later keeps what it measured
    write(results, args.out, t0)
    print(args.out.read_text())
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")


def write(results: dict, out: Path, t0: float) -> None:
    results["total_s"] = time.perf_counter() - t0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    out.write_text(render(results))


if __name__ == "__main__":
    main()
