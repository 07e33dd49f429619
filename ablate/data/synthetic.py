"""Synthetic data: learnable, deterministic, no files. `synthetic` (CIFAR-shaped) for fast tests and smoke runs;
`synthetic_imagenet` (ablate/data/imagenet.py) for compute benchmarks.

Each class has a fixed random low-frequency colour pattern; an image is its class pattern, randomly scaled in
contrast and covered with noise. Linear models get part of the way, conv nets learn it well. Runs record their
data's identity, so the pixels a seed gives never change (tests/test_pins.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ablate.data import DATASETS, ArrayDataset

_DEFAULT_TRAIN = 5000
_TEST_FRACTION = 5  # test split size = train size / 5


def class_images(n: int, num_classes: int, size: int, seed: int, mode: str = "bicubic",
                 chunk: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """n uint8 NHWC size×size images and their labels: each class's 4×4 random colour pattern upsampled (`mode`),
    contrast jitter and noise, made `chunk` images at a time (bounded memory for 256×256 frames; None: all at once).
    The random draws per chunk are in a fixed order, so a seed's pixels depend on the chunk size."""
    gen = torch.Generator().manual_seed(seed)
    templates = torch.rand(num_classes, 3, 4, 4, generator=torch.Generator().manual_seed(1234))
    labels = (torch.arange(n) % num_classes)[torch.randperm(n, generator=gen)]
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    chunk = chunk or max(n, 1)
    for start in range(0, n, chunk):
        lab = labels[start:start + chunk]
        base = F.interpolate(templates[lab], size=(size, size), mode=mode, align_corners=False)
        contrast = 0.5 + torch.rand(len(lab), 1, 1, 1, generator=gen)
        img = (0.5 + contrast * (base - 0.5) + 0.25 * torch.randn(base.shape, generator=gen)).clamp(0, 1)
        out[start:start + len(lab)] = (img * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out, labels.numpy()


@DATASETS.register("synthetic", summary="CIFAR-shaped class patterns with noise, generated (no files)",
                   source="ours", frame=(32, None))
def synthetic(cfg, num_classes: int = 10, size: int = 32) -> ArrayDataset:
    n_train = cfg.subset or _DEFAULT_TRAIN
    n_test = cfg.test_subset or max(num_classes, n_train // _TEST_FRACTION)
    train_x, train_y = class_images(n_train, num_classes, size, seed=1)
    test_x, test_y = class_images(n_test, num_classes, size, seed=2)
    classes = tuple(f"class{i}" for i in range(num_classes))
    return ArrayDataset(train_x, train_y, test_x, test_y, classes, source="synthetic")
