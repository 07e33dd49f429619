"""The in-memory batch source: uint8 images on the training device, batched augmentation, no per-sample Python.

With the device set to cuda the whole uint8 data set lives on the GPU (the airbench idea); on CPU the same code
runs on CPU tensors. Every random draw of a batch (the epoch's order, the batch's augmentation) is a function
of (seed, epoch, batch index), so an epoch can be restarted at any batch and yield exactly what an uninterrupted
epoch would (exact resume).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch


class TensorLoader:
    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, mean, std,
                 device: torch.device, shuffle: bool, augment: Callable | None = None, seed: int = 0,
                 rank: int = 0, world_size: int = 1):
        self.images = torch.from_numpy(np.ascontiguousarray(images)).to(device)  # uint8 N×H×W×C
        self.labels = torch.from_numpy(labels.astype(np.int64)).to(device)
        self.batch_size = batch_size  # per process
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.device = device
        self.shuffle = shuffle
        self.augment = augment
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def _indices(self) -> torch.Tensor:
        """This rank's share of the epoch's order.

        Rank r takes every world_size-th image of the order, so global batch k (all ranks' batch k together) is
        exactly the single-process batch k of the same order: DDP at a global batch size sees the same batches
        as one process. Training drops the last (n mod world_size) images so that all ranks take equal steps.
        """
        n = len(self.labels)
        if not self.shuffle:
            return torch.arange(n, device=self.device)[self.rank::self.world_size]
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(n, generator=gen)
        return order[:n - n % self.world_size][self.rank::self.world_size].to(self.device)

    def __len__(self) -> int:
        return -(-self.num_images // self.batch_size)

    @property
    def num_images(self) -> int:
        """Images this rank sees per epoch."""
        n = len(self.labels)
        if self.shuffle:
            return n // self.world_size
        return len(range(self.rank, n, self.world_size))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        idx_all = self._indices()
        for batch in range(self.start_batch, len(self)):
            idx = idx_all[batch * self.batch_size:(batch + 1) * self.batch_size]
            x = self.images[idx].permute(0, 3, 1, 2).float().div_(255)
            if self.augment is not None:
                gen = torch.Generator().manual_seed(((self.seed * 100_003 + self.epoch) * 1_000_003 + batch)
                                                    * 7 + self.rank)
                x = self.augment(x, gen)
            yield (x - self.mean) / self.std, self.labels[idx]
