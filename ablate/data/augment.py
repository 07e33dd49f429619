"""The augmentation axis (paper §4.1): random crops, horizontal flips and PCA colour (lighting) noise.

One description, two implementations with the same semantics: `crop_flip` gathers a whole uint8 NHWC batch at
once (tensor path, CPU or GPU, no per-sample Python) and `pil_crop_flip` does one PIL image (DataLoader path).
Given the same offsets and flips they give the same pixels (tests/test_data_augment.py checks it).

Geometry: an image is stored as a `frame` (32×32 for CIFAR-10, 256×256 for ImageNet), zero-padded by `pad`
pixels on each side, and a `size`×`size` crop is taken at (oy, ox) in the padded frame, then maybe mirrored.
Without random crops the crop is the centre one; that is also the single test crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps

from ablate.data.normalize import Normalizer, pixel_stats  # noqa: F401 (their old home; bench/ imports them here)
from ablate.registry import Registry

AUGMENTS = Registry("data.augment")

# AlexNet's lighting noise for ImageNet (and synthetic_imagenet), in both data.normalize modes: the values
# fb.resnet.torch publishes (datasets/imagenet.lua: "Computed from random subset of ImageNet training images";
# columns of IMAGENET_EIGVEC are the eigenvectors). We read them like CIFAR-10's computed ones: eigenvalues
# (variances) of the RGB covariance of pixels in [0, 1]. Unknown: the script, the subset and its size, the image
# size, the rounding. Their sum, 0.241, is not the total variance implied by IMAGENET_STATS' std (3 × ~0.226² ≈
# 0.153), but those std values are most likely means of per-image stds (pytorch/vision#1439, #1965), which
# leave out the spread between images; the same threads measure a root-mean per-image variance of 0.26–0.29
# per channel, i.e. ≥ 0.22–0.24 in total, in line with 0.241. With data.normalize=paper an ImageNet run records
# its own sample's eigen-decomposition beside them (mean_image.sample_pixel_stats). See docs/data.md.
IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                   (-0.5808, -0.0045, -0.8140),
                   (-0.5836, -0.6948, 0.4203))


@dataclass(frozen=True)
class Geometry:
    frame: int  # stored image side, pixels
    size: int  # crop side fed to the model, pixels
    pad: int = 0  # zero padding around the frame before cropping, pixels

    @property
    def span(self) -> int:
        """Largest crop offset: offsets run over 0..span in each direction."""
        return self.frame + 2 * self.pad - self.size

    def centre(self) -> int:
        return self.span // 2

    def ten_crops(self) -> list[tuple[int, int, bool]]:
        """(oy, ox, flip) of the four corners and the centre, then the same five mirrored (paper §4.1)."""
        s, c = self.span, self.centre()
        five = [(0, 0), (0, s), (s, 0), (s, s), (c, c)]
        return [(oy, ox, False) for oy, ox in five] + [(oy, ox, True) for oy, ox in five]


@dataclass
class Params:
    """One batch's random draws: crop offsets, flips (B,) and lighting coefficients α (B, 3) or None."""
    oy: torch.Tensor
    ox: torch.Tensor
    flip: torch.Tensor
    alpha: torch.Tensor | None


@dataclass(frozen=True)
class Augment:
    crop: bool  # random crop offsets (else the centre crop)
    flip: bool  # mirror with probability 1/2
    pca: bool  # AlexNet lighting noise, α ~ N(0, pca_std²) per eigenvector

    def draw(self, n: int, geo: Geometry, gen: torch.Generator, pca_std: float) -> Params:
        """All random draws for n images from `gen`, in a fixed order, so a seeded generator fixes the batch."""
        if self.crop:
            oy = torch.randint(0, geo.span + 1, (n,), generator=gen)
            ox = torch.randint(0, geo.span + 1, (n,), generator=gen)
        else:
            oy = ox = torch.full((n,), geo.centre(), dtype=torch.int64)
        flip = torch.rand(n, generator=gen) < 0.5 if self.flip else torch.zeros(n, dtype=torch.bool)
        alpha = torch.randn(n, 3, generator=gen) * pca_std if self.pca and pca_std > 0 else None
        return Params(oy, ox, flip, alpha)


def centre_params(n: int, geo: Geometry) -> Params:
    c = torch.full((n,), geo.centre(), dtype=torch.int64)
    return Params(c, c, torch.zeros(n, dtype=torch.bool), None)


AUGMENTS.register("none", lambda: Augment(crop=False, flip=False, pca=False), summary="the centre crop, unflipped",
                  source="§4.1's baseline")
AUGMENTS.register("crop_flip", lambda: Augment(crop=True, flip=True, pca=False),
                  summary="random crops and horizontal flips", source="§4.1")
AUGMENTS.register("crop_flip_pca", lambda: Augment(crop=True, flip=True, pca=True),
                  summary="random crops, flips and PCA lighting noise (σ data.pca_std)", source="§4.1")


def crop_flip(images: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, flip: torch.Tensor,
              geo: Geometry) -> torch.Tensor:
    """uint8 NHWC frames → uint8 NCHW crops, one gather for the whole batch (a flip is reversed column indices)."""
    b, h, w, c = images.shape
    if geo.pad:
        padded = images.new_zeros(b, h + 2 * geo.pad, w + 2 * geo.pad, c)
        padded[:, geo.pad:geo.pad + h, geo.pad:geo.pad + w] = images
        images = padded
    dev = images.device
    ar = torch.arange(geo.size, device=dev)
    oy, ox, flip = oy.to(dev), ox.to(dev), flip.to(dev)
    rows = oy[:, None] + ar
    cols = ox[:, None] + torch.where(flip[:, None], geo.size - 1 - ar, ar)
    out = images[torch.arange(b, device=dev)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2)


def pil_crop_flip(img: Image.Image, oy: int, ox: int, flip: bool, geo: Geometry) -> torch.Tensor:
    """One RGB PIL frame → uint8 CHW crop, the per-sample twin of `crop_flip`."""
    if geo.pad:
        img = ImageOps.expand(img, border=geo.pad, fill=0)
    img = img.crop((ox, oy, ox + geo.size, oy + geo.size))
    if flip:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1)
