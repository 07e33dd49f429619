"""data.normalize: `standard` unchanged bit for bit, `paper` = raw crop − centre patch of the mean image, exactly,
on both batch sources, for random crops, flips, 24×24 crops, the centre crop and the ten test crops."""

from pathlib import Path

import numpy as np
import pytest
import torch

from ablate.config import Config, DataConfig
from ablate.data import DATASETS, ArrayDataset, build_data
from ablate.data import augment as A
from ablate.data.loader import TensorLoader, make_generator
from ablate.data.normalize import CentredRaw, Normalizer, mean_image, mean_patch, pixel_stats
from ablate.registry import ConfigError
from ablate.validate import validate

CPU = torch.device("cpu")


def _cut(img: np.ndarray, oy: int, ox: int, flip: bool, geo: A.Geometry) -> np.ndarray:
    """One crop cut by hand from a uint8 HWC frame: zero padding, slice, mirror → CHW."""
    p = geo.pad
    crop = np.pad(img, ((p, p), (p, p), (0, 0)))[oy:oy + geo.size, ox:ox + geo.size]
    return (crop[:, ::-1] if flip else crop).transpose(2, 0, 1)


def _raw_batches(loader, epoch: int = 1):
    """The uint8 crops and α each batch of `loader` should hold, from the documented per-batch (tensor path) or
    per-image (DataLoader path) draws, cut with numpy: what the input scale is then applied to."""
    tensor = isinstance(loader, TensorLoader)
    src = loader if tensor else loader.loader.dataset
    images = loader.images.numpy() if tensor else src.items
    geo, order, bs = src.geometry, loader.order(), loader.batch_size
    out = []
    for b in range(len(loader)):
        idx = order[b * bs:(b + 1) * bs]
        if src.crops == 10:
            raw = np.stack([[_cut(images[i], oy, ox, f, geo) for oy, ox, f in geo.ten_crops()] for i in idx])
            out.append((torch.from_numpy(raw), None))
            continue
        if loader.train and src.augment is not None and tensor:
            p = src.augment.draw(len(idx), geo, make_generator(loader.seed, epoch, 0, b), src.pca_std)
            draws = [(int(p.oy[k]), int(p.ox[k]), bool(p.flip[k])) for k in range(len(idx))]
            alpha = p.alpha
        elif loader.train and src.augment is not None:
            ps = [src.augment.draw(1, geo, make_generator(loader.seed, epoch, int(i)), src.pca_std) for i in idx]
            draws = [(int(p.oy[0]), int(p.ox[0]), bool(p.flip[0])) for p in ps]
            alpha = torch.cat([p.alpha for p in ps]) if ps[0].alpha is not None else None
        else:
            draws = [(geo.centre(), geo.centre(), False)] * len(idx)
            alpha = None
        raw = np.stack([_cut(images[i], *d, geo) for i, d in zip(idx, draws, strict=True)])
        out.append((torch.from_numpy(raw), alpha))
    return out


def _epoch(loader, epoch: int = 1):
    loader.set_epoch(epoch)
    return list(loader)


def _cfg(**kw):
    base = dict(name="synthetic", subset=40, test_subset=12, val_size=10)
    return DataConfig(**{**base, **kw})


def _old_pixel_stats(images, chunk=512):
    """pixel_stats as it was before data.normalize existed, verbatim: the reference for `standard`."""
    total, outer, n = np.zeros(3), np.zeros((3, 3)), 0
    for start in range(0, len(images), chunk):
        px = images[start:start + chunk].reshape(-1, images.shape[-1]).astype(np.float32) - 127.5
        total += px.sum(0, dtype=np.float64)
        outer += px.T @ px
        n += len(px)
    mean = total / n
    cov = (outer / n - np.outer(mean, mean)) / 255**2
    eigval, eigvec = np.linalg.eigh(cov)
    order = np.argsort(eigval)[::-1]
    return {"mean": ((mean + 127.5) / 255).tolist(), "std": np.sqrt(np.diag(cov)).tolist(),
            "eigval": eigval[order].tolist(), "eigvec": eigvec[:, order].tolist()}


