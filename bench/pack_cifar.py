"""Move the real CIFAR-10 to a machine that cannot download it, within a small transfer limit.

`pack`: an ImageFolder copy (SRC/{train,test}/<class>/*.png) → lossless WebP mosaics (about half the bytes of
the raw pixels), one per split and class, split into parts by class so each part fits one transfer.
`unpack`: the mosaics (from one or more parts) → the official python-batch layout
(`DEST/cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta`), which `data=cifar10 data.root=DEST` reads.
Image order inside a class is the sorted file-name order; the batches hold the classes interleaved.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ablate.data import CIFAR10_CLASSES  # noqa: E402

PARTS = {"A": {"train": CIFAR10_CLASSES[:4], "test": CIFAR10_CLASSES},
         "B": {"train": CIFAR10_CLASSES[4:], "test": ()}}


COLUMNS = 64  # images per mosaic row: WebP images are at most 16383 pixels on a side


def to_mosaic(images: np.ndarray) -> np.ndarray:
    rows = -(-len(images) // COLUMNS)
    padded = np.zeros((rows * COLUMNS, 32, 32, 3), np.uint8)
    padded[:len(images)] = images
    return padded.reshape(rows, COLUMNS, 32, 32, 3).transpose(0, 2, 1, 3, 4).reshape(rows * 32, COLUMNS * 32, 3)


def from_mosaic(mosaic: np.ndarray, n: int) -> np.ndarray:
    rows = mosaic.shape[0] // 32
    tiles = mosaic.reshape(rows, 32, COLUMNS, 32, 3).transpose(0, 2, 1, 3, 4).reshape(-1, 32, 32, 3)
    return tiles[:n]


def pack(src: Path, dest: Path, part: str) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for split, classes in PARTS[part].items():
        for name in classes:
            files = sorted((src / split / name).glob("*.png"))
            images = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
            Image.fromarray(to_mosaic(images)).save(dest / f"{split}_{name}_{len(files)}.webp", "WEBP",
                                                    lossless=True, quality=100, method=4)
            print(f"packed {split}/{name}: {len(files)} images", file=sys.stderr)


def read_split(parts: list[Path], split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for label, name in enumerate(CIFAR10_CLASSES):
        found = [f for p in parts for f in p.glob(f"{split}_{name}_*.webp")]
        if len(found) != 1:
            raise SystemExit(f"{split}/{name}: found {len(found)} mosaics in {parts}; need exactly one")
        n = int(found[0].stem.rsplit("_", 1)[1])
        images.append(from_mosaic(np.asarray(Image.open(found[0]).convert("RGB")), n))
        labels.append(np.full(len(images[-1]), label))
    x, y = np.concatenate(images), np.concatenate(labels)
    order = np.argsort(np.arange(len(y)) % np.bincount(y).max() * 10 + y, kind="stable")  # interleave classes
    return x[order], y[order]


def write_batch(path: Path, x: np.ndarray, y: np.ndarray, label: str) -> None:
    data = x.transpose(0, 3, 1, 2).reshape(len(x), -1)  # channel-major rows, as the official files
    names = [f"{label}_{i:05d}.png".encode() for i in range(len(y))]
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": label.encode(), b"labels": y.tolist(), b"data": data, b"filenames": names}, f)


def unpack(parts: list[Path], dest: Path) -> None:
    out = dest / "cifar-10-batches-py"
    out.mkdir(parents=True, exist_ok=True)
    x, y = read_split(parts, "train")
    for i in range(5):
        write_batch(out / f"data_batch_{i + 1}", x[i::5], y[i::5], f"training batch {i + 1} of 5")
    tx, ty = read_split(parts, "test")
    write_batch(out / "test_batch", tx, ty, "testing batch 1 of 1")
    with open(out / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_cases_per_batch": 10000,
                     b"num_vis": 3072}, f)
    print(f"unpacked {len(y)} train / {len(ty)} test images into {out}", file=sys.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("src", type=Path)
    p.add_argument("dest", type=Path)
    p.add_argument("--part", choices=sorted(PARTS), required=True)
    u = sub.add_parser("unpack")
    u.add_argument("dest", type=Path)
    u.add_argument("parts", type=Path, nargs="+")
    a = ap.parse_args()
    pack(a.src, a.dest, a.part) if a.cmd == "pack" else unpack(a.parts, a.dest)
