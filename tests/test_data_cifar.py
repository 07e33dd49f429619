"""data=cifar10: the official python batches and ImageFolder copies, the decode cache, subsets, missing data."""

import io
import pickle
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ablate.config import DataConfig
from ablate.data import CIFAR10_CLASSES, DATASETS, build_data
from ablate.data.cache import default_cache_dir
from ablate.registry import ConfigError

CPU = torch.device("cpu")
PER_BATCH = 30  # images per fixture batch file (the official files hold 10,000)


def _pixels(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), (np.arange(n) % 10)[rng.permutation(n)]


class Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 `str` opcodes, as the official files (pickled by Python 2) have them: Python 3
    then reads them back as str with encoding='latin1' (torchvision) and as bytes with encoding='bytes'."""

    def save_py2_str(self, obj: bytes) -> None:
        head = pickle.SHORT_BINSTRING + bytes([len(obj)]) if len(obj) < 256 else \
            pickle.BINSTRING + struct.pack("<i", len(obj))
        self.write(head + obj)
        self.memoize(obj)

    dispatch = {**pickle._Pickler.dispatch, bytes: save_py2_str}


def py2_pickle(obj) -> bytes:
    out = io.BytesIO()
    Py2Pickler(out, protocol=2).dump(obj)
    return out.getvalue()


def write_batches(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The official layout: pickled dicts with bytes keys, b'data' N×3072 uint8 rows (R, then G, then B planes)."""
    folder.mkdir(parents=True)
    xs, ys = [], []
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        x, y = _pixels(PER_BATCH, i)
        rows = x.transpose(0, 3, 1, 2).reshape(PER_BATCH, 3072)
        entry = {b"batch_label": f"{name} of 6".encode(), b"labels": y.tolist(), b"data": rows,
                 b"filenames": [f"img_{i}_{j}.png".encode() for j in range(PER_BATCH)]}
        (folder / name).write_bytes(py2_pickle(entry))
        xs.append(x)
        ys.append(y)
    meta = {b"num_cases_per_batch": PER_BATCH, b"label_names": [c.encode() for c in CIFAR10_CLASSES],
            b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
    return np.concatenate(xs[:5]), np.concatenate(ys[:5]), xs[5], ys[5]


def write_folder(root: Path, split: str, x: np.ndarray, y: np.ndarray) -> list[Path]:
    paths = []
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        path = root / split / CIFAR10_CLASSES[label] / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths


def _load(root, cache, **kw):
    return DATASETS.build("cifar10", DataConfig(name="cifar10", root=str(root), cache_dir=str(cache), **kw))


def test_python_batches_load_exactly_as_torchvision_reads_them(tmp_path, monkeypatch):
    train_x, train_y, test_x, test_y = write_batches(tmp_path / "cifar-10-batches-py")
    ds = _load(tmp_path, tmp_path / "cache")
    np.testing.assert_array_equal(ds.train_x, train_x)
    np.testing.assert_array_equal(ds.train_y, train_y)
    np.testing.assert_array_equal(ds.test_x, test_x)
    assert ds.classes == CIFAR10_CLASSES and ds.info["official_md5"] is False
    # torchvision refuses these files (md5 check); with the check bypassed it reads the same pixels.
    import torchvision.datasets.cifar as tv_cifar
    from torchvision.datasets import CIFAR10
    with pytest.raises(RuntimeError, match="corrupted"):
        CIFAR10(str(tmp_path), train=True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args: True)
    tv = CIFAR10(str(tmp_path), train=False)
    np.testing.assert_array_equal(tv.data, ds.test_x)
    assert tv.targets == ds.test_y.tolist() and tv.classes == list(CIFAR10_CLASSES)


def test_image_folder_copy_gives_the_same_arrays_and_grayscale_becomes_rgb(tmp_path):
    train_x, train_y, test_x, test_y = write_batches(tmp_path / "b" / "cifar-10-batches-py")
    write_folder(tmp_path / "f", "train", train_x, train_y)
    write_folder(tmp_path / "f", "test", test_x, test_y)
    gray = tmp_path / "f" / "test" / "cat" / "zz_gray.jpg"
    Image.fromarray(test_x[0, :, :, 0]).save(gray)  # an 8-bit grayscale JPEG
    batches, folder = _load(tmp_path / "b", tmp_path / "cache"), _load(tmp_path / "f", tmp_path / "cache")
    assert folder.source.startswith("CIFAR-10 ImageFolder")
    # Folder order is by class then file name; compare as sets of (label, image).
    order = np.lexsort((np.arange(len(train_y)), train_y))
    np.testing.assert_array_equal(folder.train_x, batches.train_x[order])
    np.testing.assert_array_equal(folder.train_y, batches.train_y[order])
    assert folder.test_x.shape == (len(test_y) + 1, 32, 32, 3)
    last_cat = np.flatnonzero(folder.test_y == CIFAR10_CLASSES.index("cat"))[-1]
    img = folder.test_x[last_cat]
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()


def test_corrupt_file_is_named_or_skipped_and_counted(tmp_path):
    x, y = _pixels(20, 0)
    write_folder(tmp_path, "train", x, y)
    write_folder(tmp_path, "test", x, y)  # every class in both splits
    bad = tmp_path / "train" / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    with pytest.raises(ConfigError, match=f"cannot read image {bad}.*data.skip_bad=true"):
        _load(tmp_path, tmp_path / "cache")
    ds = _load(tmp_path, tmp_path / "cache", skip_bad=True)
    assert len(ds.train_y) == 20 and ds.info["skipped"] == 1


def test_cache_is_reused_detects_corruption_and_follows_source_changes(tmp_path):
    write_batches(tmp_path / "cifar-10-batches-py")
    first = _load(tmp_path, tmp_path / "cache")
    assert first.info["cache"] == "built"
    again = _load(tmp_path, tmp_path / "cache")
    assert again.info["cache"] == "hit" and again.info["cache_path"] == first.info["cache_path"]
    np.testing.assert_array_equal(again.train_x, first.train_x)
    entry = Path(first.info["cache_path"])
    raw = bytearray((entry / "train_x.npy").read_bytes())
    raw[-5] ^= 0xFF  # flip one pixel's bits: still a valid .npy, wrong content
    (entry / "train_x.npy").write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="corrupted"):
        rebuilt = _load(tmp_path, tmp_path / "cache")
    assert rebuilt.info["cache"] == "built"
    np.testing.assert_array_equal(rebuilt.train_x, first.train_x)
    (entry / "test_y.npy").write_bytes(b"\x93NUMPY truncated")
    with pytest.warns(UserWarning, match="corrupted"):
        np.testing.assert_array_equal(_load(tmp_path, tmp_path / "cache").test_y, first.test_y)
    # A changed source file gives a new key, so the stale arrays are not used.
    x, y = _pixels(PER_BATCH, 99)
    entry_new = {b"labels": y.tolist(), b"data": x.transpose(0, 3, 1, 2).reshape(PER_BATCH, 3072),
                 b"batch_label": b"x", b"filenames": []}
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(py2_pickle(entry_new))
    changed = _load(tmp_path, tmp_path / "cache")
    assert changed.info["cache"] == "built"
    np.testing.assert_array_equal(changed.test_x, x)


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "ablate"


