"""The dataset registry and `build_data`: config → train/val/test batch sources.

A dataset entry returns an `ArrayDataset` (uint8 images in memory); `build_data` carves the subset and the
validation split and wraps each split in a batch source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ablate.data.augment import AUGMENTS
from ablate.data.loader import TensorLoader
from ablate.registry import Registry

DATASETS = Registry("data.name")

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass
class ArrayDataset:
    train_x: np.ndarray  # uint8, N×H×W×C
    train_y: np.ndarray  # int64 class indices
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple[str, ...]
    source: str = ""  # where the images came from, recorded in the run's summary

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass
class Loaders:
    train: TensorLoader
    val: TensorLoader
    test: TensorLoader | None  # None when validation runs on the test split (data.val_size=0)
    num_classes: int
    image_size: int
    info: dict = field(default_factory=dict)


def stratified_indices(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n indices, as equal per class as n allows, chosen reproducibly from `seed`; sorted."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    if n > len(labels):
        raise ValueError(f"asked for {n} images but the split has only {len(labels)}")
    share = np.full(len(classes), n // len(classes))
    share[: n % len(classes)] += 1
    picked = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, share, strict=True)]
    return np.sort(np.concatenate(picked))


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    x = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255
    return x.mean(0).tolist(), x.std(0).tolist()


def build_data(cfg, seed: int, device: torch.device, batch_size: int, eval_batch_size: int,
               rank: int = 0, world_size: int = 1) -> Loaders:
    ds: ArrayDataset = DATASETS.build(cfg.name, cfg)
    train_x, train_y, test_x, test_y = ds.train_x, ds.train_y, ds.test_x, ds.test_y
    if cfg.subset is not None:
        keep = stratified_indices(train_y, cfg.subset, seed)
        train_x, train_y = train_x[keep], train_y[keep]
    if cfg.test_subset is not None:
        keep = stratified_indices(test_y, cfg.test_subset, seed)
        test_x, test_y = test_x[keep], test_y[keep]
    val_x = val_y = None
    if cfg.val_size:
        val_idx = stratified_indices(train_y, cfg.val_size, seed + 1)
        rest = np.setdiff1d(np.arange(len(train_y)), val_idx)
        val_x, val_y, train_x, train_y = train_x[val_idx], train_y[val_idx], train_x[rest], train_y[rest]
    mean, std = channel_stats(train_x)
    aug = AUGMENTS.build(cfg.augment, mean=mean, std=std)

    def source(x, y, shuffle, bs, augment=None):
        return TensorLoader(x, y, bs, mean, std, device, shuffle=shuffle, augment=augment, seed=seed,
                            rank=rank, world_size=world_size)

    train = source(train_x, train_y, True, batch_size, aug)
    test = source(test_x, test_y, False, eval_batch_size)
    val = source(val_x, val_y, False, eval_batch_size) if val_x is not None else test
    info = {"source": ds.source, "train_images": len(train_y), "val_images": len(val.labels),
            "test_images": len(test_y), "mean": mean, "std": std}
    return Loaders(train, val, None if val is test else test, ds.num_classes, train_x.shape[1], info)


# Registering the built-in data sets (import for the side effect).
from ablate.data import mini, synthetic  # noqa: E402,F401