def _old_formula(raw: torch.Tensor, alpha, s: dict) -> torch.Tensor:
    """The old Normalizer, written out: [0, 1], lighting in [0, 1] units, channel mean/std."""
    mean = torch.tensor(s["mean"], dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(s["std"], dtype=torch.float32).view(-1, 1, 1)
    x = raw.float().div_(255)
    if alpha is not None:
        shift = (alpha.float() * torch.tensor(s["eigval"], dtype=torch.float32)) @ torch.tensor(
            s["eigvec"], dtype=torch.float32).T
        x = x + shift[:, :, None, None]
    return (x - mean) / std


@pytest.mark.parametrize("loader", ["tensor", "dataloader"])
def test_standard_is_bit_identical_to_the_old_formula(loader):
    data = build_data(_cfg(loader=loader, augment="crop_flip_pca", test_crops=10), 3, CPU, 8, 6)
    assert data.info["normalize"] == "standard" and "mean_image" not in data.info
    train_images = data.train.images.numpy() if loader == "tensor" else data.train.loader.dataset.items
    old = _old_pixel_stats(train_images)
    assert all(data.info[k] == old[k] for k in ("mean", "std", "eigval", "eigvec"))
    for source in (data.train, data.val):
        batches = _epoch(source)
        expected = _raw_batches(source)
        assert len(batches) == len(expected) > 1
        for (x, _), (raw, alpha) in zip(batches, expected, strict=True):
            assert torch.equal(x, _old_formula(raw, alpha, old))


@pytest.mark.parametrize("loader", ["tensor", "dataloader"])
@pytest.mark.parametrize("case", [
    dict(augment="crop_flip"),  # random 32×32 crops of the 40×40 zero-padded frame, flips
    dict(augment="crop_flip_pca"),  # the same with lighting, ×255
    dict(augment="crop_flip", crop_size=24, crop_padding=0),  # cuda-convnet's CIFAR crops
    dict(augment="none", crop_size=24, crop_padding=0, test_crops=10),  # centre crop; ten 24×24 test views
    dict(augment="none", test_crops=10),  # ten test views that reach into the padding
], ids=["crop_flip", "pca", "crop24", "centre24_10crop", "10crop_padded"])
def test_paper_input_is_the_raw_crop_minus_the_mean_patch_exactly(loader, case):
    cfg = _cfg(loader=loader, normalize="paper", **case)
    data = build_data(cfg, 3, CPU, 8, 6)
    # The mean image is over the data set's whole training split (40 images), not the 30 left after val_size.
    full = DATASETS.build(cfg.name, cfg).train_x
    geo = data.train.geometry if loader == "tensor" else data.train.loader.dataset.geometry
    patch = data.train.norm.patch
    by_hand = np.pad(full.astype(np.float64).mean(0), ((geo.pad,) * 2, (geo.pad,) * 2, (0, 0)))
    c = geo.centre()
    torch.testing.assert_close(patch, torch.from_numpy(by_hand[c:c + geo.size, c:c + geo.size].transpose(2, 0, 1)),
                               rtol=0, atol=1e-4, check_dtype=False)
    assert patch.shape == (3, geo.size, geo.size) and data.info["mean_image"]["images"] == 40
    for source in (data.train, data.val):
        for (x, _), (raw, alpha) in zip(_epoch(source), _raw_batches(source), strict=True):
            expected = raw.float()
            if alpha is not None:
                expected = expected + 255 * data.train.norm.lighting(alpha)[:, :, None, None]
            assert x.dtype == torch.float32 and torch.equal(x, expected - patch)


def test_mean_patch_is_the_centre_crop_of_the_zero_padded_mean_image():
    mean = np.arange(4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3)
    chw = mean.transpose(2, 0, 1)
    np.testing.assert_array_equal(mean_patch(mean, A.Geometry(4, 4, 1)), chw)  # pad 1: the centre is the frame
    np.testing.assert_array_equal(mean_patch(mean, A.Geometry(4, 2, 0)), chw[:, 1:3, 1:3])
    wide = mean_patch(mean, A.Geometry(4, 6, 1))  # a crop bigger than the frame takes in the zero padding
    np.testing.assert_array_equal(wide[:, 1:5, 1:5], chw)
    assert (wide[:, 0] == 0).all() and (wide[:, :, -1] == 0).all()


def test_paper_padding_is_black_raw_pixels_and_flips_keep_the_patch_unflipped():
    images = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    geo = A.Geometry(8, 8, 2)
    s = pixel_stats(images)
    norm = CentredRaw(mean_patch(mean_image(images), geo), s["eigval"], s["eigvec"], CPU)
    crop = A.crop_flip(torch.from_numpy(images[:1]), torch.tensor([0]), torch.tensor([4]), torch.tensor([True]), geo)
    x = norm(crop)[0]
    # Rows 0–1 come from the zero padding: 0 − the patch's rows, not 0 − a shifted or mirrored mean.
    assert torch.equal(x[:, :2], -norm.patch[:, :2])
    expected = torch.from_numpy(_cut(images[0], 0, 4, True, geo).astype(np.float32)) - norm.patch
    assert torch.equal(x, expected)


@pytest.mark.parametrize("eigen", ["cifar_like", "imagenet_constants"])
def test_pca_shift_is_the_same_in_pixel_units_in_both_modes(eigen):
    images = np.random.default_rng(1).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    s = pixel_stats(images)
    if eigen == "imagenet_constants":
        s = {**s, "eigval": list(A.IMAGENET_EIGVAL), "eigvec": [list(r) for r in A.IMAGENET_EIGVEC]}
    geo = A.Geometry(8, 8, 0)
    standard = Normalizer(s["mean"], s["std"], s["eigval"], s["eigvec"], CPU)
    paper = CentredRaw(mean_patch(mean_image(images), geo), s["eigval"], s["eigvec"], CPU)
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    alpha = torch.randn(16, 3, generator=torch.Generator().manual_seed(0)) * 0.1
    in_pixels = (standard(x, alpha) - standard(x)) * standard.std * 255  # standard's shift, back in 0–255 units
    moved = paper(x, alpha) - paper(x)
    torch.testing.assert_close(moved, in_pixels, rtol=0, atol=2e-3)
    # Every pixel of a channel moves by 255 × the [0, 1] shift Σ p_i α_i λ_i; not a no-op.
    torch.testing.assert_close(moved, (255 * standard.lighting(alpha))[:, :, None, None].expand_as(moved),
                               rtol=0, atol=2e-3)
    assert moved.abs().max() > 0.5


def test_paper_records_the_mean_in_the_run_info():
    data = build_data(_cfg(normalize="paper"), 0, CPU, 8, 8)
    full = DATASETS.build("synthetic", _cfg()).train_x
    about = data.info["mean_image"]
    assert data.info["normalize"] == "paper" and about["images"] == 40 and about["size"] == [32, 32]
    np.testing.assert_allclose(about["channel_mean"], full.reshape(-1, 3).mean(0), atol=1e-3)
    assert "whole" in about["split"]


def test_a_paper_run_with_24px_crops_trains_and_summary_json_records_the_mean(make_config):
    import json

    import ablate
    cfg = make_config(["data.normalize=paper", "data.crop_size=24", "data.crop_padding=0", "data.augment=crop_flip"])
    summary = ablate.train(cfg)
    assert summary["status"] == "completed" and summary["data"]["image_size"] == 24
    written = json.loads((Path(cfg.out_dir) / "summary.json").read_text())["data"]
    assert written["normalize"] == "paper" and written["mean_image"]["images"] == 200
    assert len(written["mean_image"]["channel_mean"]) == 3


@pytest.mark.parametrize("override, message", [
    (dict(normalize="raw"), "data.normalize='raw'.*standard, paper"),
    (dict(crop_size=0), "data.crop_size=0 must be a positive"),
    (dict(name="cifar10", crop_size=41), r"data.crop_size=41 does not fit cifar10's 32×32 images padded by "
                                         r"data.crop_padding=4 \(40×40 at most\).*<= 40 or raise data.crop_padding"),
    (dict(name="cifar10", crop_size=33, crop_padding=0), "<= 32"),
    (dict(name="imagenet", crop_size=300, crop_padding=30), r"imagenet's 256×256 images \(256×256.*<= 256, or null"),
    (dict(mean_sample=-1), "data.mean_sample=-1 must be >= 0"),
])
def test_bad_normalize_or_crop_size_fails_at_validation_naming_the_fix(override, message):
    with pytest.raises(ConfigError, match=message):
        validate(Config(data=DataConfig(**override)))


def test_crop_sizes_that_fit_are_accepted_and_unknown_frames_are_checked_at_load():
    for ok in (dict(name="cifar10", crop_size=24, crop_padding=0), dict(name="cifar10", crop_size=40),
               dict(name="imagenet", crop_size=256), dict(name="synthetic", crop_size=None)):
        validate(Config(data=DataConfig(**ok)))
    ds = ArrayDataset(np.zeros((2, 8, 8, 3), np.uint8), np.arange(2), np.zeros((2, 8, 8, 3), np.uint8),
                      np.arange(2), ("a", "b"))
    assert ds.geometry(1, 10) == A.Geometry(8, 10, 1)
    with pytest.raises(ConfigError, match="data.crop_size=11 does not fit"):
        ds.geometry(1, 11)


def test_paper_protocol_presets_use_the_paper_scale_and_the_rest_standard():
    from ablate.cli import to_config
    from tests.conftest import compose_cfg
    for name in ("paper_imagenet", "cifar10_convlocal", "cifar10_convnet4", "cifar10_alexnet"):
        assert to_config(compose_cfg([f"+experiment={name}"])).data.normalize == "paper", name
    assert to_config(compose_cfg(["+experiment=fig1_demo"])).data.normalize == "standard"
    assert to_config(compose_cfg([])).data.normalize == "standard" and DataConfig().normalize == "standard"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_resident_paper_path_matches_the_cpu_one():
    def epoch(device):
        data = build_data(_cfg(normalize="paper", augment="crop_flip_pca"), 1, device, 8, 8)
        return [(x.cpu(), y.cpu()) for x, y in _epoch(data.train)]

    for (xa, ya), (xb, yb) in zip(epoch(CPU), epoch(torch.device("cuda")), strict=True):
        torch.testing.assert_close(xa, xb, rtol=0, atol=1e-3)
        assert torch.equal(ya, yb)
