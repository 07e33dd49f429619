"""`cifar10_mini`: a stratified real CIFAR-10 subset shipped inside the package, for the offline demo.

The images are stored losslessly as WebP strips (one per split and class, images stacked vertically), which
is about half the size of the raw pixels. `assets/cifar10_mini/SOURCE.md` records where they came from and
the original file name of every image; `python -m ablate.data.mini SRC` rebuilds them from an ImageFolder copy
of CIFAR-10 (`SRC/{train,test}/<class>/*.png`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from ablate.data import CIFAR10_CLASSES, DATASETS, ArrayDataset

ASSETS = Path(__file__).parent / "assets" / "cifar10_mini"
PER_CLASS = {"train": 400, "test": 100}
SIDE = 32


def _read_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for label, name in enumerate(CIFAR10_CLASSES):
        strip = np.asarray(Image.open(ASSETS / f"{split}_{name}.webp").convert("RGB"))
        images.append(strip.reshape(-1, SIDE, SIDE, 3))
        labels.append(np.full(len(images[-1]), label, dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


@DATASETS.register("cifar10_mini", summary="4,000 train / 1,000 test real CIFAR-10 images inside the package "
                   "(offline demo)", source="Krizhevsky 2009", frame=(SIDE, None))
def cifar10_mini(cfg=None) -> ArrayDataset:
    train_x, train_y = _read_split("train")
    test_x, test_y = _read_split("test")
    return ArrayDataset(train_x, train_y, test_x, test_y, CIFAR10_CLASSES,
                        source=f"embedded CIFAR-10 subset ({len(train_y)} train / {len(test_y)} test), see {ASSETS}")


def build(source: Path, seed: int = 0) -> None:
    """Pick PER_CLASS images per split and class (sorted file names, seeded choice) and write the strips."""
    rng = np.random.default_rng(seed)
    ASSETS.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for split, k in PER_CLASS.items():
        for name in CIFAR10_CLASSES:
            files = sorted((source / split / name).glob("*.png"))
            chosen = [files[i] for i in np.sort(rng.choice(len(files), size=k, replace=False))]
            strip = np.concatenate([np.asarray(Image.open(f).convert("RGB")) for f in chosen])
            out = ASSETS / f"{split}_{name}.webp"
            Image.fromarray(strip).save(out, "WEBP", lossless=True, quality=100, method=6)
            if not np.array_equal(np.asarray(Image.open(out).convert("RGB")), strip):
                raise RuntimeError(f"{out}: WebP round trip is not lossless")
            manifest[f"{split}/{name}"] = [f.name for f in chosen]
    (ASSETS / "files.json").write_text(json.dumps(manifest, indent=0))
    (ASSETS / "SOURCE.md").write_text(
        "# cifar10_mini\n\n"
        "A stratified subset of the official CIFAR-10 (Krizhevsky, 2009) train/test split: "
        f"{PER_CLASS['train']} train and {PER_CLASS['test']} test images per class, chosen with "
        f"`numpy.random.default_rng({seed})` from the sorted file names of an ImageFolder copy of CIFAR-10 "
        "(the `shared/data/cifar10` PNG tree of this project). Stored losslessly as WebP strips, one per "
        "split and class (images stacked vertically, in the order of `files.json`, which lists the original "
        "file name of each).\n\nRebuild: `python -m ablate.data.mini ../shared/data/cifar10`\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="ImageFolder copy of CIFAR-10: SOURCE/{train,test}/<class>/*.png")
    build(parser.parse_args().source)
