"""`data=cifar10`: the full CIFAR-10 from the layouts people have, decoded once into a uint8 cache.

Sources, detected at `data.root`:
- the official python batches: `root/cifar-10-batches-py/` (or `root` itself) with `data_batch_1..5`,
  `test_batch`, `batches.meta` — what torchvision downloads (`data.download=true` fetches them there);
- an ImageFolder tree `root/{train,test}/<class>/*.png|jpg` (the `../shared/data/cifar10` layout, and
  Kaggle-style copies). Folders are mapped to the standard CIFAR-10 label order.

The batches are read with a restricted unpickler (numpy arrays, lists, bytes only), not through torchvision's
`CIFAR10`, whose md5 check rejects any re-packed copy; whether the files are the official ones (torchvision's
md5 list) is recorded in the run's summary as `official_md5`. The cache also holds the per-pixel mean image of
the whole training split (data.normalize=paper); an entry written before that gets it added on first use.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ablate.data import CIFAR10_CLASSES, DATASETS, ArrayDataset
from ablate.data.cache import cached, fingerprint
from ablate.data.files import BadImageError, list_image_folder, load_rgb
from ablate.data.normalize import mean_image
from ablate.registry import ConfigError

BATCHES = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
ALL_FILES = [*TRAIN_FILES, "test_batch", "batches.meta"]


def layout_help(root: Path) -> str:
    return (f"CIFAR-10 not found at data.root={root}. Expected either the official python batches in "
            f"{root / BATCHES}/ (data_batch_1..5, test_batch, batches.meta) or an ImageFolder tree "
            f"{root}/train/<class>/*.png and {root}/test/<class>/*.png with the classes {', '.join(CIFAR10_CLASSES)}. "
            "Get it with data.download=true where there is a network (torchvision downloads the python batches "
            "into data.root), or point data.root at a copy you have.")


def find_source(root: Path) -> tuple[str, Path] | None:
    for batches in (root / BATCHES, root):
        if all((batches / f).is_file() for f in ALL_FILES):
            return "batches", batches
    if (root / "train").is_dir() and (root / "test").is_dir():
        return "folder", root
    return None


def download(root: Path) -> None:
    """torchvision's download into `root`; any failure becomes one ConfigError, without the download's trace."""
    from torchvision.datasets import CIFAR10

    try:
        root.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            CIFAR10(str(root), train=True, download=True)
    except Exception as err:
        raise ConfigError(f"could not download CIFAR-10 ({type(err).__name__}: {err}). "
                          f"{layout_help(root)}") from None


class _ArraysOnly(pickle.Unpickler):
    """Unpickles what the official batches hold (dicts, lists, bytes, numpy arrays) and nothing executable."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR-10 batch file")
        return super().find_class(module, name)


def read_batch(path: Path) -> dict[str, object]:
    """One batch file as a dict with str keys (the files were pickled by Python 2, so keys arrive as bytes)."""
    try:
        with open(path, "rb") as f:
            d = _ArraysOnly(f, encoding="bytes").load()
    except Exception as err:
        raise ConfigError(f"cannot read CIFAR-10 batch file {path} ({type(err).__name__}: {err}); "
                          "delete it and download again (data.download=true)") from None
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}


def _batch_arrays(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for path in files:
        d = read_batch(path)
        data = np.asarray(d["data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072 or len(d["labels"]) != len(data):
            raise ConfigError(f"{path} is not a CIFAR-10 batch: data {data.shape}, {len(d['labels'])} labels")
        xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))  # channel-major rows → NHWC
        ys.append(np.asarray(d["labels"], dtype=np.int64))
    return np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys)


