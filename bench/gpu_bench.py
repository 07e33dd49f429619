"""GPU benchmarks of issue 8: Fig-1 net and paper AlexNet images/s, MFU, LRN cost, packed sweep.

    python bench/gpu_bench.py --out reports/bench/DATE-gpu-h200.md      # on the GPU (~4 minutes on an H200)
    python bench/gpu_bench.py --cpu --out /tmp/gpu_bench.md            # the same code paths, tiny, on CPU

Sections run in order of importance; each is guarded (an error is printed and recorded, the rest still run)
and skipped when the time left before --deadline-s is less than it needs. Results go to FILE (markdown) and
FILE with a .json suffix. All data is synthetic and in memory, so no files are needed.
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
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from common import REPO, Stat, machine_lines, time_fwd_bwd, today  # noqa: E402

from ablate.config import Config, DataConfig, ModelConfig, OptimConfig, TrainerConfig  # noqa: E402
from ablate.data.augment import AUGMENTS, Geometry, Normalizer  # noqa: E402
from ablate.data.loader import TensorLoader  # noqa: E402
from ablate.dist import DistEnv  # noqa: E402
from ablate.engine import EpochMeter, StepContext, train_one_epoch  # noqa: E402
from ablate.models import build_model  # noqa: E402
from ablate.models.layers import TowerLRN  # noqa: E402
from ablate.optim import build_optimizer  # noqa: E402
from ablate.trainer import Trainer  # noqa: E402

PEAK_BF16 = 790e12  # H200 dense bf16 tensor-core peak, FLOP/s
ALEXNET_MAC = 0.72e9  # multiply-accumulates of one 224×224 forward pass of the two-tower net
TRAIN_FLOP_PER_IMAGE = 3 * ALEXNET_MAC * 2  # forward + backward ≈ 3 forwards; 2 FLOP per MAC
GOALS = {"fig1": 250_000, "alexnet": 60_000}  # images/s

SIZES = {
    "gpu": {"images": 50_000, "fig1_batches": [128, 512], "fig1_epochs": 6, "alex_batch": 256, "alex_iters": 30,
            "repeats": 5, "warmup": 3, "lrn_batch": 256, "lrn_iters": 50, "sweep_runs": 4, "sweep_images": 10_000,
            "sweep_epochs": 5, "device": "cuda"},
    "cpu": {"images": 128, "fig1_batches": [64], "fig1_epochs": 2, "alex_batch": 1, "alex_iters": 1,
            "repeats": 2, "warmup": 1, "lrn_batch": 1, "lrn_iters": 1, "sweep_runs": 2, "sweep_images": 256,
            "sweep_epochs": 1, "device": "cpu"},
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_config(name: str) -> ModelConfig:
    """The model exactly as conf/model/<name>.yaml defines it (the values the CLI would use)."""
    return ModelConfig(**yaml.safe_load((REPO / "conf" / "model" / f"{name}.yaml").read_text()))


# -- Fig-1 net through the trainer, GPU-resident data --------------------------------------------------------
def fig1(s: dict, device: torch.device, tmp: Path, compile_model: bool) -> dict:
    """convnet4 trained by `Trainer.fit()` on 50k synthetic uint8 CIFAR-shaped images held on the device
    (TensorLoader: batched crop/flip/normalise there), bf16 autocast, channels_last. The trainer's own
    per-epoch images/s (epoch time ends with a device sync); epoch 1 is warm-up."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (s["images"], 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, s["images"]).astype(np.int64)
    norm = Normalizer([0.49, 0.48, 0.45], [0.25, 0.24, 0.26], [0.2, 0.02, 0.005], np.eye(3).tolist(), device)
    geo = Geometry(32, 32, 4)
    out = {}
    for batch in s["fig1_batches"]:
        cfg = Config(name="bench", out_dir=str(tmp / f"fig1-{batch}-{compile_model}"), model=model_config("convnet4"),
                     data=DataConfig(name="synthetic", subset=batch, test_subset=10, augment="crop_flip"),
                     trainer=TrainerConfig(epochs=s["fig1_epochs"], batch_size=batch, eval_batch_size=1024,
                                           device=str(device), precision="bf16", channels_last=True,
                                           compile=compile_model, progress="none"))
        trainer = Trainer(cfg, DistEnv(), device)
        trainer.data.train = TensorLoader(images, labels, batch, norm, geo, train=True,
                                          augment=AUGMENTS.build("crop_flip"))
        trainer.data.val = TensorLoader(images[:1024], labels[:1024], 1024, norm, geo, train=False)
        trainer.data.test = None
        trainer.fit()
        rates = gpu_sweep.epoch_rates(Path(cfg.out_dir))
        out[f"batch {batch}"] = {"images_per_s": Stat(rates[1:]).to_dict(), "epoch1_images_per_s": rates[0]}
    return out


