"""Image files: ImageFolder listing, robust decoding to RGB, and the DataLoader batch source.

The DataLoader path is for sets too big for memory (ImageNet), and for any set with `data.loader=dataloader`.
Workers decode and crop (PIL); uint8 crops travel to the device (pinned memory on cuda), where the shared
input scale (`data.normalize`) adds lighting noise and normalises, exactly as on the tensor path.

The sampler yields `(index, epoch)` keys and a worker seeds each sample's augmentation from (seed, epoch,
index), so the per-epoch order is exact from any `start_batch` and the augmentation is reproducible too,
whatever the number of workers.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from ablate.data.augment import Augment, Geometry, centre_params, pil_crop_flip
from ablate.data.loader import BatchSource, make_generator
from ablate.data.normalize import InputScale
from ablate.registry import ConfigError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


class BadImageError(ConfigError):
    """An image file that cannot be decoded; the message names the file and the way out."""


def list_image_folder(split_dir: Path, classes: tuple[str, ...] | None = None, allow_missing: bool = False):
    """`split_dir/<class>/<image>` → (paths, labels, classes), file names sorted within each class.

    With `classes` given the labels follow that order (folders outside it are an error); otherwise the sorted
    folder names are the classes. A class without a folder or without images is an error (a split silently
    missing a class would train or test on fewer classes) unless `allow_missing` (data.allow_missing_classes).
    """
    folders = sorted(e.name for e in os.scandir(split_dir) if e.is_dir())
    if classes is None:
        classes = tuple(folders)
    extra = sorted(set(folders) - set(classes))
    if extra:
        raise ConfigError(f"{split_dir} has class folders {extra[:5]} that are not among the {len(classes)} "
                          f"expected classes ({', '.join(classes[:10])}{', ...' if len(classes) > 10 else ''})")
    paths, labels = [], []
    for label, name in enumerate(classes):
        if name not in folders:
            continue
        folder = os.path.join(split_dir, name)
        files = sorted(e.name for e in os.scandir(folder)
                       if os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES and e.is_file())
        paths += [os.path.join(folder, f) for f in files]
        labels += [label] * len(files)
    absent = [c for i, c in enumerate(classes) if i not in set(labels)]
    if absent and not allow_missing and paths:
        raise ConfigError(f"{split_dir} has no images for {len(absent)} of its {len(classes)} classes "
                          f"({', '.join(absent[:10])}{', ...' if len(absent) > 10 else ''}): a missing or empty "
                          "class folder. Fix the data, or set data.allow_missing_classes=true to train and test "
                          "on what is there (the run's summary then lists the absent classes)")
    if not paths:
        raise ConfigError(f"no images (*.png, *.jpg, *.jpeg) under {split_dir}/<class>/")
    # Fixed-width bytes, not str (4 bytes a character) or objects (refcounts defeat fork's copy-on-write).
    return np.array([os.fsencode(p) for p in paths]), np.array(labels, dtype=np.int64), classes


def load_rgb(path: str, short_side: int | None = None) -> Image.Image:
    """Decode any PIL-readable image to RGB (grayscale, CMYK, palette...); with `short_side`, the paper's
    preprocessing: shorter side to `short_side`, then the central square. Raises BadImageError naming the file.
    """
    try:
        with Image.open(path) as img:
            if short_side and img.format == "JPEG":
                w, h = img.size
                # Let libjpeg decode at a reduced scale that still leaves the shorter side >= short_side.
                img.draft("RGB", (w * short_side // min(w, h), h * short_side // min(w, h)))
            img = img.convert("RGB")
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError... for broken files
        raise BadImageError(f"cannot read image {path} ({type(err).__name__}: {err}); fix or delete it, "
                            "or set data.skip_bad=true to skip unreadable images") from None
    if short_side:
        w, h = img.size
        scale = short_side / min(w, h)
        img = img.resize((max(short_side, round(w * scale)), max(short_side, round(h * scale))),
                         Image.Resampling.BILINEAR)
        left, top = (img.width - short_side) // 2, (img.height - short_side) // 2
        img = img.crop((left, top, left + short_side, top + short_side))
    return img


class SampleDataset(Dataset):
    """One sample per key `(index, epoch)`: a uint8 CHW crop (or (10, C, H, W) crops), its lighting α, label."""

    def __init__(self, items: np.ndarray, labels: np.ndarray, geometry: Geometry, *, train: bool,
                 augment: Augment | None, pca_std: float, crops: int, seed: int, skip_bad: bool):
        self.items, self.labels, self.geometry = items, labels, geometry
        self.train, self.augment, self.pca_std, self.crops = train, augment, pca_std, crops
        self.seed, self.skip_bad = seed, skip_bad
        self.files = items.dtype.kind == "S"  # file paths, else in-memory uint8 images

    def __len__(self) -> int:
        return len(self.labels)

    def image(self, i: int) -> Image.Image:
        if self.files:
            return load_rgb(os.fsdecode(self.items[i]), self.geometry.frame)
        return Image.fromarray(self.items[i])

    def __getitem__(self, key: tuple[int, int]):
        i, epoch = key
        try:
            img = self.image(i)
        except BadImageError:
            if not self.skip_bad:
                raise
            return None, None, int(self.labels[i]), os.fsdecode(self.items[i])
        if self.crops == 10:
            views = [pil_crop_flip(img, oy, ox, flip, self.geometry) for oy, ox, flip in self.geometry.ten_crops()]
            return torch.stack(views), None, int(self.labels[i]), ""
        if self.train and self.augment is not None:
            p = self.augment.draw(1, self.geometry, make_generator(self.seed, epoch, i), self.pca_std)
        else:
            p = centre_params(1, self.geometry)
        x = pil_crop_flip(img, int(p.oy[0]), int(p.ox[0]), bool(p.flip[0]), self.geometry)
        return x, None if p.alpha is None else p.alpha[0], int(self.labels[i]), ""


def collate(samples):
    """Stack the readable samples; report the unreadable ones (data.skip_bad) by path."""
    good = [s for s in samples if s[0] is not None]
    bad = [s[3] for s in samples if s[0] is None]
    if not good:
        return None, None, None, bad
    x = torch.stack([s[0] for s in good])
    alpha = torch.stack([s[1] for s in good]) if good[0][1] is not None else None
    return x, alpha, torch.tensor([s[2] for s in good], dtype=torch.int64), bad


class _EpochSampler(Sampler):
    def __init__(self, source: FileLoader):
        self.source = source

    def __iter__(self) -> Iterator[tuple[int, int]]:
        src = self.source
        for i in src.order()[src.start_batch * src.batch_size:]:
            yield int(i), src.epoch

    def __len__(self) -> int:
        return max(0, self.source.num_images - self.source.start_batch * self.source.batch_size)


class FileLoader(BatchSource):
    def __init__(self, dataset: SampleDataset, batch_size: int, norm: InputScale, *, workers: int,
                 seed: int = 0, rank: int = 0, world_size: int = 1):
        super().__init__(len(dataset), batch_size, seed, dataset.train, rank, world_size)
        self.norm = norm
        self.skipped: set[str] = set()  # unreadable files met so far (data.skip_bad=true)
        self.loader = DataLoader(dataset, batch_size=batch_size, sampler=_EpochSampler(self), collate_fn=collate,
                                 num_workers=workers, pin_memory=norm.device.type == "cuda",
                                 persistent_workers=workers > 0, prefetch_factor=4 if workers else None)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, alpha, y, bad in self.loader:
            for path in set(bad) - self.skipped:
                warnings.warn(f"skipped unreadable image {path} (data.skip_bad=true)", stacklevel=2)
                self.skipped.add(path)
            if y is None:
                continue
            yield self.norm(x, alpha), y.to(self.norm.device, non_blocking=True)
