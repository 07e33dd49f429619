"""The augmentation axis: tensor and PIL paths agree, 10-crop testing, PCA lighting, exact resume, sharding."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ablate.config import DataConfig
from ablate.data import augment as A
from ablate.data import build_data
from ablate.data.files import FileLoader, SampleDataset
from ablate.data.loader import TensorLoader, epoch_order
from ablate.engine import evaluate

CPU = torch.device("cpu")


def _images(n=12, side=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def _norm(images):
    s = A.pixel_stats(images)
    return A.Normalizer(s["mean"], s["std"], s["eigval"], s["eigvec"], CPU)


@pytest.mark.parametrize("geo", [A.Geometry(32, 32, 4), A.Geometry(40, 32, 0), A.Geometry(9, 5, 2)])
def test_batched_crop_flip_matches_pil_per_sample(geo):
    images = _images(16, geo.frame)
    gen = torch.Generator().manual_seed(0)
    p = A.AUGMENTS.build("crop_flip").draw(16, geo, gen, 0.1)
    assert p.flip.any() and not p.flip.all() and len(set(p.oy.tolist())) > 1
    batched = A.crop_flip(torch.from_numpy(images), p.oy, p.ox, p.flip, geo)
    assert batched.shape == (16, 3, geo.size, geo.size) and batched.dtype == torch.uint8
    for i in range(16):
        one = A.pil_crop_flip(Image.fromarray(images[i]), int(p.oy[i]), int(p.ox[i]), bool(p.flip[i]), geo)
        assert torch.equal(batched[i], one), i


def test_crop_semantics_padding_and_flip_by_hand():
    img = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(1, 4, 4, 3)
    geo = A.Geometry(4, 4, 1)
    out = A.crop_flip(torch.from_numpy(img), torch.tensor([0]), torch.tensor([2]), torch.tensor([True]), geo)[0]
    padded = np.pad(img[0], ((1, 1), (1, 1), (0, 0)))
    expected = padded[0:4, 2:6][:, ::-1].transpose(2, 0, 1)
    np.testing.assert_array_equal(out.numpy(), expected)
    assert (out[:, 0] == 0).all()  # the top row comes from the zero padding


CIFAR_GEO = A.Geometry(32, 32, 4)


def _loaders(images, labels, train, crops=1, augment="crop_flip_pca", geo=CIFAR_GEO, **kw):
    aug, norm = A.AUGMENTS.build(augment), _norm(images)
    t = TensorLoader(images, labels, 5, norm, geo, train=train, augment=aug, crops=crops, seed=3, **kw)
    ds = SampleDataset(images, labels, geo, train=train, augment=aug, pca_std=0.1, crops=crops, seed=3,
                       skip_bad=False)
    return t, FileLoader(ds, 5, norm, workers=0, seed=3, **kw)


@pytest.mark.parametrize("crops", [1, 10])
def test_tensor_and_dataloader_paths_give_the_same_eval_batches(crops):
    images, labels = _images(12), np.arange(12) % 3
    tensor, files = _loaders(images, labels, train=False, crops=crops)
    for (xa, ya), (xb, yb) in zip(tensor, files, strict=True):
        torch.testing.assert_close(xa, xb, rtol=0, atol=1e-6)
        assert torch.equal(ya, yb)


def test_ten_crops_are_corners_centre_and_their_mirrors():
    images, labels = _images(4), np.arange(4)
    geo = A.Geometry(32, 24, 0)
    tensor, _ = _loaders(images, labels, train=False, crops=10, geo=geo)
    x, _ = next(iter(tensor))
    assert x.shape == (4, 10, 3, 24, 24)
    centre, _ = next(iter(_loaders(images, labels, train=False, crops=1, geo=geo)[0]))
    torch.testing.assert_close(x[:, 4], centre)
    torch.testing.assert_close(x[:, 5:], x[:, :5].flip(-1))
    norm = tensor.norm
    raw = torch.from_numpy(images).permute(0, 3, 1, 2)
    torch.testing.assert_close(x[:, 0], norm(raw[:, :, :24, :24]))  # top-left
    torch.testing.assert_close(x[:, 3], norm(raw[:, :, 8:, 8:]))  # bottom-right


def test_ten_crop_evaluation_averages_the_softmax():
    images, labels = _images(10), np.arange(10) % 4
    loader, _ = _loaders(images, labels, train=False, crops=10)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 4))
    got = evaluate(model, loader)
    with torch.no_grad():
        probs = torch.cat([model(x.flatten(0, 1)).softmax(-1).view(len(x), 10, -1).mean(1)
                           for x, _ in loader])
    y = torch.from_numpy(labels)
    assert got["loss"] == pytest.approx(float(F.nll_loss(probs.log(), y)), rel=1e-5)
    assert got["top1_err"] == pytest.approx(float((probs.argmax(1) != y).float().mean()))


def test_pca_lighting_shift_has_the_expected_scale():
    norm = A.Normalizer([0.5] * 3, [1.0] * 3, A.IMAGENET_EIGVAL, A.IMAGENET_EIGVEC, CPU)
    geo = A.Geometry(8, 8, 0)
    aug = A.AUGMENTS.build("crop_flip_pca")
    p = aug.draw(20000, geo, torch.Generator().manual_seed(0), 0.1)
    shift = norm.lighting(p.alpha)
    expected = 0.1 * np.sqrt(((np.array(A.IMAGENET_EIGVEC) * np.array(A.IMAGENET_EIGVAL)) ** 2).sum(1))
    np.testing.assert_allclose(shift.std(0).numpy(), expected, rtol=0.05)
    assert shift.mean(0).abs().max() < 3 * expected.max() / np.sqrt(20000) + 1e-4
    # Applied to an image, lighting moves every pixel of a channel by the same amount: its mean moves by it.
    x = torch.full((2, 3, 8, 8), 128, dtype=torch.uint8)
    out = norm(x, p.alpha[:2]) - norm(x)
    torch.testing.assert_close(out.mean((2, 3)), shift[:2])
    torch.testing.assert_close(out.std((2, 3)), torch.zeros(2, 3), atol=1e-6, rtol=0)


def test_pixel_stats_eigen_decomposition_rebuilds_the_covariance():
    images = _images(50, 8)
    images[..., 1] = images[..., 0] // 2 + images[..., 1] // 2  # correlated channels, like real photos
    s = A.pixel_stats(images, chunk=7)
    px = images.reshape(-1, 3) / 255
    np.testing.assert_allclose(s["mean"], px.mean(0), atol=1e-6)
    np.testing.assert_allclose(s["std"], px.std(0), atol=1e-6)
    v, lam = np.array(s["eigvec"]), np.array(s["eigval"])
    np.testing.assert_allclose(v @ np.diag(lam) @ v.T, np.cov(px.T, bias=True), atol=1e-6)
    assert lam[0] >= lam[1] >= lam[2]


def _batches(loader, epoch, start=0):
    loader.set_epoch(epoch, start_batch=start)
    return [(x.clone(), y.clone()) for x, y in loader]


@pytest.mark.parametrize("path", [0, 1], ids=["tensor", "dataloader"])
def test_resume_mid_epoch_yields_exactly_the_remaining_batches(path):
    images, labels = _images(23), np.arange(23) % 5
    loader = _loaders(images, labels, train=True)[path]
    full = _batches(loader, epoch=2)
    assert len(full) == len(loader) == 5
    resumed = _batches(loader, epoch=2, start=3)
    assert len(resumed) == 2
    for (xa, ya), (xb, yb) in zip(full[3:], resumed, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    other = _batches(loader, epoch=3)
    assert not torch.equal(torch.cat([x for x, _ in full]), torch.cat([x for x, _ in other]))


def test_training_augmentation_differs_between_batches_and_epochs_but_not_reruns():
    images = np.repeat(_images(1), 10, axis=0)  # one image 10 times: differences are augmentation only
    loader, _ = _loaders(images, np.zeros(10, dtype=np.int64), train=True)
    a, b, a2 = _batches(loader, 1), _batches(loader, 2), _batches(loader, 1)
    assert not torch.equal(a[0][0], a[1][0])  # batch 1 draws afresh, it does not repeat batch 0's draws
    xa = torch.cat([x for x, _ in a])
    assert torch.equal(xa, torch.cat([x for x, _ in a2])) and not torch.equal(xa, torch.cat([x for x, _ in b]))


def test_epoch_order_shards_are_disjoint_even_and_complete():
    n, world = 100, 3
    train = [epoch_order(n, 5, 1, True, r, world) for r in range(world)]
    assert {len(s) for s in train} == {34}
    assert set(np.concatenate(train)) == set(range(n))  # 2 images repeat to even the shards
    evals = [epoch_order(n, 5, 1, False, r, world) for r in range(world)]
    assert sorted(np.concatenate(evals).tolist()) == list(range(n))


@pytest.mark.parametrize("loader", ["tensor", "dataloader"])
def test_build_data_shards_per_rank(loader):
    cfg = DataConfig(name="synthetic", subset=100, test_subset=50, loader=loader)
    ranks = [build_data(cfg, 0, CPU, 16, 16, rank=r, world_size=3) for r in range(3)]
    assert {len(d.train) for d in ranks} == {3} and {d.train.num_images for d in ranks} == {34}
    assert sum(d.val.num_images for d in ranks) == 50
    sharded = torch.cat([x for d in ranks for x, _ in d.val])
    whole = torch.cat([x for x, _ in build_data(cfg, 0, CPU, 16, 16).val])
    assert len(sharded) == 50
    # Every validation image exactly once across the ranks: same multiset of per-image sums.
    torch.testing.assert_close(sharded.sum((1, 2, 3)).sort().values, whole.sum((1, 2, 3)).sort().values)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_resident_tensor_path_matches_the_cpu_one():
    images, labels = _images(40), np.arange(40) % 4
    stats = A.pixel_stats(images)

    def epoch(device):
        norm = A.Normalizer(stats["mean"], stats["std"], stats["eigval"], stats["eigvec"], device)
        loader = TensorLoader(images, labels, 16, norm, A.Geometry(32, 32, 4), train=True,
                              augment=A.AUGMENTS.build("crop_flip_pca"), seed=1)
        assert loader.images.device.type == device.type  # the whole uint8 set lives on the device
        loader.set_epoch(3)
        return [(x.cpu(), y.cpu()) for x, y in loader]

    for (xa, ya), (xb, yb) in zip(epoch(CPU), epoch(torch.device("cuda")), strict=True):
        torch.testing.assert_close(xa, xb, rtol=0, atol=1e-5)
        assert torch.equal(ya, yb)
