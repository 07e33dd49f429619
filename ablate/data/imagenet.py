"""`data=imagenet` (ILSVRC-2012, file-backed) and `data=synthetic_imagenet` (same shapes, no files).

ImageNet layout (the common prepared one): `root/train/<wnid>/*.JPEG` and `root/val/<wnid>/*.JPEG`. The class
index is the sorted wnid order of `train/` (the standard 0–999 with all 1000 folders; any subset works). The
paper's pipeline (§2): shorter side to 256, central 256×256 crop — that is the stored `frame`; the model sees
224×224 crops of it (random for training with data.augment=crop_flip*, the centre or 10 crops for testing).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ablate.data import DATASETS, FRAMES, ArrayDataset
from ablate.data.augment import IMAGENET_EIGVAL, IMAGENET_EIGVEC
from ablate.data.files import IMAGE_SUFFIXES, list_image_folder
from ablate.registry import ConfigError

FRAME, SIZE = 256, 224
FRAMES["imagenet"] = FRAMES["synthetic_imagenet"] = (FRAME, 0)
# The usual ImageNet channel statistics (torchvision's), and the published lighting eigen-decomposition.
IMAGENET_STATS = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                  "eigval": list(IMAGENET_EIGVAL), "eigvec": [list(r) for r in IMAGENET_EIGVEC]}


def layout_help(root: Path) -> str:
    return (f"ImageNet not found at data.root={root}. Expected the prepared ILSVRC-2012 layout "
            f"{root}/train/<wnid>/*.JPEG and {root}/val/<wnid>/*.JPEG (the validation images sorted into "
            "one folder per wnid, e.g. with the widely used valprep.sh). ImageNet cannot be downloaded "
            "automatically: get it from https://image-net.org and point data.root at it.")


def _check_layout(root: Path) -> None:
    if not (root / "train").is_dir() or not (root / "val").is_dir():
        raise ConfigError(layout_help(root))
    with os.scandir(root / "val") as entries:
        flat = any(e.is_file() and Path(e.name).suffix.lower() in IMAGE_SUFFIXES for e in entries)
    if flat:
        raise ConfigError(f"{root}/val holds images directly; sort them into {root}/val/<wnid>/ folders "
                          f"(e.g. with valprep.sh). {layout_help(root)}")


@DATASETS.register("imagenet")
def imagenet(cfg) -> ArrayDataset:
    root = Path(cfg.root).expanduser()
    _check_layout(root)
    train_paths, train_y, classes = list_image_folder(root / "train")
    val_paths, val_y, _ = list_image_folder(root / "val", classes)
    return ArrayDataset(train_paths, train_y, val_paths, val_y, classes,
                        source=f"ImageNet ImageFolder at {root} ({len(classes)} classes)",
                        frame=FRAME, size=SIZE, pad=0, stats=IMAGENET_STATS)


def synthetic_frames(n: int, num_classes: int, seed: int, chunk: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """n 256×256 images: a per-class smooth colour pattern, contrast jitter and noise (generated in chunks)."""
    gen = torch.Generator().manual_seed(seed)
    templates = torch.rand(num_classes, 3, 4, 4, generator=torch.Generator().manual_seed(1234))
    labels = (torch.arange(n) % num_classes)[torch.randperm(n, generator=gen)]
    out = np.empty((n, FRAME, FRAME, 3), dtype=np.uint8)
    for start in range(0, n, chunk):
        lab = labels[start:start + chunk]
        base = F.interpolate(templates[lab], size=(FRAME, FRAME), mode="bilinear", align_corners=False)
        contrast = 0.5 + torch.rand(len(lab), 1, 1, 1, generator=gen)
        img = (0.5 + contrast * (base - 0.5) + 0.25 * torch.randn(base.shape, generator=gen)).clamp(0, 1)
        out[start:start + len(lab)] = (img * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out, labels.numpy()


@DATASETS.register("synthetic_imagenet")
def synthetic_imagenet(cfg, num_classes: int = 1000) -> ArrayDataset:
    """For compute benchmarks without I/O: ImageNet-shaped frames in memory (data.subset sets the size)."""
    n_train, n_test = cfg.subset or 1280, cfg.test_subset or 500
    train_x, train_y = synthetic_frames(n_train, num_classes, seed=1)
    test_x, test_y = synthetic_frames(n_test, num_classes, seed=2)
    return ArrayDataset(train_x, train_y, test_x, test_y, tuple(f"class{i}" for i in range(num_classes)),
                        source="synthetic ImageNet-shaped frames", size=SIZE, pad=0, stats=IMAGENET_STATS)
