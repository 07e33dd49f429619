"""Per-layer output scale of a composed net at initialisation, on the paper's input scale.

Why: §5's init is a fixed N(0, 0.01²), so a net with fewer kernels (model.width < 1) starts with smaller
activations in every layer whose fan-in shrank; `model.layer_init_scale` can restore them. This prints, for each
config given, the std over a batch of each weighted layer's output (before its activation), so two configs can
be checked to start at the same scale (sweeps/towers_cpu_scaled.yaml).

    python bench/init_scale.py "+experiment=cifar10_alexnet model.towers=2 model.width=1" \
        "+experiment=cifar10_alexnet model.towers=2 model.width=0.25 +model.layer_init_scale.conv2=2"

Input: centered raw RGB (0-255 minus the batch's mean image) of real CIFAR-10 training images from --data
(a cifar10 ImageFolder tree), or Gaussian pixels of std 64 (about CIFAR-10's) where no tree is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

from ablate.cli import CONF_DIR, register, to_config
from ablate.models import build_model


def batch(data: Path | None, n: int, seed: int) -> torch.Tensor:
    """n images, N×3×32×32, centered on their mean image, 0-255 scale."""
    if data is None:
        return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 64.0
    files = sorted((data / "train").glob("*/*.png"))
    if not files:
        raise SystemExit(f"no train/<class>/*.png under {data}: pass --data a CIFAR-10 ImageFolder tree")
    pick = np.random.default_rng(seed).choice(len(files), size=min(n, len(files)), replace=False)
    x = np.stack([np.asarray(Image.open(files[i]).convert("RGB"), dtype=np.float32) for i in pick])
    x = torch.from_numpy(x).permute(0, 3, 1, 2)
    return x - x.mean(dim=0, keepdim=True)


@torch.no_grad()
def layer_stds(overrides: list[str], x: torch.Tensor, seed: int) -> dict[str, float]:
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = to_config(compose("train", overrides=overrides), out_dir="init_scale")
    torch.manual_seed(seed)
    model = build_model(cfg.model, num_classes=10, image_size=x.shape[-1]).eval()
    out: dict[str, float] = {}
    hooks = [w.layer.register_forward_hook(lambda m, i, o, name=w.name: out.__setitem__(name, o.std().item()))
             for w in model.weighted_layers()]
    model(x)
    for h in hooks:
        h.remove()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("configs", nargs="+", help="one quoted string of Hydra overrides per net")
    p.add_argument("--data", type=Path, help="CIFAR-10 ImageFolder root (train/<class>/*.png)")
    p.add_argument("--n", type=int, default=256, help="images in the batch")
    p.add_argument("--seed", type=int, default=0, help="seed of the init draw and of the image pick")
    args = p.parse_args()
    register()
    torch.set_num_threads(1)
    x = batch(args.data, args.n, args.seed)
    for overrides in args.configs:
        stds = layer_stds(overrides.split(), x, args.seed)
        print(f"{overrides}\n  " + "  ".join(f"{k} {v:.3g}" for k, v in stds.items()))


if __name__ == "__main__":
    main()
