"""Can this Config run? Asked at the edge (the CLI's `to_config`, `ablate.train()`), before any work.

What is checked follows from the specs (ablate.registry): every axis value names a registered spec, every option
any spec of an axis declares is in its declared range, an option only some values read is left at its default
by the others when it says so (`only_where_read`), and the selected value's own `check` passes. Closed sets (the
schema's Enum fields) are checked by OmegaConf when Hydra composes, and here for configs built in Python. The
schema's remaining fields have their ranges in FIELDS. Every failure is one ConfigError that names the fix.
"""

from __future__ import annotations

import dataclasses
import typing
from enum import Enum
from typing import Any

from ablate.config import Config, DataConfig, TrainerConfig
from ablate.data import DATASETS, check_crop
from ablate.data.augment import AUGMENTS
from ablate.identity import check_name
from ablate.models import ACTIVATIONS, INITS, MODELS, NORMS, POOLS, REGULARIZERS
from ablate.optim import OPTIMIZERS
from ablate.registry import AT_LEAST_1, NON_NEGATIVE, ConfigError, Option, Registry
from ablate.runfolder import METRIC_COLUMNS
from ablate.schedules import SCHEDULES

AXES: tuple[Registry, ...] = (MODELS, ACTIVATIONS, NORMS, POOLS, REGULARIZERS, INITS, DATASETS, AUGMENTS,
                              OPTIMIZERS, SCHEDULES)
# The schema's fields that no axis declares, with their ranges.
FIELDS: dict[str, tuple[Option, ...]] = {
    "data": (Option("subset", "a positive number of training images, or null for all", AT_LEAST_1, optional=True),
             Option("test_subset", "a positive number of test images, or null for all", AT_LEAST_1, optional=True),
             Option("val_size", "images carved from train for validation", NON_NEGATIVE),
             Option("crop_padding", "pixels", NON_NEGATIVE),
             Option("workers", "DataLoader worker processes", NON_NEGATIVE),
             Option("pca_std", "σ of the lighting noise", NON_NEGATIVE),
             Option("mean_sample", "images for the mean image; 0: all", NON_NEGATIVE)),
    "trainer": tuple(Option(key, "a positive integer", AT_LEAST_1)
                     for key in ("epochs", "batch_size", "eval_batch_size", "check_every", "jobs_per_gpu")),
}


def validate(cfg: Config) -> Config:
    """`cfg`, if it can run; else ConfigError naming the fix."""
    check_name(cfg.name)
    for section in ("model", "data", "optim", "trainer", "logger"):
        check_closed_sets(section, getattr(cfg, section))
        for option in FIELDS.get(section, ()):
            option.check(section, getattr(getattr(cfg, section), option.key))
    for axis in AXES:
        check_axis(axis, getattr(cfg, axis.section))
    _check_layer_decay(cfg)
    _check_layer_names(cfg, "model.layer_init_scale", cfg.model.layer_init_scale)
    _check_layer_names(cfg, "optim.layer_lr_mult", cfg.optim.layer_lr_mult)
    _check_data(cfg.data)
    _check_trainer(cfg.trainer)
    if cfg.trainer.extend_shorter and SCHEDULES.get(cfg.optim.schedule).meta["reads_epochs"]:
        raise ConfigError(f"trainer.extend_shorter=true with optim.schedule={cfg.optim.schedule}: that schedule reads "
                          "trainer.epochs, so a shorter run's epochs are not this run's; use trainer.extend_shorter="
                          "false (train it whole) or a schedule that does not read the budget")
    if cfg.trainer.cuda_graphs and cfg.optim.name != "sgd":
        raise ConfigError(f"trainer.cuda_graphs=true needs optim.name=sgd: {cfg.optim.name}'s step keeps a step count "
                          "on the host, which a captured graph would freeze; use optim.name=sgd or "
                          "trainer.cuda_graphs=false")
    return cfg


def check_closed_sets(section: str, values: Any) -> None:
    """Enum-typed fields hold one of their members' values (Hydra checks these when it composes)."""
    hints = typing.get_type_hints(type(values))
    for f in dataclasses.fields(values):
        kind = hints[f.name]
        if isinstance(kind, type) and issubclass(kind, Enum):
            allowed = [m.value for m in kind]
            if getattr(values, f.name) not in allowed:
                raise ConfigError(f"{section}.{f.name}={getattr(values, f.name)!r} is not a known value; choose one "
                                  f"of: {', '.join(allowed)}")


