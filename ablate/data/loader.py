"""The in-memory batch source: uint8 images on the training device, batched augmentation, no per-sample Python.

With the device set to cuda the whole uint8 data set lives on the GPU (the airbench idea); on CPU the same code
runs on CPU tensors. Shuffling uses a generator seeded from (seed, epoch), so an epoch's order is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch


class TensorLoader:
    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, mean, std,
                 device: torch.device, shuffle: bool, augment: Callable | None = None, seed: int = 0):
        self.images = torch.from_numpy(np.ascontiguousarray(images)).to(device)  # uint8 N×H×W×C
        self.labels = torch.from_numpy(labels.astype(np.int64)).to(device)
        self.batch_size = batch_size
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.device = device
        self.shuffle = shuffle
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    @property
    def num_images(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        n = len(self.labels)
        order = torch.randperm(n, generator=gen).to(self.device) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size] if order is not None else slice(start, start + self.batch_size)
            x = self.images[idx].permute(0, 3, 1, 2).float().div_(255)
            if self.augment is not None:
                x = self.augment(x, gen)
            yield (x - self.mean) / self.std, self.labels[idx]