def test_unwritable_cache_still_loads(tmp_path):
    write_batches(tmp_path / "cifar-10-batches-py")
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should go")
    with pytest.warns(UserWarning, match="cannot write the data cache"):
        ds = _load(tmp_path, blocker / "sub")
    assert ds.info["cache"] == "off" and len(ds.train_y) == 5 * PER_BATCH


def test_missing_data_offline_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path / "nothing", tmp_path / "cache")
    msg = str(err.value)
    for part in ["cifar-10-batches-py", "train/<class>", "data.download=true", str(tmp_path / "nothing")]:
        assert part in msg


def test_failed_download_is_one_clear_error_without_its_traceback(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    def offline(*args, **kwargs):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", offline)
    with pytest.raises(ConfigError, match="could not download CIFAR-10.*name resolution") as err:
        _load(tmp_path / "root", tmp_path / "cache", download=True)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_subset_is_stratified_deterministic_and_val_is_carved_from_train(tmp_path):
    write_batches(tmp_path / "cifar-10-batches-py")
    cfg = DataConfig(name="cifar10", root=str(tmp_path), cache_dir=str(tmp_path / "cache"), subset=100,
                     val_size=20, test_subset=20)
    a = build_data(cfg, seed=1, device=CPU, batch_size=10, eval_batch_size=50)
    b = build_data(cfg, seed=1, device=CPU, batch_size=10, eval_batch_size=50)
    c = build_data(cfg, seed=2, device=CPU, batch_size=10, eval_batch_size=50)
    assert a.train.num_images == 80 and a.val.num_images == 20 and a.test.num_images == 20
    assert (torch.bincount(a.train.labels, minlength=10) == 8).all()
    assert (torch.bincount(a.val.labels, minlength=10) == 2).all()
    assert (torch.bincount(a.test.labels, minlength=10) == 2).all()
    assert torch.equal(a.train.images, b.train.images) and not torch.equal(a.train.images, c.train.images)
    train_rows = {bytes(r) for r in a.train.images.numpy()}
    assert not train_rows & {bytes(r) for r in a.val.images.numpy()}
    assert a.info["train_images"] == 80 and a.info["test_images"] == 20


@pytest.mark.realdata
@pytest.mark.slow
def test_full_shared_cifar10_loads_with_the_published_channel_means(shared_cifar, tmp_path):
    ds = DATASETS.build("cifar10", DataConfig(name="cifar10", root=str(shared_cifar)))  # the user's cache
    assert ds.train_x.shape == (50000, 32, 32, 3) and ds.test_x.shape == (10000, 32, 32, 3)
    assert (np.bincount(ds.train_y) == 5000).all() and (np.bincount(ds.test_y) == 1000).all()
    from ablate.data.augment import pixel_stats
    train, test = pixel_stats(ds.train_x), pixel_stats(ds.test_x)
    np.testing.assert_allclose(train["mean"], [0.4914, 0.4822, 0.4465], atol=2e-4)
    np.testing.assert_allclose(test["mean"], [0.4942, 0.4851, 0.4504], atol=2e-4)
    np.testing.assert_allclose(train["std"], [0.2470, 0.2435, 0.2616], atol=2e-4)
    np.testing.assert_allclose(test["std"], [0.2467, 0.2429, 0.2616], atol=2e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a cached start must not find a corrupted cache
        assert DATASETS.build("cifar10", DataConfig(name="cifar10", root=str(shared_cifar))).info["cache"] == "hit"


def test_cache_holds_the_mean_image_and_adds_it_to_entries_written_without_it(tmp_path):
    import json
    train_x, *_ = write_batches(tmp_path / "cifar-10-batches-py")
    first = _load(tmp_path, tmp_path / "cache")
    entry = Path(first.info["cache_path"])
    manifest = json.loads((entry / "manifest.json").read_text())
    assert first.info["cache"] == "built" and "mean_image" in manifest["arrays"]
    assert first.mean_image.dtype == np.float32 and first.mean_image.shape == (32, 32, 3)
    np.testing.assert_allclose(first.mean_image, train_x.astype(np.float64).mean(0), rtol=0, atol=1e-4)
    hit = _load(tmp_path, tmp_path / "cache")
    assert hit.info["cache"] == "hit" and "cache_added" not in hit.info
    np.testing.assert_array_equal(hit.mean_image, first.mean_image)
    # An entry from before the mean image was cached: added in place, the decoded arrays are not rewritten.
    del manifest["arrays"]["mean_image"]
    (entry / "manifest.json").write_text(json.dumps(manifest))
    (entry / "mean_image.npy").unlink()
    decoded_at = (entry / "train_x.npy").stat().st_mtime_ns
    old = _load(tmp_path, tmp_path / "cache")
    assert old.info["cache"] == "hit" and old.info["cache_added"] == ["mean_image"]
    np.testing.assert_array_equal(old.mean_image, first.mean_image)
    assert "mean_image" in json.loads((entry / "manifest.json").read_text())["arrays"]
    assert (entry / "train_x.npy").stat().st_mtime_ns == decoded_at and not list(entry.glob(".*"))
    again = _load(tmp_path, tmp_path / "cache")
    assert again.info["cache"] == "hit" and "cache_added" not in again.info
    np.testing.assert_array_equal(again.mean_image, first.mean_image)
    # A damaged mean image is caught by its CRC like any array: the entry is rebuilt.
    raw = bytearray((entry / "mean_image.npy").read_bytes())
    raw[-3] ^= 0xFF
    (entry / "mean_image.npy").write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="corrupted"):
        np.testing.assert_array_equal(_load(tmp_path, tmp_path / "cache").mean_image, first.mean_image)


def test_paper_scale_on_cifar10_subtracts_the_cached_whole_train_mean(tmp_path):
    write_batches(tmp_path / "cifar-10-batches-py")
    ds = _load(tmp_path, tmp_path / "cache")
    cfg = DataConfig(name="cifar10", root=str(tmp_path), cache_dir=str(tmp_path / "cache"), subset=50,
                     normalize="paper", crop_size=24, crop_padding=0)
    data = build_data(cfg, seed=0, device=CPU, batch_size=10, eval_batch_size=10)
    assert data.info["mean_image"]["images"] == 5 * PER_BATCH and data.info["cache"] == "hit"
    assert torch.equal(data.train.norm.patch, torch.from_numpy(ds.mean_image[4:28, 4:28].transpose(2, 0, 1)))
    x, _ = next(iter(data.val))
    raw = data.val.images[:10, 4:28, 4:28].permute(0, 3, 1, 2)
    assert x.shape == (10, 3, 24, 24) and torch.equal(x, raw.float() - data.train.norm.patch)


@pytest.mark.realdata
@pytest.mark.slow
def test_shared_cifar10_mean_image_matches_the_published_channel_means(shared_cifar):
    ds = DATASETS.build("cifar10", DataConfig(name="cifar10", root=str(shared_cifar)))  # the user's cache
    channel = ds.mean_image.reshape(-1, 3).astype(np.float64).mean(0)
    np.testing.assert_allclose(channel / 255, [0.4914, 0.4822, 0.4465], atol=2e-4)
    assert ds.mean_image.shape == (32, 32, 3) and 0 < ds.mean_image.min() < ds.mean_image.max() < 255