def check_axis(axis: Registry, values: Any) -> None:
    """The axis value is registered; every option of the axis is in range; options only some values read are at
    their defaults unless the selected value reads them; the selected value's own check passes."""
    spec = axis.get(getattr(values, axis.key))
    declared = {o.key: o for s in axis.specs() for o in s.options} | {o.key: o for o in axis.options}
    for option in declared.values():
        option.check(axis.section, getattr(values, option.key))
    defaults = type(values)()
    for key, option in declared.items():
        value, default = getattr(values, key), getattr(defaults, key)
        if option.only_where_read and key not in spec.keys and value != default:
            readers = ", ".join(s.name for s in axis.specs() if key in s.keys)
            raise ConfigError(f"{axis.section}.{key}={_text(value)} is read only by {axis.axis}={readers}; "
                              f"{axis.axis}={spec.name} does not read it: set {axis.section}.{key}={_text(default)}")
    check = spec.meta.get("check")
    problem = check(axis.options_of(spec.name, values)) if check else None
    if problem:
        raise ConfigError(problem)


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _check_layer_decay(cfg: Config) -> None:
    """Per-layer decay names the model's weighted layers (its spec's `layers`), and reaches some parameter."""
    model = cfg.model
    names = MODELS.get(model.name).meta["layers"]
    decay = model.layer_decay or {}
    _check_names(cfg, "model.layer_decay", decay)
    negative = {k: v for k, v in decay.items() if v < 0}
    if negative:
        raise ConfigError(f"model.layer_decay={negative}: a decay strength λ must be >= 0")
    every_layer = set(names) <= set(decay)
    if every_layer and cfg.optim.weight_decay > 0 and not cfg.optim.decay_bias_and_norm:
        # optim.weight_decay would reach no parameter: a silent no-op.
        raise ConfigError(f"optim.weight_decay={cfg.optim.weight_decay} has no effect: model.layer_decay sets every "
                          f"weighted layer of {model.name}; set optim.weight_decay=0 (or drop layers from "
                          "model.layer_decay to let them use it)")


def _check_names(cfg: Config, key: str, per_layer: dict[str, float]) -> None:
    names = MODELS.get(cfg.model.name).meta["layers"]
    unknown = sorted(set(per_layer) - set(names))
    if unknown:
        raise ConfigError(f"{key} names {unknown}, which {cfg.model.name} does not have; its weighted layers are: "
                          f"{', '.join(names)} (or set {key}=null)")


def _check_layer_names(cfg: Config, key: str, per_layer: dict[str, float] | None) -> None:
    """A per-layer multiplier names the model's weighted layers and is > 0."""
    _check_names(cfg, key, per_layer or {})
    bad = {k: v for k, v in (per_layer or {}).items() if not v > 0}
    if bad:
        raise ConfigError(f"{key}={bad}: a multiplier must be > 0 (leave a layer out to keep it at 1)")


def _check_data(data: DataConfig) -> None:
    if data.test_crops not in (1, 10):
        raise ConfigError(f"data.test_crops={data.test_crops} is not supported; choose 1 or 10")
    if data.crop_size is None:
        return
    if data.crop_size < 1:
        raise ConfigError(f"data.crop_size={data.crop_size} must be a positive number of pixels (or null for "
                          "the data set's own crop size)")
    frame, pad = DATASETS.get(data.name).meta["frame"]
    check_crop(data.crop_size, frame, data.crop_padding if pad is None else pad, pad is not None, data.name)


def _check_trainer(t: TrainerConfig) -> None:
    if t.devices != "auto" and not (t.devices.isdigit() and int(t.devices) >= 1):
        raise ConfigError(f"trainer.devices={t.devices!r}: give a process count (1, 2, ...) or auto")
    column = t.objective.removeprefix("best.").removeprefix("final.")
    if column not in METRIC_COLUMNS:
        raise ConfigError(f"trainer.objective={t.objective!r}: name a metrics.csv column, optionally as best.COLUMN "
                          f"(at the epoch with the lowest val_top1_err); columns: {', '.join(METRIC_COLUMNS)}")
    if t.cuda_graphs:
        _check_cuda_graphs(t)


def _check_cuda_graphs(t: TrainerConfig) -> None:
    """What a captured step cannot hold: a host sync every step, a second compiler, collectives."""
    clash = {"trainer.precision=fp16": (t.precision == "fp16", "its grad scaler reads the loss scale on the "
                                        "host every step; use trainer.precision=bf16"),
             "trainer.compile=true": (t.compile, "the graph captures the eager model; use one of the two"),
             f"trainer.devices={t.devices}": (t.devices != "1", "the step would hold the all-reduce; "
                                             "capture runs one process per GPU: trainer.devices=1")}
    for what, (bad, fix) in clash.items():
        if bad:
            raise ConfigError(f"trainer.cuda_graphs=true cannot be combined with {what}: {fix}, or set "
                              "trainer.cuda_graphs=false")
