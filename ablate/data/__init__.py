"""The data set registry and `build_data`: config → train/val/test batch sources.

A data set's spec declares its frame (ablate/registry.py); its builder returns an `ArrayDataset`: uint8 images
in memory (CIFAR-10, synthetic sets) or image file paths (ImageNet), with labels and the crop geometry.
`build_data` carves the subset and the validation split, takes this rank's shard, and wraps each split in a batch
source: the GPU-resident `TensorLoader` for in-memory sets, a `FileLoader` (torch DataLoader with workers) for
files. Both hand uint8 crops to the same input scale
(`data.normalize`, ablate/data/normalize.py). See docs/data.md.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ablate.data.augment import AUGMENTS, Geometry
from ablate.data.loader import BatchSource, TensorLoader
from ablate.data.normalize import input_scale, pixel_stats
from ablate.registry import ConfigError, Registry

# Builders take the data section. Each spec declares `frame`: the stored frame side and the fixed padding (None:
# data.crop_padding), known before any data is read, so that a data.crop_size that cannot fit fails at validation.
DATASETS = Registry("data.name", requires=("frame",))

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass
class ArrayDataset:
    train_x: np.ndarray  # uint8 N×H×W×C images, or file paths (bytes) for file-backed sets
    train_y: np.ndarray  # int64 class indices
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple[str, ...]
    source: str = ""  # where the images came from, recorded in the run's summary
    size: int = 0  # crop side fed to the model, pixels; 0 = the stored side
    frame: int = 0  # stored image side (files are resized/cropped to it); 0 = the arrays' side
    pad: int | None = None  # zero padding for random crops, pixels; None = data.crop_padding
    stats: dict | None = None  # mean/std/eigval/eigvec of pixels in [0, 1]; None = computed from the train split
    info: dict = field(default_factory=dict)  # extra provenance (cache, skipped files, md5 check)
    # Per-pixel mean of the whole training split, float32 frame×frame×3 in 0–255 units (data.normalize=paper);
    # None = computed from train_x when needed (in-memory sets). mean_info: how it was made, for the summary.
    mean_image: np.ndarray | None = None
    mean_info: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_memory(self) -> bool:
        return self.train_x.dtype == np.uint8

    def geometry(self, crop_padding: int, crop_size: int | None = None) -> Geometry:
        frame = self.frame or self.train_x.shape[1]
        pad = crop_padding if self.pad is None else self.pad
        size = crop_size or self.size or frame
        check_crop(size, frame, pad, fixed_pad=self.pad is not None)
        return Geometry(frame, size, pad)


def check_crop(size: int, frame: int, pad: int, fixed_pad: bool, name: str = "this data set") -> None:
    """A crop must fit the zero-padded frame; else one ConfigError naming the fix."""
    limit = frame + 2 * pad
    if size <= limit:
        return
    where = f"{name}'s {frame}×{frame} images" + ("" if fixed_pad else f" padded by data.crop_padding={pad}")
    fix = "" if fixed_pad else " or raise data.crop_padding"
    raise ConfigError(f"data.crop_size={size} does not fit {where} ({limit}×{limit} at most); set data.crop_size "
                      f"<= {limit}{fix}, or null for the data set's own crop size")


@dataclass
class Loaders:
    train: BatchSource
    val: BatchSource
    test: BatchSource | None  # None when validation runs on the test split (data.val_size=0)
    num_classes: int
    image_size: int
    info: dict = field(default_factory=dict)
    # split name -> that split scored as validation is (no augmentation, centre crop); None: no such split.
    # Built on demand: `ablate-eval --split train` scores a finished run's training images this way.
    eval_source: Callable[[str], BatchSource | None] = lambda split: None


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


def data_identity(ds: ArrayDataset) -> str:
    """A hash of what the data set *is*, recorded in every run so a moved `data.root` can be checked.

    In-memory sets hash their decoded pixels and labels, in order: two copies of the same files are one data
    set; the same images in another layout are not, since the order decides subsets and epoch orders.
    File-backed sets (ImageNet) hash their file paths relative to the data root, and labels, not the bytes of
    1.3M files.
    """
    h = hashlib.blake2b(repr(ds.classes).encode(), digest_size=10)
    for a in (ds.train_x, ds.train_y, ds.test_x, ds.test_y):
        if a.dtype.kind == "S":
            root = os.path.commonpath([os.fsdecode(p) for p in (ds.train_x[0], ds.test_x[0])])
            a = np.array([os.path.relpath(os.fsdecode(p), root).encode() for p in a])
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(memoryview(np.ascontiguousarray(a)).cast("B"))
    return h.hexdigest()


def dataset_identity(cfg) -> str:
    """`data_identity` of the data set `cfg` (the data section) names, without building loaders."""
    return data_identity(DATASETS.build(cfg.name, cfg))


def carve_splits(ds: ArrayDataset, cfg, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """train/val/test (x, y) after data.subset, data.test_subset and data.val_size (val carved from train)."""
    train_x, train_y, test_x, test_y = ds.train_x, ds.train_y, ds.test_x, ds.test_y
    for key, n, have in (("data.subset", cfg.subset, len(train_y)), ("data.test_subset", cfg.test_subset,
                                                                     len(test_y))):
        if n is not None and n > have:
            raise ConfigError(f"{key}={n} but the split has only {have} images")
    if cfg.subset is not None:
        keep = stratified_indices(train_y, cfg.subset, seed)
        train_x, train_y = train_x[keep], train_y[keep]
    if cfg.test_subset is not None:
        keep = stratified_indices(test_y, cfg.test_subset, seed)
        test_x, test_y = test_x[keep], test_y[keep]
    splits = {"train": (train_x, train_y), "test": (test_x, test_y)}
    if cfg.val_size:
        if cfg.val_size >= len(train_y):
            raise ConfigError(f"data.val_size={cfg.val_size} leaves no training images (train has {len(train_y)})")
        val_idx = stratified_indices(train_y, cfg.val_size, seed + 1)
        rest = np.setdiff1d(np.arange(len(train_y)), val_idx)
        splits = {"train": (train_x[rest], train_y[rest]), "val": (train_x[val_idx], train_y[val_idx]),
                  "test": (test_x, test_y)}
    return splits


def resolve_loader(choice: str, ds: ArrayDataset) -> str:
    if choice == "auto":
        return "tensor" if ds.in_memory else "dataloader"
    if choice == "tensor" and not ds.in_memory:
        raise ConfigError("data.loader=tensor needs an in-memory data set, but this one is read from image "
                          "files; use data.loader=auto or data.loader=dataloader")
    return choice


def build_data(cfg, seed: int, device: torch.device, batch_size: int, eval_batch_size: int,
               rank: int = 0, world_size: int = 1) -> Loaders:
    """Batch sources for one process. `cfg` is the data section (or a whole Config); `batch_size` is per
    process; with world_size > 1 each source yields this rank's shard (see ablate/data/loader.py)."""
    from ablate.data.files import FileLoader, SampleDataset

    cfg = getattr(cfg, "data", cfg)
    device = torch.device(device)
    ds: ArrayDataset = DATASETS.build(cfg.name, cfg)
    kind = resolve_loader(cfg.loader, ds)
    splits = carve_splits(ds, cfg, seed)
    geo = ds.geometry(cfg.crop_padding, cfg.crop_size)
    stats = ds.stats or pixel_stats(splits["train"][0])
    norm, norm_info = input_scale(cfg.normalize, ds, stats, geo, device)
    aug = AUGMENTS.build(cfg.augment)

    def source(split: str, train: bool) -> BatchSource:
        x, y = splits[split]
        bs, crops = (batch_size, 1) if train else (eval_batch_size, cfg.test_crops)
        common = {"seed": seed, "rank": rank, "world_size": world_size}
        if kind == "tensor":
            return TensorLoader(x, y, bs, norm, geo, train=train, augment=aug, pca_std=cfg.pca_std, crops=crops,
                                **common)
        samples = SampleDataset(x, y, geo, train=train, augment=aug, pca_std=cfg.pca_std, crops=crops, seed=seed,
                                skip_bad=cfg.skip_bad)
        return FileLoader(samples, bs, norm, workers=cfg.workers, **common)

    absent = {split: [ds.classes[i] for i in sorted(set(range(ds.num_classes)) - set(y.tolist()))]
              for split, (_, y) in splits.items()}
    train, test = source("train", True), source("test", False)
    val = source("val", False) if "val" in splits else test
    info = {"source": ds.source, "loader": kind, "train_images": len(splits["train"][1]),
            "val_images": len(splits.get("val", splits["test"])[1]), "test_images": len(splits["test"][1]),
            "image_size": geo.size, "augment": cfg.augment, "test_crops": cfg.test_crops,
            "identity": data_identity(ds), **stats, **ds.info, **norm_info}
    if any(absent.values()):
        info["absent_classes"] = {split: names for split, names in absent.items() if names}
    return Loaders(train, val, None if val is test else test, ds.num_classes, geo.size, info,
                   lambda split: source(split, False) if split in splits else None)


# Registering the built-in data sets (import for the side effect).
from ablate.data import cifar10, imagenet, mini, synthetic  # noqa: E402,F401
