"""Input normalisation (`data.normalize`): uint8 crops → the float tensor the network sees.

- `standard`: (x/255 + lighting − channel mean) / channel std, with the training split's channel statistics
  (ImageNet: the published ones). Unit-scale inputs, today's common practice.
- `paper`: x + 255·lighting − μ, with x the raw 0–255 pixel values and μ the per-pixel mean image of the data
  set's whole training split — §2's "(centered) raw RGB values", as cuda-convnet fed them (input std ≈ 63).

Geometry follows cuda-convnet's CIFAR and ImageNet providers: crops (random, centre or the ten test views) and
flips act on the raw pixels; the mean image is cropped once, at the centre, to the crop size, and that patch is
subtracted from every crop — flipped or not, corner or centre; the patch itself is never flipped. Zero padding
(data.crop_padding) is raw black (0) in both modes: `standard` maps it to (0 − mean)/std, `paper` to 0 − μ.

Lighting (crop_flip_pca) has one definition for every data set, in [0, 1] pixel units: Σ_i p_i α_i λ_i with
p_i, λ_i the eigenvectors/eigenvalues of the RGB covariance of [0, 1] pixels. `paper` adds it ×255, so a given α
moves the raw pixels by the same amount in both modes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ablate.registry import ConfigError

if TYPE_CHECKING:
    from ablate.data import ArrayDataset
    from ablate.data.augment import Geometry

class InputScale:
    """What both modes share: the device, and AlexNet's per-image lighting shift in [0, 1] units."""

    def __init__(self, eigval, eigvec, device: torch.device):
        self.eigval = torch.tensor(eigval, dtype=torch.float32, device=device)
        self.eigvec = torch.tensor(eigvec, dtype=torch.float32, device=device)
        self.device = device

    def lighting(self, alpha: torch.Tensor) -> torch.Tensor:
        """AlexNet's per-image RGB shift Σ_i p_i α_i λ_i in [0, 1] pixel units, shape (B, 3)."""
        return (alpha.to(self.device, torch.float32) * self.eigval) @ self.eigvec.T

    def __call__(self, x: torch.Tensor, alpha: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


class Normalizer(InputScale):
    """`standard`: uint8 crops → [0, 1], lighting added in [0, 1] units, then channel mean/std normalised."""

    def __init__(self, mean, std, eigval, eigvec, device: torch.device):
        super().__init__(eigval, eigvec, device)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(-1, 1, 1)

    def __call__(self, x: torch.Tensor, alpha: torch.Tensor | None = None) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True).float().div_(255)
        if alpha is not None:
            x = x + self.lighting(alpha)[:, :, None, None]
        return (x - self.mean) / self.std


class CentredRaw(InputScale):
    """`paper`: raw 0–255 crops, lighting added ×255, minus the centre patch of the training mean image."""

    def __init__(self, patch: np.ndarray, eigval, eigvec, device: torch.device):
        super().__init__(eigval, eigvec, device)
        self.patch = torch.as_tensor(np.asarray(patch, dtype=np.float32)).to(device)  # C×H×W, 0–255 units

    def __call__(self, x: torch.Tensor, alpha: torch.Tensor | None = None) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True).float()
        if alpha is not None:
            x = x + 255 * self.lighting(alpha)[:, :, None, None]
        return x - self.patch  # broadcasts over the batch and over the ten test views alike


def mean_patch(mean_image: np.ndarray, geo) -> np.ndarray:
    """The centre crop (C×H×W) of the mean image, zero-padded like the images: subtracted from every crop."""
    p, c = geo.pad, geo.centre()
    padded = np.pad(mean_image, ((p, p), (p, p), (0, 0)))
    return np.ascontiguousarray(padded[c:c + geo.size, c:c + geo.size].transpose(2, 0, 1))


