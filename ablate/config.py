"""The schema: typed dataclasses for one run. Defaults are the paper's baseline where the paper has one.

Hydra composes YAML against these classes (registered in the ConfigStore by `ablate.cli`); the core only ever
sees a `Config`. Values that name an axis entry (activation, norm, model, dataset, ...) are validated against
that axis' registry, so a new registry entry is valid everywhere at once and a typo fails before any data is
read, naming the valid values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import PurePosixPath
from typing import Any

from ablate.registry import ConfigError


def _one_of(key: str, value: Any, allowed: list[str]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not a known value; choose one of: {', '.join(allowed)}")


@dataclass
class ModelConfig:
    name: str = "convnet4"  # model registry key: convnet4, convnet3fc, alexnet, alexnet_cifar, convlocal
    activation: str = "relu"  # activation registry key (paper §3.1): sigmoid, tanh, relu, leaky_relu, elu, prelu, gelu
    tanh_a: float = 1.0  # tanh is a·tanh(b·x) (cuda-convnet's tanh[a,b]): output scale a (LeCun: 1.7159)
    tanh_b: float = 1.0  # tanh is a·tanh(b·x): input scale b (LeCun: 0.6667, i.e. 2/3)
    leaky_slope: float = 0.01  # negative slope of leaky_relu
    elu_alpha: float = 1.0  # saturation value of elu for large negative inputs
    hidden: int = 64  # units in each hidden fully connected layer (convnet4: 64; alexnet fc6/fc7: 4096)
    norm: str = "none"  # norm after the activations of conv1, conv2 (§3.3): lrn, none, groupnorm, batchnorm
    lrn_size: int = 5  # LRN window n, in adjacent channels (§3.3)
    lrn_alpha: float = 1e-4  # LRN α (§3.3), read per lrn_convention
    lrn_beta: float = 0.75  # LRN exponent β (§3.3)
    lrn_k: float = 2.0  # LRN additive constant k (§3.3)
    lrn_convention: str = "cudaconvnet"  # cudaconvnet: α/n multiplies the sum (torch, Caffe); formula: α as printed
    groupnorm_groups: int = 32  # groupnorm groups, clipped to (a divisor of) the channel count
    pool: str = "overlap"  # pooling windows (§3.4): overlap (3×3 stride 2), nonoverlap (2×2 stride 2)
    pool_kernel: int | None = None  # pooling window side in pixels; None = the pool axis' value
    pool_stride: int | None = None  # pooling stride in pixels; None = the pool axis' value
    regularizer: str = "none"  # on the hidden fc layers: dropout (§4.2), dropconnect (Wan et al. 2013), none
    dropout: float = 0.5  # dropout: probability of zeroing a unit (§4.2: 0.5)
    dropout_style: str = "inverted"  # inverted: kept units ×1/(1−p) in training; paper: outputs ×(1−p) at test
    dropconnect_keep: float = 0.5  # DropConnect keep probability p of each weight (Wan et al.: M ~ Bernoulli(p))
    dropconnect_mask: str = "example"  # example: a fresh mask per training example; batch: one mask per batch
    dropconnect_inference: str = "sample"  # sample: Gaussian moment matching (Wan et al.); mean: a(pWv + b)
    dropconnect_samples: int = 1000  # Z, Gaussian samples per unit averaged by sample inference
    dropconnect_mask_bias: bool = True  # DropConnect masks the bias too (Wan et al.: b folded into W); False: never
    towers: int = 1  # alexnet*: towers (GPUs) the kernels are split over (§3.2: 2); 1 = single tower
    width: float = 1.0  # multiplier on every conv layer's kernel count (0.5 = the paper's one-GPU net)
    scale_conv5: bool = False  # alexnet*: model.width also scales conv5 (False: the paper's one-GPU net, §3.2)
    local: bool = True  # convlocal: locally connected layer3/layer4 (cuda-convnet); False = convolutions
    init: str = "default"  # weight init: paper (§5 / the source's values), kaiming, default (torch's)
    # Per-layer weight decay λ (cuda-convnet's `wc`), by the model's weighted-layer names (e.g. {conv1: 0,
    # local3: 0.004}); unlisted layers keep optim.weight_decay. None = optim.weight_decay on every weight.
    layer_decay: dict[str, float] | None = None

    def check(self) -> None:
        from ablate.models import INITS, MODELS, NORMS, POOLS, REGULARIZERS, TOWERED
        from ablate.models.layers import ACTIVATIONS

        MODELS.check(self.name)
        ACTIVATIONS.check(self.activation)
        NORMS.check(self.norm)
        POOLS.check(self.pool)
        REGULARIZERS.check(self.regularizer)
        INITS.check(self.init)
        _one_of("model.lrn_convention", self.lrn_convention, ["cudaconvnet", "formula"])
        _one_of("model.dropout_style", self.dropout_style, ["inverted", "paper"])
        _one_of("model.dropconnect_mask", self.dropconnect_mask, ["example", "batch"])
        _one_of("model.dropconnect_inference", self.dropconnect_inference, ["sample", "mean"])
        _positive(self, "model", ["hidden", "lrn_size", "groupnorm_groups", "dropconnect_samples", "towers",
                                  "width", "lrn_beta", "lrn_k", "tanh_a", "tanh_b"])
        _positive(self, "model", ["pool_kernel", "pool_stride"], optional=True)
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout={self.dropout} must be in [0, 1) (the probability of dropping)")
        if not 0 < self.dropconnect_keep <= 1:
            raise ConfigError(f"model.dropconnect_keep={self.dropconnect_keep} must be in (0, 1] (keep probability)")
        if self.lrn_alpha < 0:
            raise ConfigError(f"model.lrn_alpha={self.lrn_alpha} must be >= 0")
        if self.towers != 1 and self.name not in TOWERED:
            raise ConfigError(f"model.towers={self.towers} needs a model with towers ({', '.join(TOWERED)}); "
                              f"{self.name} has one tower: set model.towers=1")
        self._check_layer_decay()

    def _check_layer_decay(self) -> None:
        from ablate.models import LAYER_NAMES

        if self.layer_decay is None:
            return
        names = LAYER_NAMES[self.name]
        unknown = sorted(set(self.layer_decay) - set(names))
        if unknown:
            raise ConfigError(f"model.layer_decay names {unknown}, which {self.name} does not have; its weighted "
                              f"layers are: {', '.join(names)} (or set model.layer_decay=null)")
        negative = {k: v for k, v in self.layer_decay.items() if v < 0}
        if negative:
            raise ConfigError(f"model.layer_decay={negative}: a decay strength λ must be >= 0")


def _positive(section: Any, prefix: str, keys: list[str], optional: bool = False) -> None:
    for key in keys:
        value = getattr(section, key)
        if (value is not None or not optional) and not value > 0:
            raise ConfigError(f"{prefix}.{key}={value} must be > 0")


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
    crop_size: int | None = None  # crop side fed to the model, pixels; None = the data set's own (CIFAR 32, ImageNet 224)
    normalize: str = "standard"  # standard: (x/255 − channel mean)/std; paper: raw 0–255 pixels − train mean image (§2)
    mean_sample: int = 10000  # imagenet + paper: seeded sample of training images for the mean image; 0 = all
    pca_std: float = 0.1  # σ of AlexNet's lighting noise coefficients α (crop_flip_pca)
    download: bool = False  # fetch CIFAR-10's python batches into data.root when missing (needs a network)
    skip_bad: bool = False  # skip (and count) unreadable image files instead of stopping with an error
    allow_missing_classes: bool = False  # accept an image-folder split lacking a class (listed in the summary)
    loader: str = "auto"  # auto (tensor for in-memory sets, dataloader for files), tensor, dataloader
    workers: int = 0  # DataLoader worker processes (dataloader path)
    cache_dir: str | None = None  # decoded-array cache; None = $XDG_CACHE_HOME/ablate or ~/.cache/ablate

    def check(self) -> None:
        from ablate.data import DATASETS
        from ablate.data.augment import AUGMENTS
        from ablate.data.normalize import MODES

        DATASETS.check(self.name)
        AUGMENTS.check(self.augment)
        _one_of("data.loader", self.loader, ["auto", "tensor", "dataloader"])
        _one_of("data.normalize", self.normalize, list(MODES))
        if self.test_crops not in (1, 10):
            raise ConfigError(f"data.test_crops={self.test_crops} is not supported; choose 1 or 10")
        for key in ("subset", "test_subset"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ConfigError(f"data.{key}={value} must be a positive number of images (or null for all)")
        for key in ("val_size", "crop_padding", "workers", "pca_std", "mean_sample"):
            if getattr(self, key) < 0:
                raise ConfigError(f"data.{key}={getattr(self, key)} must be >= 0")
        self._check_crop()

    def _check_crop(self) -> None:
        from ablate.data import FRAMES, check_crop

        if self.crop_size is None:
            return
        if self.crop_size < 1:
            raise ConfigError(f"data.crop_size={self.crop_size} must be a positive number of pixels (or null for "
                              "the data set's own crop size)")
        if self.name in FRAMES:  # else checked once the data set is loaded
            frame, pad = FRAMES[self.name]
            check_crop(self.crop_size, frame, self.crop_padding if pad is None else pad, pad is not None, self.name)


@dataclass
class OptimConfig:
    name: str = "sgd"  # optimizer registry key: sgd (with momentum), adam
    lr: float = 0.01  # base learning rate (per step, for the global batch)
    momentum: float = 0.9  # SGD momentum μ (paper §5: 0.9)
    weight_decay: float = 0.0  # decay strength λ (paper §5: 5e-4); equal λ is not equal strength across styles
    weight_decay_style: str = "coupled"  # coupled: λw added to the gradient (§5's rule); decoupled: SGDW/AdamW; none
    decay_bias_and_norm: bool = False  # also decay biases, norm and PReLU parameters (default: weights only)
    bias_lr_mult: float = 1.0  # conv/linear/local biases train at lr × this (cuda-convnet's epsB = 2·epsW: 2.0)
    adam_beta1: float = 0.9  # Adam β1, decay of the gradient average
    adam_beta2: float = 0.999  # Adam β2, decay of the squared-gradient average
    adam_eps: float = 1e-8  # Adam ε added to the denominator
    schedule: str = "constant"  # lr schedule registry key: plateau (§5), step, multistep, cosine, constant
    plateau_factor: float = 0.1  # plateau: lr multiplier per drop (§5: divide by 10)
    plateau_patience: int = 2  # plateau: epochs without a new best validation error before a drop (ours)
    plateau_max_drops: int = 3  # plateau: most drops over a run (§5: reduced three times)
    step_size: int = 30  # step: epochs between lr drops
    step_gamma: float = 0.1  # step, multistep: lr multiplier per drop
    milestones: list[int] = field(default_factory=list)  # multistep: epochs after which the lr drops, ascending
    cosine_min_lr: float = 0.0  # cosine: lr the cosine decays to after the last epoch
    paper_momentum_rescale: bool = False  # sgd: rescale the momentum buffer on lr changes to match §5's v-form

    def check(self) -> None:
        from ablate.optim import DECAY_STYLES, OPTIMIZERS, SCHEDULES

        OPTIMIZERS.check(self.name)
        SCHEDULES.check(self.schedule)
        _one_of("optim.weight_decay_style", self.weight_decay_style, list(DECAY_STYLES))
        _positive(self, "optim", ["lr", "adam_eps", "step_size"])
        for key in ("momentum", "adam_beta1", "adam_beta2"):
            if not 0 <= getattr(self, key) < 1:
                raise ConfigError(f"optim.{key}={getattr(self, key)} must be in [0, 1)")
        for key in ("plateau_factor", "step_gamma"):
            if not 0 < getattr(self, key) <= 1:
                raise ConfigError(f"optim.{key}={getattr(self, key)} must be in (0, 1]")
        for key in ("weight_decay", "plateau_patience", "plateau_max_drops", "cosine_min_lr", "bias_lr_mult"):
            if getattr(self, key) < 0:
                raise ConfigError(f"optim.{key}={getattr(self, key)} must be >= 0")
        ms = list(self.milestones)
        if self.schedule == "multistep" and (not ms or ms[0] < 1 or ms != sorted(set(ms))):
            raise ConfigError(f"optim.milestones={ms}: optim.schedule=multistep needs ascending epochs >= 1, "
                              "e.g. optim.milestones=[120,130]")
        if self.paper_momentum_rescale and self.name != "sgd":
            raise ConfigError(f"optim.paper_momentum_rescale applies to sgd only; optim.name={self.name!r}: "
                              "set optim.paper_momentum_rescale=false")


@dataclass
class TrainerConfig:
    epochs: int = 10  # passes over the training set
    batch_size: int = 128  # global batch size (all devices together), images per step
    eval_batch_size: int = 512  # images per evaluation step
    device: str = "auto"  # auto (cuda if available, else cpu), cpu, cuda, cuda:N
    devices: str = "1"  # number of processes/devices for data parallel training
    threads: int = 0  # torch intra-op CPU threads; 0 = torch's default
    limit_train_batches: int = 0  # stop each epoch after N steps (smoke tests); 0 = full epoch
    progress: str = "auto"  # auto (bar on a terminal, else line), bar, line (a log line every 30 s), none
    precision: str = "fp32"  # fp32, bf16 or fp16 autocast (fp16 adds a grad scaler)
    channels_last: bool = False  # NHWC memory format for conv nets (faster on tensor cores)
    compile: bool = False  # torch.compile the model
    ckpt_every: int = 0  # also checkpoint every N optimizer steps (0 = at each epoch's end only)
    check_every: int = 25  # steps between checks for a non-finite loss / a preemption signal (ranks agree)
    stop_at_train_err: float | None = None  # end the run (completed) once an epoch's train_err <= this
    jobs_per_gpu: int = 1  # parallel sweep jobs packed on one GPU when jobs are pinned by job index
    reuse_identical: bool = True  # a sibling folder (same runs/<name>/) that completed this very run is recorded,
    #                               not trained again
    pack: str = "auto"  # how jobs_per_gpu > 1 local sweep jobs share a GPU: mps (a CUDA MPS daemon for the sweep:
    #                     kernels of different jobs run at once), timeslice (plain processes: the GPU takes turns),
    #                     auto (mps when nvidia-cuda-mps-control is on PATH, else timeslice); ablate/mps.py
    cuda_graphs: bool = False  # replay the training step as a CUDA graph (small nets; CUDA only, the plain step
    #                            elsewhere; first steps and an epoch's last partial batch run eagerly): ablate/graphs.py
    cudnn_benchmark: bool = False  # cuDNN times its algorithms per input shape (for repeating shapes; faster convs,
    #                                the chosen algorithm, hence the float rounding, may differ between runs)
    fused_lrn: bool = False  # LRN forward and backward as one Triton kernel each on CUDA (ablate/models/lrn_fused.py)
    activation_stats: bool = False  # per hidden layer and epoch: saturation, dead units, pre-activation std,
    #                                 weight RMS on a fixed probe batch (extra metrics.csv columns, ablate/actstats.py)
    # What `ablate-train` returns to a sweeper that optimizes (hydra/sweeper=optuna, nevergrad): a metrics.csv
    # column at the run's final epoch (e.g. epoch: epochs run, with stop_at_train_err Figure 1's speed), or
    # best.COLUMN at its best epoch (lowest val_top1_err). Diverged runs return inf, unfinished ones nan.
    objective: str = "val_top1_err"

    def check(self) -> None:
        _one_of("trainer.progress", self.progress, ["auto", "bar", "line", "none"])
        _one_of("trainer.precision", self.precision, ["fp32", "bf16", "fp16"])
        _one_of("trainer.pack", self.pack, ["auto", "mps", "timeslice"])
        _check_objective(self.objective)
        self.devices = str(self.devices)
        if self.devices != "auto" and not (self.devices.isdigit() and int(self.devices) >= 1):
            raise ConfigError(f"trainer.devices={self.devices!r}: give a process count (1, 2, ...) or auto")
        for key in ("epochs", "batch_size", "eval_batch_size", "check_every", "jobs_per_gpu"):
            if getattr(self, key) < 1:
                raise ConfigError(f"trainer.{key}={getattr(self, key)} must be a positive integer")
        self._check_cuda_graphs()

    def _check_cuda_graphs(self) -> None:
        """What a captured step cannot hold: a host sync every step, a second compiler, collectives."""
        if not self.cuda_graphs:
            return
        clash = {"trainer.precision=fp16": (self.precision == "fp16", "its grad scaler reads the loss scale on the "
                                            "host every step; use trainer.precision=bf16"),
                 "trainer.compile=true": (self.compile, "the graph captures the eager model; use one of the two"),
                 f"trainer.devices={self.devices}": (self.devices != "1", "the step would hold the all-reduce; "
                                                    "capture runs one process per GPU: trainer.devices=1")}
        for what, (bad, fix) in clash.items():
            if bad:
                raise ConfigError(f"trainer.cuda_graphs=true cannot be combined with {what}: {fix}, or set "
                                  "trainer.cuda_graphs=false")


def _check_objective(objective: str) -> None:
    from ablate.runfolder import METRIC_COLUMNS

    column = objective.removeprefix("best.").removeprefix("final.")
    if column not in METRIC_COLUMNS:
        raise ConfigError(f"trainer.objective={objective!r}: name a metrics.csv column, optionally as best.COLUMN "
                          f"(at the epoch with the lowest val_top1_err); columns: {', '.join(METRIC_COLUMNS)}")


@dataclass
class LoggerConfig:
    name: str = "csv"  # csv (run folder only) or wandb (run folder + wandb mirror)
    project: str = "ablate"  # wandb project
    entity: str | None = None  # wandb entity (team or user); None = the key's default entity
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
    check_name(cfg.name)
    for section in (cfg.model, cfg.data, cfg.optim, cfg.trainer, cfg.logger):
        section.check()
    _check_decay_is_used(cfg)
    if cfg.trainer.cuda_graphs and cfg.optim.name != "sgd":
        raise ConfigError(f"trainer.cuda_graphs=true needs optim.name=sgd: {cfg.optim.name}'s step keeps a step count "
                          "on the host, which a captured graph would freeze; use optim.name=sgd or "
                          "trainer.cuda_graphs=false")


def _check_decay_is_used(cfg: Config) -> None:
    """optim.weight_decay > 0 that reaches no parameter (model.layer_decay sets every layer) is a silent no-op."""
    from ablate.models import LAYER_NAMES

    decay = cfg.model.layer_decay or {}
    every_layer = set(LAYER_NAMES[cfg.model.name]) <= set(decay)
    if every_layer and cfg.optim.weight_decay > 0 and not cfg.optim.decay_bias_and_norm:
        raise ConfigError(f"optim.weight_decay={cfg.optim.weight_decay} has no effect: model.layer_decay sets every "
                          f"weighted layer of {cfg.model.name}; set optim.weight_decay=0 (or drop layers from "
                          "model.layer_decay to let them use it)")


def check_name(name: str) -> None:
    """`name` becomes a folder under runs/: it may nest (a/b) but never leave runs/."""
    parts = PurePosixPath(name).parts
    if not name or name.startswith(("/", "~")) or "\\" in name or ".." in parts or "." in parts:
        raise ConfigError(f"name={name!r} must be a relative folder name inside runs/ (no '..', '.', '~' or "
                          "leading '/'), e.g. name=fig1 or name=study/stage1")


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