# -- paper AlexNet on synthetic 224×224 input --------------------------------------------------------------
def time_steps(model, opt, ctx: StepContext, batch: tuple, iters: int, repeats: int, warmup: int) -> Stat:
    """images/s of engine training steps (`train_one_epoch` over `iters` copies of one batch), per repeat."""
    meter = EpochMeter(ctx.device)
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=False)
    train_one_epoch(model, [batch] * warmup, opt, scaler, meter, ctx)  # warm-up (and compilation)
    sync(ctx.device)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        train_one_epoch(model, [batch] * iters, opt, scaler, meter, ctx)
        sync(ctx.device)
        rates.append(iters * len(batch[1]) / (time.perf_counter() - t0))
    return Stat(rates)


def alexnet(s: dict, device: torch.device, backend: str) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    cfg = model_config("alexnet")
    model = build_model(cfg, 1000, 224).to(device, memory_format=torch.channels_last)
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, 224, 224, device=device))
    opt = build_optimizer(model, OptimConfig(lr=0.01, momentum=0.9, weight_decay=5e-4))
    ctx = StepContext(device, "bf16", channels_last=True)
    b = s["alex_batch"]
    batch = (torch.randn(b, 3, 224, 224, device=device), torch.randint(0, 1000, (b,), device=device))
    out = {"counted_forward_gmac": counter.get_total_flops() / 2 / 1e9, "batch": b}
    for label, net in (("eager", model), (f"torch.compile ({backend})", torch.compile(model, backend=backend))):
        ips = time_steps(net, opt, ctx, batch, s["alex_iters"], s["repeats"], s["warmup"])
        out[label] = {"images_per_s": ips.to_dict(), "mfu": ips.median * TRAIN_FLOP_PER_IMAGE / PEAK_BF16}
    return out


def lrn(s: dict, device: torch.device, backend: str) -> dict:
    """Forward + backward of the two-tower LRN alone at AlexNet's conv1 and conv2 output shapes: bf16 NHWC
    input under bf16 autocast, as inside the model (autocast picks each op's dtype, as it does there)."""
    out = {}
    b = s["lrn_batch"]
    for where, shape in (("conv1 (96×55×55)", (b, 96, 55, 55)), ("conv2 (256×27×27)", (b, 256, 27, 27))):
        layer = TowerLRN(5, 1e-4, 0.75, 2.0, towers=2).to(device)
        x = torch.randn(shape, device=device, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last)
        x.requires_grad_(True)
        grad = torch.randn_like(x)
        res = {}
        for label, fn in (("eager", layer), ("compiled", torch.compile(layer, backend=backend))):
            ms = time_fwd_bwd(fn, x, grad, s["repeats"], s["lrn_iters"], s["warmup"], torch.bfloat16)
            res[label] = {"ms": ms.to_dict()}
        res["speedup"] = res["eager"]["ms"]["median"] / res["compiled"]["ms"]["median"]
        out[where] = res
    return out


# -- report ------------------------------------------------------------------------------------------------
def render(results: dict, s: dict, args) -> str:
    from gpu_report import render_sections

    return "\n".join([f"# GPU benchmarks, {today()}, {results['device_name']}", "",
                      *machine_lines(torch.get_num_threads()),
                      f"- Mode: {'--cpu (tiny sizes on the CPU: a check of the script, not a measurement)' if args.cpu else 'GPU'}"
                      f"; torch.compile backend `{args.backend}`", "",
                      *render_sections(results, s, GOALS, PEAK_BF16, TRAIN_FLOP_PER_IMAGE, ALEXNET_MAC), ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="tiny sizes on the CPU (checks the script end to end)")
    parser.add_argument("--out", type=Path, default=Path(f"reports/bench/{today()}-gpu.md"))
    parser.add_argument("--deadline-s", type=float, default=230.0, help="skip sections that would end after this")
    parser.add_argument("--backend", help="torch.compile backend (default: inductor; aot_eager with --cpu)")
    args = parser.parse_args()
    args.backend = args.backend or ("aot_eager" if args.cpu else "inductor")
    s = SIZES["cpu" if args.cpu else "gpu"]
    device = torch.device(s["device"])
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_bench: no CUDA device; run with --cpu to check the script on the CPU")
    t0 = time.perf_counter()
    results = {"date": today(), "mode": "cpu" if args.cpu else "gpu", "sizes": s, "backend": args.backend,
               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
               "sections": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # (name, seconds it needs on the H200, what runs); the estimates include compilation.
        sections = [("fig1", 30, lambda: fig1(s, device, tmp, False)),
                    ("alexnet", 70, lambda: alexnet(s, device, args.backend)),
                    ("lrn", 25, lambda: lrn(s, device, args.backend)),
                    ("packed_sweep", 70, lambda: gpu_sweep.packed_sweep(s, tmp)),
                    ("fig1_compiled", 45, lambda: fig1(s, device, tmp, True))]
        for name, need, fn in sections:
            left = args.deadline_s - (time.perf_counter() - t0)
            if args.cpu and name == "fig1_compiled":  # inductor on a CPU compiles for minutes; GPU only
                results["sections"][name] = {"skipped": "GPU only (fig1 with trainer.compile=true)"}
                continue
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
    results["total_s"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results, s, args))
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    print(args.out.read_text())
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
