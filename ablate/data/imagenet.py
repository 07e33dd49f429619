"""`data=imagenet` (ILSVRC-2012, file-backed) and `data=synthetic_imagenet` (same shapes, no files).

ImageNet layout (the common prepared one): `root/train/<wnid>/*.JPEG` and `root/val/<wnid>/*.JPEG`. The class
index is the sorted wnid order of `train/` (the standard 0–999 with all 1000 folders; any subset works). The
paper's pipeline (§2): shorter side to 256, central 256×256 crop — that is the stored `frame`; the model sees
224×224 crops of it (random for training with data.augment=crop_flip*, the centre or 10 crops for testing).

With data.normalize=paper the mean image is estimated from a seeded sample of data.mean_sample training frames
(decoding all 1.28M JPEGs at every start-up would take an hour), cached under data.cache_dir; the key is the
training file list plus the sampled files' sizes and modification times.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ablate.data import DATASETS, ArrayDataset
from ablate.data.augment import IMAGENET_EIGVAL, IMAGENET_EIGVEC
from ablate.data.cache import cached, fingerprint
from ablate.data.files import IMAGE_SUFFIXES, BadImageError, list_image_folder, load_rgb
from ablate.data.normalize import Moments
from ablate.data.synthetic import class_images
from ablate.registry import ConfigError

FRAME, SIZE = 256, 224
MEAN_SEED = 0  # the mean image belongs to the data set, not the run: every run draws the same sample
# The usual ImageNet channel statistics (torchvision's; the std values are most likely means of per-image stds,
# see ablate/data/augment.py), and fb.resnet.torch's lighting eigen-decomposition.
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


@DATASETS.register("imagenet", summary="ILSVRC-2012 at data.root (root/train/<wnid>/*.JPEG, root/val/<wnid>/*.JPEG)",
                   source="§2", frame=(FRAME, 0))
def imagenet(cfg) -> ArrayDataset:
    root = Path(cfg.root).expanduser()
    _check_layout(root)
    train_paths, train_y, classes = list_image_folder(root / "train", None, cfg.allow_missing_classes)
    val_paths, val_y, _ = list_image_folder(root / "val", classes, cfg.allow_missing_classes)
    ds = ArrayDataset(train_paths, train_y, val_paths, val_y, classes,
                      source=f"ImageNet ImageFolder at {root} ({len(classes)} classes)",
                      frame=FRAME, size=SIZE, pad=0, stats=IMAGENET_STATS)
    if cfg.normalize == "paper":
        ds.mean_image, ds.mean_info = sample_mean(train_paths, root / "train", cfg.mean_sample, cfg.cache_dir,
                                                  cfg.skip_bad)
    return ds


def sample_mean(paths: np.ndarray, root: Path, n: int, cache_dir: str | None,
                skip_bad: bool) -> tuple[np.ndarray, dict]:
    """The per-pixel mean of the training frames, estimated from a seeded sample of n of them (0 = all), cached.

    Also returns the sample's channel statistics and eigen-decomposition ([0, 1] pixels), recorded beside the
    published constants the run uses, as a check on them.
    """
    picked = paths
    if 0 < n < len(paths):
        picked = paths[np.sort(np.random.default_rng(MEAN_SEED).choice(len(paths), n, replace=False))]
    chosen = [os.fsdecode(p) for p in picked]
    # Every training file's path relative to root (the fixed-width bytes with the common prefix cut off): a file
    # added or removed anywhere changes the key, as a rewritten sampled file does through its size and mtime.
    cut = len(os.fsencode(os.path.join(root, "")))
    rows = np.ascontiguousarray(paths).view(np.uint8).reshape(len(paths), -1)
    listing = hashlib.blake2b(rows[:, cut:].tobytes(), digest_size=16)
    key = fingerprint(str(root), chosen, "imagenet-mean", FRAME, n, MEAN_SEED, listing.hexdigest())

    def build():
        moments, bad = frame_moments(chosen, skip_bad)
        return {"mean_image": moments.mean_image()}, {"images": moments.images, "skipped": bad,
                                                      "sample_pixel_stats": moments.stats()}

    arrays, meta = cached("imagenet-mean", key, build, cache_dir)
    return arrays["mean_image"], {"images": meta["images"], "sample": n, "sample_seed": MEAN_SEED,
                                  "skipped": len(meta["skipped"]), "cache": meta["cache"],
                                  "sample_pixel_stats": meta["sample_pixel_stats"]}


def frame_moments(files: list[str], skip_bad: bool, block: int = 256) -> tuple[Moments, list[str]]:
    """Per-pixel and channel moments of the 256×256 training frames of `files` (threads: PIL frees the GIL)."""
    def one(path: str) -> np.ndarray | None:
        try:
            return np.asarray(load_rgb(path, FRAME))
        except BadImageError:
            if skip_bad:
                return None
            raise

    moments, bad = Moments(per_pixel=True), []
    with ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as pool:
        for start in range(0, len(files), block):  # a block at a time: bounded memory for any sample size
            frames = list(pool.map(one, files[start:start + block]))
            bad += [f for f, im in zip(files[start:start + block], frames, strict=True) if im is None]
            if any(im is not None for im in frames):
                moments.add(np.stack([im for im in frames if im is not None]))
    if not moments.images:
        raise ConfigError(f"none of the {len(files)} images sampled for the mean image could be read; "
                          "check the files, or use data.normalize=standard")
    return moments, bad


@DATASETS.register("synthetic_imagenet", summary="ImageNet-shaped class patterns with noise, generated in memory "
                   "(compute benchmarks)", source="ours", frame=(FRAME, 0))
def synthetic_imagenet(cfg, num_classes: int = 1000) -> ArrayDataset:
    """For compute benchmarks without I/O: ImageNet-shaped frames in memory (data.subset sets the size)."""
    n_train, n_test = cfg.subset or 1280, cfg.test_subset or 500
    train_x, train_y = class_images(n_train, num_classes, FRAME, seed=1, mode="bilinear", chunk=128)
    test_x, test_y = class_images(n_test, num_classes, FRAME, seed=2, mode="bilinear", chunk=128)
    return ArrayDataset(train_x, train_y, test_x, test_y, tuple(f"class{i}" for i in range(num_classes)),
                        source="synthetic ImageNet-shaped frames", size=SIZE, pad=0, stats=IMAGENET_STATS)
