"""The schema: typed dataclasses for one run. Defaults are the paper's baseline where the paper has one.

Hydra composes YAML against these classes (registered in the ConfigStore by `ablate.cli`); the core only ever
sees a `Config`. Values that name an axis entry (activation, norm, model, dataset, ...) are validated against
that axis' registry, so a new registry entry is valid everywhere at once and a typo fails before any data is
read, naming the valid values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from ablate.registry import ConfigError


def _one_of(key: str, value: Any, allowed: list[str]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not a known value; choose one of: {', '.join(allowed)}")


@dataclass
class ModelConfig:
    name: str = "convnet4"  # model registry key: convnet4, ...
    activation: str = "relu"  # activation registry key (paper §3.1)
    leaky_slope: float = 0.01  # negative slope of leaky_relu
    elu_alpha: float = 1.0  # saturation value of elu for large negative inputs
    hidden: int = 64  # units in convnet4's hidden fully connected layer

    def check(self) -> None:
        from ablate.models import MODELS
        from ablate.models.layers import ACTIVATIONS

        MODELS.check(self.name)
        ACTIVATIONS.check(self.activation)


@dataclass
class DataConfig:
    name: str = "synthetic"  # dataset registry key: synthetic, cifar10_mini, cifar10, imagenet, synthetic_imagenet
    root: str = "data/cifar10"  # where a file-backed data set lives (ignored by synthetic/embedded sets)
    subset: int | None = None  # use N training images (stratified per class, seeded); None = all
    test_subset: int | None = None  # use N test images (stratified); None = all
    val_size: int = 0  # images carved from train for validation; 0 = validate on the test split
    augment: str = "none"  # augmentation registry key (paper §4.1): none, crop_flip, crop_flip_pca
    test_crops: int = 1  # 1 = centre crop; 10 = four corners + centre and their flips, softmax averaged
    crop_padding: int = 4  # zero padding (pixels) around small images (CIFAR) before random crops
    pca_std: float = 0.1  # σ of AlexNet's lighting noise coefficients α (crop_flip_pca)
    download: bool = False  # fetch CIFAR-10's python batches into data.root when missing (needs a network)
    skip_bad: bool = False  # skip (and count) unreadable image files instead of stopping with an error
    loader: str = "auto"  # auto (tensor for in-memory sets, dataloader for files), tensor, dataloader
    workers: int = 0  # DataLoader worker processes (dataloader path)
    cache_dir: str | None = None  # decoded-array cache; None = $XDG_CACHE_HOME/ablate or ~/.cache/ablate

    def check(self) -> None:
        from ablate.data import DATASETS
        from ablate.data.augment import AUGMENTS

        DATASETS.check(self.name)
        AUGMENTS.check(self.augment)
        _one_of("data.loader", self.loader, ["auto", "tensor", "dataloader"])
        if self.test_crops not in (1, 10):
            raise ConfigError(f"data.test_crops={self.test_crops} is not supported; choose 1 or 10")
        for key in ("subset", "test_subset"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ConfigError(f"data.{key}={value} must be a positive number of images (or null for all)")
        for key in ("val_size", "crop_padding", "workers", "pca_std"):
            if getattr(self, key) < 0:
                raise ConfigError(f"data.{key}={getattr(self, key)} must be >= 0")


@dataclass
class OptimConfig:
    name: str = "sgd"  # optimizer registry key
    lr: float = 0.01  # base learning rate (per step, for the global batch)
    momentum: float = 0.9  # SGD momentum μ (paper §5: 0.9)
    weight_decay: float = 0.0  # decay strength λ (paper: 5e-4)
    weight_decay_style: str = "coupled"  # coupled: L2 added to the gradient (the paper's rule); none
    schedule: str = "constant"  # learning-rate schedule registry key

    def check(self) -> None:
        from ablate.optim import OPTIMIZERS, SCHEDULES

        OPTIMIZERS.check(self.name)
        SCHEDULES.check(self.schedule)
        _one_of("optim.weight_decay_style", self.weight_decay_style, ["coupled", "none"])
        if self.lr <= 0:
            raise ConfigError(f"optim.lr={self.lr} must be > 0")


@dataclass
class TrainerConfig:
    epochs: int = 10  # passes over the training set
    batch_size: int = 128  # global batch size (all devices together), images per step
    eval_batch_size: int = 512  # images per evaluation step
    device: str = "auto"  # auto (cuda if available, else cpu), cpu, cuda, cuda:N
    devices: str = "1"  # number of processes/devices for data parallel training
    threads: int = 0  # torch intra-op CPU threads; 0 = torch's default
    limit_train_batches: int = 0  # stop each epoch after N steps (smoke tests); 0 = full epoch
    progress: str = "auto"  # auto (bar on a terminal, one line per epoch otherwise), bar, line, none

    def check(self) -> None:
        _one_of("trainer.progress", self.progress, ["auto", "bar", "line", "none"])
        for key in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"trainer.{key}={getattr(self, key)} must be a positive integer")


@dataclass
class LoggerConfig:
    name: str = "csv"  # csv (run folder only) or wandb (run folder + wandb mirror)
    project: str = "ablate"  # wandb project
    group: str | None = None  # wandb group; None = the experiment name
    mode: str | None = None  # wandb mode (online/offline/disabled); None = $WANDB_MODE, else offline without a key

    def check(self) -> None:
        _one_of("logger.name", self.name, ["csv", "wandb"])


@dataclass
class Config:
    name: str = "default"  # experiment name; runs land in runs/<name>/...
    seed: int = 0  # seeds torch, numpy and python; the same seed gives identical metrics on CPU
    out_dir: str = "runs/default/default"  # the run folder (the CLI sets it to Hydra's job dir)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def validate(cfg: Config) -> None:
    """Check every section; each checks its axis values against their registries (ConfigError names the fix)."""
    for section in (cfg.model, cfg.data, cfg.optim, cfg.trainer, cfg.logger):
        section.check()


def from_dict(data: dict[str, Any], cls: type = Config, prefix: str = "") -> Any:
    """Build a (nested) config dataclass from plain containers, rejecting unknown keys by name."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        where = prefix.rstrip(".") or "the top level"
        raise ConfigError(f"unknown config key(s) {unknown} in {where}; valid keys: {', '.join(known)}")
    kwargs = {}
    for name, value in data.items():
        sub = _SECTIONS.get(name) if cls is Config else None
        kwargs[name] = from_dict(value, sub, f"{prefix}{name}.") if sub and isinstance(value, dict) else value
    return cls(**kwargs)


_SECTIONS: dict[str, type] = {"model": ModelConfig, "data": DataConfig, "optim": OptimConfig,
                              "trainer": TrainerConfig, "logger": LoggerConfig}
