import numpy as np
import pytest
import torch

from ablate.config import Config, DataConfig
from ablate.data import CIFAR10_CLASSES, DATASETS, build_data, stratified_indices
from ablate.data.normalize import pixel_stats
from ablate.validate import validate


def test_stratified_indices_are_balanced_and_deterministic():
    labels = np.repeat(np.arange(10), 50)
    a = stratified_indices(labels, 105, seed=0)
    assert len(a) == 105 and len(set(a)) == 105
    counts = np.bincount(labels[a], minlength=10)
    assert counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(a, stratified_indices(labels, 105, seed=0))
    assert not np.array_equal(a, stratified_indices(labels, 105, seed=1))
    with pytest.raises(ValueError):
        stratified_indices(labels, 501, seed=0)


def test_embedded_cifar10_mini_is_real_balanced_cifar():
    ds = DATASETS.build("cifar10_mini", DataConfig(name="cifar10_mini"))
    assert ds.train_x.shape == (4000, 32, 32, 3) and ds.test_x.shape == (1000, 32, 32, 3)
    assert ds.train_x.dtype == np.uint8 and ds.classes == CIFAR10_CLASSES
    assert (np.bincount(ds.train_y) == 400).all() and (np.bincount(ds.test_y) == 100).all()
    mean = pixel_stats(ds.train_x)["mean"]
    # CIFAR-10's train means are (0.4914, 0.4822, 0.4465): a 4000-image sample lands close to them.
    np.testing.assert_allclose(mean, [0.4914, 0.4822, 0.4465], atol=0.02)


def test_embedded_subset_matches_the_shared_files(shared_cifar):
    import json

    from PIL import Image

    from ablate.data.mini import ASSETS
    files = json.loads((ASSETS / "files.json").read_text())
    ds = DATASETS.build("cifar10_mini", DataConfig(name="cifar10_mini"))
    first_cat = np.flatnonzero(ds.train_y == CIFAR10_CLASSES.index("cat"))[0]
    original = np.asarray(Image.open(shared_cifar / "train" / "cat" / files["train/cat"][0]).convert("RGB"))
    np.testing.assert_array_equal(ds.train_x[first_cat], original)


def test_build_data_subset_val_split_and_normalisation():
    cfg = DataConfig(name="synthetic", subset=300, test_subset=50, val_size=60)
    data = build_data(cfg, seed=0, device=torch.device("cpu"), batch_size=32, eval_batch_size=64)
    assert data.train.num_images == 240 and data.val.num_images == 60 and data.test.num_images == 50
    assert len(data.train) == 8
    x, y = next(iter(data.train))
    assert x.shape == (32, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    everything = torch.cat([b for b, _ in data.train])
    assert abs(float(everything.mean())) < 0.05 and abs(float(everything.std()) - 1) < 0.05


def test_training_order_is_reshuffled_each_epoch_and_reproducible():
    cfg = DataConfig(name="synthetic", subset=100)
    data = build_data(cfg, seed=0, device=torch.device("cpu"), batch_size=100, eval_batch_size=100)
    data.train.set_epoch(1)
    (_, y1), = list(data.train)
    data.train.set_epoch(2)
    (_, y2), = list(data.train)
    data.train.set_epoch(1)
    (_, y1_again), = list(data.train)
    assert not torch.equal(y1, y2) and torch.equal(y1, y1_again)


@pytest.mark.parametrize("group", ["cifar10", "imagenet", "synthetic_imagenet", "synthetic", "cifar10_mini"])
def test_data_groups_compose_to_valid_configs(group):
    from ablate.cli import to_config
    from tests.conftest import compose_cfg
    cfg = to_config(compose_cfg([f"data={group}"]))
    assert cfg.data.name == group


@pytest.mark.parametrize("override, message", [
    (dict(test_crops=3), "choose 1 or 10"), (dict(loader="numpy"), "auto, tensor, dataloader"),
    (dict(augment="mixup"), "crop_flip_pca"), (dict(subset=0), "positive"), (dict(pca_std=-0.1), ">= 0")])
def test_bad_data_values_fail_at_validation_naming_the_fix(override, message):
    from ablate.registry import ConfigError
    with pytest.raises(ConfigError, match=message):
        validate(Config(data=DataConfig(**override)))


def test_engine_trains_on_cifar10_files_with_augmentation_and_reports_test_columns(make_config, tmp_path):
    """One tiny run through the real trainer: a CIFAR-10 ImageFolder copy, a validation split, 10-crop test."""
    import ablate
    from tests.test_data_cifar import write_folder
    rng = np.random.default_rng(0)
    for split, n in (("train", 60), ("test", 20)):
        write_folder(tmp_path / "c10", split, rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), np.arange(n) % 10)
    cfg = make_config(["data=cifar10", f"data.root={tmp_path / 'c10'}", f"data.cache_dir={tmp_path / 'cache'}",
                       "data.subset=null", "data.test_subset=null", "data.val_size=10", "data.augment=crop_flip_pca",
                       "data.test_crops=10", "trainer.batch_size=25"])
    summary = ablate.train(cfg)
    assert summary["status"] == "completed" and summary["data"]["train_images"] == 50
    assert 0 <= summary["final"]["test_top1_err"] <= 1 and summary["data"]["test_images"] == 20


@pytest.mark.parametrize("augment,start", [("crop_flip_pca", 0), ("crop_flip", 3), ("none", 0)])
def test_epoch_draws_made_up_front_are_each_batchs_own_draws(augment, start):
    """TensorLoader draws a whole epoch's crops, flips and lighting at once (one copy to the device per epoch):
    every batch, the partial last one and a resumed epoch's included, is what drawing it alone would give."""
    from ablate.data.augment import AUGMENTS, Geometry, Normalizer, crop_flip
    from ablate.data.loader import TensorLoader

    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (70, 8, 8, 3), dtype=np.uint8), rng.integers(0, 10, 70)
    norm = Normalizer([0.5] * 3, [0.25] * 3, [0.2, 0.02, 0.005], np.eye(3).tolist(), torch.device("cpu"))
    geo = Geometry(8, 6, 2)
    loader = TensorLoader(images, labels, 16, norm, geo, train=True, augment=AUGMENTS.build(augment), seed=3)
    loader.set_epoch(2, start_batch=start)
    got = list(loader)
    order = torch.from_numpy(loader.order())
    assert len(got) == len(loader) - start == 5 - start
    for (x, y), batch in zip(got, range(start, len(loader)), strict=True):
        idx = order[batch * 16:(batch + 1) * 16]
        p = loader.params(len(idx), batch)
        want = norm(crop_flip(torch.from_numpy(images)[idx], p.oy, p.ox, p.flip, geo), p.alpha)
        assert torch.equal(x, want) and torch.equal(y, torch.from_numpy(labels)[idx])
    assert len(got[-1][1]) == 70 - 4 * 16  # the partial batch