def decode_batches(folder: Path) -> tuple[dict[str, np.ndarray], dict]:
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity

    names = [n.decode() if isinstance(n, bytes) else n for n in read_batch(folder / "batches.meta")["label_names"]]
    if tuple(names) != CIFAR10_CLASSES:
        raise ConfigError(f"{folder}/batches.meta lists the classes {names}, not CIFAR-10's {CIFAR10_CLASSES}")
    train_x, train_y = _batch_arrays([folder / f for f in TRAIN_FILES])
    test_x, test_y = _batch_arrays([folder / "test_batch"])
    official = all(check_integrity(str(folder / f), md5) for f, md5 in [*CIFAR10.train_list, *CIFAR10.test_list])
    return ({"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y},
            {"source": f"CIFAR-10 python batches at {folder}", "official_md5": official, "skipped": []})


def decode_folder_split(split_dir: Path, skip_bad: bool,
                        allow_missing: bool = False) -> tuple[np.ndarray, np.ndarray, list[str]]:
    paths, labels, _ = list_image_folder(split_dir, CIFAR10_CLASSES, allow_missing)

    def one(path: bytes) -> np.ndarray | None:
        try:
            return np.asarray(load_rgb(os.fsdecode(path)))
        except BadImageError:
            if skip_bad:
                return None
            raise

    # PIL releases the GIL while decoding, so threads use every core without pickling images between processes.
    with ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as pool:
        images = list(pool.map(one, paths, chunksize=256))
    keep = [i for i, im in enumerate(images) if im is not None]
    bad = sorted(os.fsdecode(paths[i]) for i, im in enumerate(images) if im is None)
    for i in keep:
        if images[i].shape != (32, 32, 3):
            raise ConfigError(f"{os.fsdecode(paths[i])} is {images[i].shape[1]}×{images[i].shape[0]}, "
                              "not a 32×32 CIFAR-10 image")
    if not keep:
        raise ConfigError(f"no readable images under {split_dir}")
    return np.stack([images[i] for i in keep]), labels[keep], bad


def decode_folder(root: Path, skip_bad: bool, allow_missing: bool = False) -> tuple[dict[str, np.ndarray], dict]:
    train_x, train_y, bad_train = decode_folder_split(root / "train", skip_bad, allow_missing)
    test_x, test_y, bad_test = decode_folder_split(root / "test", skip_bad, allow_missing)
    return ({"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y},
            {"source": f"CIFAR-10 ImageFolder at {root}", "skipped": bad_train + bad_test})


def source_files(kind: str, where: Path, allow_missing: bool = False) -> list[str]:
    if kind == "batches":
        return [str(where / f) for f in ALL_FILES]
    return [os.fsdecode(p) for split in ("train", "test")
            for p in list_image_folder(where / split, CIFAR10_CLASSES, allow_missing)[0]]


@DATASETS.register("cifar10", summary="CIFAR-10 at data.root: the python batches or an ImageFolder tree",
                   source="Krizhevsky 2009", frame=(32, None))
def cifar10(cfg) -> ArrayDataset:
    root = Path(cfg.root).expanduser()
    found = find_source(root)
    if found is None and cfg.download:
        download(root)
        found = find_source(root)
    if found is None:
        raise ConfigError(layout_help(root))
    kind, where = found
    allow = cfg.allow_missing_classes
    key = fingerprint(str(where), source_files(kind, where, allow), "cifar10", kind, cfg.skip_bad)

    def build():
        return decode_batches(where) if kind == "batches" else decode_folder(where, cfg.skip_bad, allow)

    derived = {"mean_image": lambda a: mean_image(a["train_x"])}  # 0.06 s once, then read with the images
    arrays, meta = cached("cifar10", key, build, cfg.cache_dir, derived)
    info = {k: v for k, v in meta.items() if k != "source"}
    return ArrayDataset(arrays["train_x"], arrays["train_y"], arrays["test_x"], arrays["test_y"], CIFAR10_CLASSES,
                        source=meta["source"], info={**info, "skipped": len(meta.get("skipped", []))},
                        mean_image=arrays["mean_image"], mean_info={"images": len(arrays["train_y"])})