class Moments:
    """Running sums over chunks of uint8 NHWC images: channel moments (`stats`) and, with `per_pixel`, the
    per-pixel sum (`mean_image`). Chunked float32 products around mid-grey (little cancellation), accumulated
    in float64: the full CIFAR-10 never becomes one float64 copy (1.2 GB)."""

    def __init__(self, per_pixel: bool = False):
        self.total = np.zeros(3)
        self.outer = np.zeros((3, 3))
        self.n = 0  # pixels seen
        self.images = 0
        self.pixel_sum: np.ndarray | None = None  # float64 H×W×C, with per_pixel
        self.per_pixel = per_pixel

    def add(self, images: np.ndarray) -> None:
        px = images.reshape(-1, images.shape[-1]).astype(np.float32) - 127.5
        self.total += px.sum(0, dtype=np.float64)
        self.outer += px.T @ px
        self.n += len(px)
        self.images += len(images)
        if self.per_pixel:
            s = images.sum(0, dtype=np.float64)
            self.pixel_sum = s if self.pixel_sum is None else self.pixel_sum + s

    def stats(self) -> dict[str, list]:
        """Channel mean/std and the eigen-decomposition of the RGB covariance, pixels in [0, 1]."""
        mean = self.total / self.n
        cov = (self.outer / self.n - np.outer(mean, mean)) / 255**2
        eigval, eigvec = np.linalg.eigh(cov)
        order = np.argsort(eigval)[::-1]  # largest first, like the published ImageNet values
        return {"mean": ((mean + 127.5) / 255).tolist(), "std": np.sqrt(np.diag(cov)).tolist(),
                "eigval": eigval[order].tolist(), "eigvec": eigvec[:, order].tolist()}

    def mean_image(self) -> np.ndarray:
        return (self.pixel_sum / self.images).astype(np.float32)


def pixel_stats(images: np.ndarray, chunk: int = 512) -> dict[str, list]:
    """Per-channel mean/std and the eigen-decomposition of the RGB covariance of uint8 NHWC images in [0, 1]."""
    moments = Moments()
    for start in range(0, len(images), chunk):
        moments.add(images[start:start + chunk])
    return moments.stats()


def mean_image(images: np.ndarray, chunk: int = 512) -> np.ndarray:
    """The per-pixel, per-channel mean of uint8 NHWC images: float32 H×W×C in 0–255 units (float64 sums)."""
    total = np.zeros(images.shape[1:])
    for start in range(0, len(images), chunk):
        total += images[start:start + chunk].sum(0, dtype=np.float64)
    return (total / len(images)).astype(np.float32)


def describe_mean(mean: np.ndarray, images: int, **extra) -> dict:
    """What summary.json records about a mean image: its per-channel averages (0–255) and its provenance."""
    return {"channel_mean": [round(float(v), 3) for v in mean.reshape(-1, mean.shape[-1]).mean(0)],
            "size": list(mean.shape[:2]), "images": int(images), **extra}


def input_scale(mode: str, ds: ArrayDataset, stats: dict, geo: Geometry,
                device: torch.device) -> tuple[InputScale, dict]:
    """The data.normalize step shared by every batch source, and what the run records about it."""
    if mode == "standard":
        return Normalizer(stats["mean"], stats["std"], stats["eigval"], stats["eigvec"], device), {"normalize": mode}
    mean, about = ds.mean_image, ds.mean_info
    if mean is None:
        if not ds.in_memory:
            raise ConfigError(f"data.normalize=paper needs a mean image, and {ds.source} has none; use "
                              "data.normalize=standard")
        # The whole training split, before data.subset / data.val_size, like cuda-convnet's data_mean.
        mean, about = mean_image(ds.train_x), {"images": len(ds.train_x)}
    about = describe_mean(mean, **{"split": "train, whole (before data.subset and data.val_size)", **about})
    norm = CentredRaw(mean_patch(mean, geo), stats["eigval"], stats["eigvec"], device)
    return norm, {"normalize": mode, "mean_image": about}

