"""Synthetic CIFAR-shaped data: learnable, deterministic, no files. For fast tests and smoke runs.

Each class has a fixed random low-frequency colour pattern; an image is its class pattern, randomly scaled in
contrast and covered with noise. Linear models get part of the way, conv nets learn it well.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ablate.data import DATASETS, ArrayDataset

_DEFAULT_TRAIN = 5000
_TEST_FRACTION = 5  # test split size = train size / 5


def make_images(n: int, num_classes: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    gen = torch.Generator().manual_seed(seed)
    templates = torch.rand(num_classes, 3, 4, 4, generator=torch.Generator().manual_seed(1234))
    templates = F.interpolate(templates, size=(size, size), mode="bicubic", align_corners=False)
    labels = torch.arange(n) % num_classes
    labels = labels[torch.randperm(n, generator=gen)]
    base = templates[labels]
    contrast = 0.5 + torch.rand(n, 1, 1, 1, generator=gen)
    noise = 0.25 * torch.randn(n, 3, size, size, generator=gen)
    images = (0.5 + contrast * (base - 0.5) + noise).clamp(0, 1)
    return (images * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy(), labels.numpy()


@DATASETS.register("synthetic", summary="CIFAR-shaped class patterns with noise, generated (no files)",
                   source="ours", frame=(32, None))
def synthetic(cfg, num_classes: int = 10, size: int = 32) -> ArrayDataset:
    n_train = cfg.subset or _DEFAULT_TRAIN
    n_test = cfg.test_subset or max(num_classes, n_train // _TEST_FRACTION)
    train_x, train_y = make_images(n_train, num_classes, size, seed=1)
    test_x, test_y = make_images(n_test, num_classes, size, seed=2)
    classes = tuple(f"class{i}" for i in range(num_classes))
    return ArrayDataset(train_x, train_y, test_x, test_y, classes, source="synthetic")
