"""The schema: typed dataclasses for one run. Defaults are the paper's baseline where the paper has one.

Hydra composes YAML against these classes (registered in the ConfigStore by `ablate.cli`); the core only ever
sees a `Config`. This is the bottom of the stack: it imports nothing from models, data or optim. Closed sets
are Enum-typed, so Hydra rejects a bad value when it composes; a field holds its value as the plain string,
which config.yaml and the run identity record. Whether a Config can run (axis values, ranges, combinations)
is ablate.validate's question, asked at the edge: the CLI's `to_config` and `ablate.train()`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from enum import Enum, StrEnum
from typing import Any

from ablate.registry import ConfigError

# Closed sets: each member's value is its name (the plain string a yaml file, a command line and config.yaml hold).
LrnConvention = StrEnum("LrnConvention", ["cudaconvnet", "formula"], module=__name__)
DropoutStyle = StrEnum("DropoutStyle", ["inverted", "paper"], module=__name__)
DropconnectMask = StrEnum("DropconnectMask", ["example", "batch"], module=__name__)
DropconnectInference = StrEnum("DropconnectInference", ["sample", "mean"], module=__name__)
Normalize = StrEnum("Normalize", ["standard", "paper"], module=__name__)
Loader = StrEnum("Loader", ["auto", "tensor", "dataloader"], module=__name__)
DecayStyle = StrEnum("DecayStyle", ["coupled", "decoupled", "none"], module=__name__)
Progress = StrEnum("Progress", ["auto", "bar", "line", "none"], module=__name__)
Precision = StrEnum("Precision", ["fp32", "bf16", "fp16"], module=__name__)
Pack = StrEnum("Pack", ["auto", "mps", "timeslice"], module=__name__)
LoggerName = StrEnum("LoggerName", ["csv", "wandb"], module=__name__)


class _Section:
    def __post_init__(self) -> None:
        # A field holds a plain string: config.yaml (yaml.safe_dump) and the run identity never see an Enum.
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Enum):
                setattr(self, f.name, value.value)


@dataclass
class ModelConfig(_Section):
    # Axis values (name, activation, norm, pool, regularizer, init) are registry keys: their specs are in
    # ablate/models/ (docs/axes.md lists them); their options are the fields below.
    name: str = "convnet4"  # the net (ablate/models/__init__.py)
    activation: str = "relu"  # after every hidden weighted layer (§3.1; ablate/models/activations.py)
    tanh_a: float = 1.0  # tanh is a·tanh(b·x) (cuda-convnet's tanh[a,b]): output scale a (LeCun: 1.7159)
    tanh_b: float = 1.0  # tanh is a·tanh(b·x): input scale b (LeCun: 0.6667, i.e. 2/3)
    leaky_slope: float = 0.01  # negative slope of leaky_relu
    elu_alpha: float = 1.0  # saturation value of elu for large negative inputs
    hidden: int = 64  # units in each hidden fully connected layer (convnet4: 64; alexnet fc6/fc7: 4096)
    norm: str = "none"  # after the activations of conv1, conv2 (§3.3; ablate/models/norms.py)
    lrn_size: int = 5  # LRN window n, in adjacent channels (§3.3)
    lrn_alpha: float = 1e-4  # LRN α (§3.3), read per lrn_convention
    lrn_beta: float = 0.75  # LRN exponent β (§3.3)
    lrn_k: float = 2.0  # LRN additive constant k (§3.3)
    # cudaconvnet: α/n multiplies the window sum (torch, Caffe); formula: α as §3.3 prints it
    lrn_convention: LrnConvention = "cudaconvnet"
    groupnorm_groups: int = 32  # groupnorm groups, clipped to (a divisor of) the channel count
    pool: str = "overlap"  # pooling windows (§3.4; ablate/models/pools.py)
    pool_kernel: int | None = None  # pooling window side in pixels; None = the pool axis' value
    pool_stride: int | None = None  # pooling stride in pixels; None = the pool axis' value
    regularizer: str = "none"  # on the hidden fc layers (§4.2; ablate/models/regularizers.py)
    dropout: float = 0.5  # dropout: probability of zeroing a unit (§4.2: 0.5)
    # inverted: kept units ×1/(1−p) in training; paper: outputs ×(1−p) at test (§4.2)
    dropout_style: DropoutStyle = "inverted"
    dropconnect_keep: float = 0.5  # DropConnect keep probability p of each weight (Wan et al.: M ~ Bernoulli(p))
    dropconnect_mask: DropconnectMask = "example"  # example: a fresh mask per training example; batch: one per batch
    # sample: Gaussian moment matching (Wan et al.); mean: a(pWv + b)
    dropconnect_inference: DropconnectInference = "sample"
    dropconnect_samples: int = 1000  # Z, Gaussian samples per unit averaged by sample inference
    dropconnect_mask_bias: bool = True  # DropConnect masks the bias too (Wan et al.: b folded into W); False: never
    towers: int = 1  # alexnet*: towers (GPUs) the kernels are split over (§3.2: 2); 1 = single tower
    width: float = 1.0  # multiplier on every conv layer's kernel count (0.5 = the paper's one-GPU net)
    scale_conv5: bool = False  # alexnet*: model.width also scales conv5 (False: the paper's one-GPU net, §3.2)
    local: bool = True  # convlocal: locally connected layer3/layer4 (cuda-convnet); False = convolutions
    init: str = "default"  # weight init (§5; ablate/models/init.py)
    # Per-layer weight decay λ (cuda-convnet's `wc`), by the model's weighted-layer names (e.g. {conv1: 0,
    # local3: 0.004}); unlisted layers keep optim.weight_decay; empty or None: optim.weight_decay on every weight.
    # Command line: +model.layer_decay.conv1=0 (or model.layer_decay.conv1=0 where a preset lists conv1).
    layer_decay: dict[str, float] | None = field(default_factory=dict)
    # Per-layer init scale: these layers' weights are multiplied by it after model.init (e.g. {conv1: 63.6}: the
    # first layer as it acts on raw pixels, for standardised input); unlisted layers as model.init made them.
    # Command line: +model.layer_init_scale.conv1=63.6 (a key is added to the empty dict).
    layer_init_scale: dict[str, float] = field(default_factory=dict)


@dataclass
class DataConfig(_Section):
    name: str = "synthetic"  # data set registry key (ablate/data/)
    root: str = "data/cifar10"  # where a file-backed data set lives (ignored by synthetic/embedded sets)
    subset: int | None = None  # use N training images (stratified per class, seeded); None = all
    test_subset: int | None = None  # use N test images (stratified); None = all
    val_size: int = 0  # images carved from train for validation; 0 = validate on the test split
    augment: str = "none"  # augmentation registry key (§4.1; ablate/data/augment.py)
    test_crops: int = 1  # 1 = centre crop; 10 = four corners + centre and their flips, softmax averaged
    crop_padding: int = 4  # zero padding (pixels) around small images (CIFAR) before random crops
    crop_size: int | None = None  # crop side fed to the model, pixels; None = the data set's own (CIFAR 32, ImageNet 224)
    normalize: Normalize = "standard"  # standard: (x/255 − channel mean)/std; paper: raw 0–255 pixels − train mean image (§2)
    mean_sample: int = 10000  # imagenet + paper: seeded sample of training images for the mean image; 0 = all
    pca_std: float = 0.1  # σ of AlexNet's lighting noise coefficients α (crop_flip_pca)
    download: bool = False  # fetch CIFAR-10's python batches into data.root when missing (needs a network)
    skip_bad: bool = False  # skip (and count) unreadable image files instead of stopping with an error
    allow_missing_classes: bool = False  # accept an image-folder split lacking a class (listed in the summary)
    loader: Loader = "auto"  # auto (tensor for in-memory sets, dataloader for files), tensor, dataloader
    workers: int = 0  # DataLoader worker processes (dataloader path)
    cache_dir: str | None = None  # decoded-array cache; None = $XDG_CACHE_HOME/ablate or ~/.cache/ablate

@dataclass
class OptimConfig(_Section):
    name: str = "sgd"  # optimizer registry key (ablate/optim.py)
    lr: float = 0.01  # base learning rate (per step, for the global batch)
    momentum: float = 0.9  # SGD momentum μ (paper §5: 0.9)
    weight_decay: float = 0.0  # decay strength λ (paper §5: 5e-4); equal λ is not equal strength across styles
    weight_decay_style: DecayStyle = "coupled"  # coupled: λw added to the gradient (§5's rule); decoupled: SGDW/AdamW; none
    decay_bias_and_norm: bool = False  # also decay biases, norm and PReLU parameters (default: weights only)
    bias_lr_mult: float = 1.0  # conv/linear/local biases train at lr × this (cuda-convnet's epsB = 2·epsW: 2.0)
    # Per-layer lr multiplier for these layers' weights, by name (e.g. {conv1: 4045}); their biases keep
    # bias_lr_mult; unlisted weights train at optim.lr. Command line: +optim.layer_lr_mult.conv1=4045.
    layer_lr_mult: dict[str, float] = field(default_factory=dict)
    adam_beta1: float = 0.9  # Adam β1, decay of the gradient average
    adam_beta2: float = 0.999  # Adam β2, decay of the squared-gradient average
    adam_eps: float = 1e-8  # Adam ε added to the denominator
    schedule: str = "constant"  # lr schedule registry key (ablate/optim.py)
    plateau_factor: float = 0.1  # plateau: lr multiplier per drop (§5: divide by 10)
    plateau_patience: int = 2  # plateau: epochs without a new best validation error before a drop (ours)
    plateau_max_drops: int = 3  # plateau: most drops over a run (§5: reduced three times)
    # plateau: no drop until the validation top-1 error (a fraction) first falls below this, so epochs stalled at
    # chance are not "stopped improving"; null: counting starts at the first epoch (§5 as written)
    plateau_wait_below: float | None = None
    step_size: int = 30  # step: epochs between lr drops
    step_gamma: float = 0.1  # step, multistep: lr multiplier per drop
    milestones: list[int] = field(default_factory=list)  # multistep: epochs after which the lr drops, ascending
    cosine_min_lr: float = 0.0  # cosine: lr the cosine decays to after the last epoch
    paper_momentum_rescale: bool = False  # sgd: rescale the momentum buffer on lr changes to match §5's v-form


@dataclass
class TrainerConfig(_Section):
    epochs: int = 10  # passes over the training set
    batch_size: int = 128  # global batch size (all devices together), images per step
    eval_batch_size: int = 512  # images per evaluation step
    device: str = "auto"  # auto (cuda if available, else cpu), cpu, cuda, cuda:N
    devices: str = "1"  # number of processes/devices for data parallel training
    threads: int = 0  # torch intra-op CPU threads; 0 = torch's default
    flush_denormal: bool = True  # CPU: subnormal floats (|x| < 1.2e-38) computed as 0, speed only: GELU's backward
    #                               on raw-pixel inputs (exp(-x²/2) underflowing) ran 4x slower an epoch without it
    limit_train_batches: int = 0  # stop each epoch after N steps (smoke tests); 0 = full epoch
    progress: Progress = "auto"  # auto (bar on a terminal, else line), bar, line (a log line every 30 s), none
    precision: Precision = "fp32"  # fp32, bf16 or fp16 autocast (fp16 adds a grad scaler)
    channels_last: bool = False  # NHWC memory format for conv nets (faster on tensor cores)
    compile: bool = False  # torch.compile the model
    ckpt_every: int = 0  # also checkpoint every N optimizer steps (0 = at each epoch's end only)
    check_every: int = 25  # steps between checks for a non-finite loss / a preemption signal (ranks agree)
    stop_at_train_err: float | None = None  # end the run (completed) once an epoch's train_err <= this
    jobs_per_gpu: int = 1  # parallel sweep jobs packed on one GPU when jobs are pinned by job index
    reuse_identical: bool = True  # a sibling folder (same runs/<name>/) that completed this very run is recorded,
    #                               not trained again
    extend_shorter: bool = False  # a sibling that completed this run with fewer trainer.epochs is continued from its
    #                               last checkpoint, not retrained (the same numbers: only under a schedule that does
    #                               not read the budget; one stopped by stop_at_train_err is recorded as this run)
    pack: Pack = "auto"  # how jobs_per_gpu > 1 local sweep jobs share a GPU: mps (a CUDA MPS daemon for the sweep:
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

    def __post_init__(self) -> None:
        super().__post_init__()
        self.devices = str(self.devices)  # a count from Python (2) is the string a command line gives ("2")


@dataclass
class LoggerConfig(_Section):
    name: LoggerName = "csv"  # csv (run folder only) or wandb (run folder + wandb mirror)
    project: str = "ablate"  # wandb project
    entity: str | None = None  # wandb entity (team or user); None = the key's default entity
    group: str | None = None  # wandb group; None = the experiment name
    mode: str | None = None  # wandb mode (online/offline/disabled); None = $WANDB_MODE, else offline without a key


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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
