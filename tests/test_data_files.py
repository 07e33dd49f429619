"""data=imagenet (ImageFolder of JPEGs through DataLoader workers) and data=synthetic_imagenet."""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ablate.config import DataConfig
from ablate.data import build_data
from ablate.data.files import BadImageError, list_image_folder, load_rgb
from ablate.registry import ConfigError

CPU = torch.device("cpu")


def _save(path: Path, img: Image.Image, fmt: str = "JPEG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt)
    return path


def _photo(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR)


@pytest.fixture
def imagenet_tree(tmp_path) -> Path:
    """train/{n01,n02,n03}, val/{n01,n02,n03}: RGB, grayscale and CMYK JPEGs, a PNG named .JPEG, one corrupt
    file."""
    root = tmp_path / "imagenet"
    for c, wnid in enumerate(["n02", "n01", "n03"]):  # created out of order: labels must follow sorted wnids
        for i in range(4):
            _save(root / "train" / wnid / f"{wnid}_{i}.JPEG", _photo(300 + 10 * i, 260, 10 * c + i))
    _save(root / "train" / "n01" / "n01_gray.JPEG", _photo(280, 300, 50).convert("L"))
    _save(root / "train" / "n02" / "n02_cmyk.JPEG", Image.new("CMYK", (290, 270), (255, 0, 0, 0)))
    _save(root / "train" / "n03" / "n03_png.JPEG", _photo(260, 256, 51), "PNG")
    (root / "train" / "n03" / "n03_bad.JPEG").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    for c, wnid in enumerate(["n01", "n02", "n03"]):
        for i in range(3):
            _save(root / "val" / wnid / f"val_{c}{i}.JPEG", _photo(256, 320, 70 + 3 * c + i))
    return root


def _cfg(root, **kw):
    return DataConfig(name="imagenet", root=str(root), **kw)


def test_listing_uses_sorted_wnids_and_the_train_classes_for_val(imagenet_tree):
    paths, labels, classes = list_image_folder(imagenet_tree / "train")
    assert classes == ("n01", "n02", "n03") and len(paths) == 16
    assert np.bincount(labels).tolist() == [5, 5, 6]
    val_paths, val_labels, _ = list_image_folder(imagenet_tree / "val", classes)
    assert val_labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and b"n02" in val_paths[3]


@pytest.mark.parametrize("how", ["missing", "empty"])
def test_a_split_lacking_a_class_is_an_error_unless_allowed(imagenet_tree, how):
    import shutil
    if how == "missing":
        shutil.rmtree(imagenet_tree / "val" / "n03")
    else:
        for f in (imagenet_tree / "val" / "n03").iterdir():
            f.unlink()
    with pytest.raises(ConfigError, match=r"no images for 1 of its 3 classes \(n03\).*allow_missing_classes"):
        build_data(_cfg(imagenet_tree), 0, CPU, 4, 4)
    data = build_data(_cfg(imagenet_tree, allow_missing_classes=True), 0, CPU, 4, 4)
    assert data.num_classes == 3 and data.info["absent_classes"] == {"test": ["n03"]}


def test_grayscale_cmyk_and_misnamed_png_become_256_rgb_frames(imagenet_tree):
    for name in ["n01/n01_gray.JPEG", "n02/n02_cmyk.JPEG", "n03/n03_png.JPEG", "n01/n01_0.JPEG"]:
        img = load_rgb(str(imagenet_tree / "train" / name), 256)
        assert img.mode == "RGB" and img.size == (256, 256), name
    cyan = np.asarray(load_rgb(str(imagenet_tree / "train" / "n02" / "n02_cmyk.JPEG")))
    np.testing.assert_allclose(cyan.reshape(-1, 3).mean(0), [0, 255, 255], atol=8)


def test_shorter_side_to_256_then_the_central_square(tmp_path):
    img = np.zeros((200, 400, 3), dtype=np.uint8)  # resized ×1.28 to 512×256, columns 128..383 kept
    img[:, 120:280] = 255  # the white band lands at frame columns ~26..230
    frame = np.asarray(load_rgb(str(_save(tmp_path / "wide.png", Image.fromarray(img), "PNG")), 256))
    assert frame.shape == (256, 256, 3)
    assert frame[:, 40:216].min() == 255 and frame[:, :16].max() < 30 and frame[:, -16:].max() < 30


def test_unreadable_image_is_named_or_skipped_and_counted(imagenet_tree):
    data = build_data(_cfg(imagenet_tree, augment="crop_flip_pca"), 0, CPU, 8, 8)
    assert data.info["loader"] == "dataloader" and data.num_classes == 3 and data.image_size == 224
    with pytest.raises(BadImageError, match="n03_bad.JPEG.*data.skip_bad=true"):
        list(data.train)
    data = build_data(_cfg(imagenet_tree, augment="crop_flip_pca", skip_bad=True), 0, CPU, 8, 8)
    with pytest.warns(UserWarning, match="n03_bad.JPEG"):
        batches = list(data.train)
    assert sum(len(y) for _, y in batches) == 15 and len(data.train.skipped) == 1
    x, y = batches[0]
    assert x.shape == (8, 3, 224, 224) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_ten_crop_validation_batches(imagenet_tree):
    data = build_data(_cfg(imagenet_tree, test_crops=10), 0, CPU, 4, 4)
    x, y = next(iter(data.val))
    assert x.shape == (4, 10, 3, 224, 224) and data.test is None and data.val.num_images == 9
    torch.testing.assert_close(x[:, 5:], x[:, :5].flip(-1))


@pytest.mark.parametrize("layout", ["missing", "flat_val"])
def test_missing_or_unprepared_imagenet_is_one_clear_error(tmp_path, layout):
    if layout == "flat_val":
        _save(tmp_path / "train" / "n01" / "a.JPEG", _photo(64, 64, 0))
        _save(tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG", _photo(64, 64, 1))
    with pytest.raises(ConfigError, match=r"train/<wnid>/\*\.JPEG") as err:
        build_data(_cfg(tmp_path), 0, CPU, 4, 4)
    assert ("holds images directly" in str(err.value)) == (layout == "flat_val")


def test_tensor_loader_is_refused_for_file_backed_imagenet(imagenet_tree):
    with pytest.raises(ConfigError, match="data.loader=tensor needs an in-memory"):
        build_data(_cfg(imagenet_tree, loader="tensor"), 0, CPU, 4, 4)


def test_workers_give_the_same_batches_as_the_main_process(imagenet_tree):
    """Order and augmentation are keyed by (seed, epoch, index): worker count and resume point do not matter."""
    def epoch(workers, start):
        data = build_data(_cfg(imagenet_tree, augment="crop_flip_pca", skip_bad=True, workers=workers), 0, CPU, 4, 4)
        data.train.set_epoch(1, start_batch=start)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the corrupt file is skipped with a warning
            return list(data.train)
    serial, parallel = epoch(0, 0), epoch(2, 2)
    assert len(serial) == 4 and len(parallel) == 2
    for (xa, ya), (xb, yb) in zip(serial[2:], parallel, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_synthetic_imagenet_is_imagenet_shaped_and_in_memory():
    data = build_data(DataConfig(name="synthetic_imagenet", subset=30, test_subset=10, augment="crop_flip"),
                      0, CPU, 8, 10)
    x, y = next(iter(data.train))
    assert x.shape == (8, 3, 224, 224) and data.num_classes == 1000 and data.info["loader"] == "tensor"
    assert data.train.images.shape == (30, 256, 256, 3) and data.val.num_images == 10


def _good_train_frames(root: Path) -> list[np.ndarray]:
    return [np.asarray(load_rgb(str(p), 256)) for p in sorted((root / "train").rglob("*.JPEG")) if "bad" not in p.name]


def test_imagenet_paper_mean_is_a_seeded_cached_sample_of_the_training_frames(imagenet_tree, tmp_path):
    def cfg(**kw):
        return _cfg(imagenet_tree, normalize="paper", skip_bad=True, cache_dir=str(tmp_path / "cache"), **kw)

    a = build_data(cfg(mean_sample=6), 0, CPU, 4, 4)
    about = a.info["mean_image"]
    assert about["sample"] == 6 and about["images"] + about["skipped"] == 6 and about["cache"] == "built"
    assert about["size"] == [256, 256] and len(about["sample_pixel_stats"]["eigval"]) == 3
    b = build_data(cfg(mean_sample=6), 1, CPU, 4, 4)  # another run seed: the same sample, from the cache
    assert b.info["mean_image"]["cache"] == "hit" and torch.equal(a.val.norm.patch, b.val.norm.patch)
    full = build_data(cfg(mean_sample=0), 0, CPU, 4, 4)  # 0 = every training image
    about = full.info["mean_image"]
    assert (about["images"], about["skipped"], about["cache"]) == (15, 1, "built")
    by_hand = np.mean(_good_train_frames(imagenet_tree), 0)[16:240, 16:240].transpose(2, 0, 1)
    torch.testing.assert_close(full.val.norm.patch, torch.from_numpy(by_hand).float(), rtol=0, atol=1e-3)
    assert not torch.equal(a.val.norm.patch, full.val.norm.patch)
    # A training file added anywhere changes the key (the sample may change with the listing).
    _save(imagenet_tree / "train" / "n02" / "n02_new.JPEG", _photo(300, 280, 99))
    assert build_data(cfg(mean_sample=6), 0, CPU, 4, 4).info["mean_image"]["cache"] == "built"


def test_imagenet_paper_mean_names_an_unreadable_sampled_file(imagenet_tree, tmp_path):
    with pytest.raises(BadImageError, match="n03_bad.JPEG.*data.skip_bad=true"):
        build_data(_cfg(imagenet_tree, normalize="paper", cache_dir=str(tmp_path / "c")), 0, CPU, 4, 4)


def test_imagenet_paper_input_is_the_raw_crop_minus_the_mean_patch(imagenet_tree, tmp_path):
    data = build_data(_cfg(imagenet_tree, normalize="paper", augment="crop_flip", test_crops=10, skip_bad=True,
                           cache_dir=str(tmp_path / "cache")), 0, CPU, 4, 3)
    patch = data.val.norm.patch
    assert patch.shape == (3, 224, 224) and torch.equal(patch, data.train.norm.patch)
    paths, order, seen = data.val.loader.dataset.items, data.val.order(), 0
    for x, _ in data.val:  # ten views: corners at 0 and 32, centre at 16, then the same mirrored
        for k, i in enumerate(order[seen:seen + len(x)]):
            frame = np.asarray(load_rgb(os.fsdecode(paths[i]), 256))
            for v, (oy, ox, flip) in enumerate(data.val.loader.dataset.geometry.ten_crops()):
                crop = frame[oy:oy + 224, ox:ox + 224][:, ::-1 if flip else 1].transpose(2, 0, 1)
                assert torch.equal(x[k, v], torch.from_numpy(crop.astype(np.float32)) - patch), (i, v)
        seen += len(x)
    assert seen == 9
    # Training batches: the same step on each worker's random crop and flip of the frame.
    samples = data.train.loader.dataset
    data.train.set_epoch(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the corrupt file is skipped with a warning
        x, _ = next(iter(data.train))
    crops = [samples[(int(i), 1)][0] for i in data.train.order()[:4]]
    expected = torch.stack([c for c in crops if c is not None]).float() - patch
    assert torch.equal(x, expected)


def test_synthetic_imagenet_paper_mean_is_computed_directly():
    from ablate.data import DATASETS
    cfg = DataConfig(name="synthetic_imagenet", subset=20, test_subset=4, normalize="paper")
    data = build_data(cfg, 0, CPU, 4, 4)
    about = data.info["mean_image"]
    assert about["images"] == 20 and "sample" not in about
    full = DATASETS.build("synthetic_imagenet", cfg).train_x.astype(np.float64).mean(0)
    torch.testing.assert_close(data.train.norm.patch, torch.from_numpy(full[16:240, 16:240].transpose(2, 0, 1)),
                               rtol=0, atol=1e-4, check_dtype=False)
    x, _ = next(iter(data.val))
    raw = data.val.images[:, 16:240, 16:240].permute(0, 3, 1, 2)
    assert torch.equal(x, raw.float() - data.train.norm.patch)
