"""The in-memory batch source: uint8 images on the training device, batched augmentation, no per-sample Python.

With the device set to cuda the whole uint8 data set lives on the GPU (the airbench idea); on CPU the same code
runs on CPU tensors. Every random draw is a function of (seed, epoch, rank, batch index) — the epoch's order
from (seed, epoch), a batch's crops/flips/lighting from its own generator — so `set_epoch(e, start_batch=k)`
resumes an interrupted epoch exactly.

Sharding (world_size > 1): every rank computes the same epoch order and takes every world_size-th entry. For
training the order is first padded by wrapping around to a multiple of world_size (as torch's
DistributedSampler does), so every rank does the same number of steps; up to world_size-1 images are then seen
twice in that epoch. Evaluation splits are not padded: the shards are disjoint and cover the split exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ablate.data.augment import Augment, Geometry, Params, centre_params, crop_flip
from ablate.data.normalize import InputScale


def make_generator(*key: int) -> torch.Generator:
    """A torch generator seeded from a tuple of non-negative ints, well mixed (no seed*K+epoch collisions)."""
    state = np.random.SeedSequence([int(k) for k in key]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool, rank: int = 0, world_size: int = 1) -> np.ndarray:
    """The indices this rank visits in `epoch`, in order (see the module doc for padding and sharding)."""
    if not shuffle:
        return np.arange(rank, n, world_size)
    order = torch.randperm(n, generator=make_generator(seed, epoch)).numpy()
    return np.resize(order, -(-n // world_size) * world_size)[rank::world_size]  # resize repeats cyclically


class BatchSource:
    """What every batch source shares: steps per epoch, images per epoch, epoch/start-batch bookkeeping."""

    def __init__(self, n: int, batch_size: int, seed: int, train: bool, rank: int, world_size: int):
        self.n, self.batch_size, self.seed, self.train = n, batch_size, seed, train
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def order(self) -> np.ndarray:
        return epoch_order(self.n, self.seed, self.epoch, self.train, self.rank, self.world_size)

    @property
    def num_images(self) -> int:
        """Images this rank sees per epoch."""
        if self.train:
            return -(-self.n // self.world_size)
        return len(range(self.rank, self.n, self.world_size))

    def __len__(self) -> int:
        return -(-self.num_images // self.batch_size)


class TensorLoader(BatchSource):
    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, norm: InputScale,
                 geometry: Geometry, *, train: bool, augment: Augment | None = None, pca_std: float = 0.1,
                 crops: int = 1, seed: int = 0, rank: int = 0, world_size: int = 1):
        super().__init__(len(labels), batch_size, seed, train, rank, world_size)
        device = norm.device
        self.images = torch.from_numpy(np.ascontiguousarray(images)).to(device)  # uint8 N×H×W×C
        self.labels = torch.from_numpy(labels.astype(np.int64)).to(device)
        self.norm, self.geometry, self.augment, self.pca_std, self.crops = norm, geometry, augment, pca_std, crops

    def params(self, n: int, batch: int) -> Params:
        if self.train and self.augment is not None:
            gen = make_generator(self.seed, self.epoch, self.rank, batch)
            return self.augment.draw(n, self.geometry, gen, self.pca_std)
        return centre_params(n, self.geometry)

    def _ten_crops(self, frames: torch.Tensor, n: int) -> torch.Tensor:
        """Multi-crop testing: (B, 10, C, H, W)."""
        views = [crop_flip(frames, *(torch.full((n,), v) for v in (oy, ox)), torch.full((n,), flip), self.geometry)
                 for oy, ox, flip in self.geometry.ten_crops()]
        return torch.stack(views, 1)

    def _epoch_params(self) -> list[Params]:
        """Every remaining batch's draws, made on the host exactly as one batch at a time would (each batch has
        its own generator), then moved to the device in one copy per field: a blocking host-to-device copy per
        batch would wait for all queued GPU work at every step, so the host could never run ahead."""
        sizes = [min(self.batch_size, self.num_images - b * self.batch_size) for b in range(self.start_batch, len(self))]
        drawn = [self.params(n, b) for n, b in zip(sizes, range(self.start_batch, len(self)), strict=True)]
        if not drawn:
            return []
        dev = self.images.device
        fields = [torch.cat([getattr(p, f) for p in drawn]).to(dev) for f in ("oy", "ox", "flip")]
        alpha = torch.cat([p.alpha for p in drawn]).to(dev) if drawn[0].alpha is not None else None
        split = [t.split(sizes) for t in fields] + [alpha.split(sizes) if alpha is not None else [None] * len(sizes)]
        return [Params(*parts) for parts in zip(*split, strict=True)]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.from_numpy(self.order()).to(self.images.device)
        params = self._epoch_params() if self.crops != 10 else None
        for i, batch in enumerate(range(self.start_batch, len(self))):
            idx = order[batch * self.batch_size:(batch + 1) * self.batch_size]
            frames = self.images[idx]
            if params is None:
                x, alpha = self._ten_crops(frames, len(idx)), None
            else:
                p = params[i]
                x, alpha = crop_flip(frames, p.oy, p.ox, p.flip, self.geometry), p.alpha
            yield self.norm(x, alpha), self.labels[idx]
