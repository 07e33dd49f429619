"""The suite parametrised over the specs: a new axis value is built in every model, trained a step, initialised
with its declared gain, validated and documented without anyone listing it again."""

import dataclasses
import math
import typing
from enum import Enum

import pytest
import torch
from hydra.errors import ConfigCompositionException

import ablate
from ablate.cli import to_config
from ablate.config import Config, DataConfig, LoggerConfig, ModelConfig, OptimConfig, TrainerConfig
from ablate.models import ACTIVATIONS, INITS, MODELS, NORMS, POOLS, REGULARIZERS, build_model
from ablate.models.activations import init_gain
from ablate.registry import ConfigError, Option, Registry
from ablate.validate import AXES, validate
from tests.conftest import compose_cfg
from tests.test_models import forward_backward

MODEL_AXES = (ACTIVATIONS, NORMS, POOLS, REGULARIZERS, INITS)
SECTIONS = {"model": ModelConfig, "data": DataConfig, "optim": OptimConfig, "trainer": TrainerConfig,
            "logger": LoggerConfig}
IMAGE = {name: 99 if spec.meta["input"] == 224 else spec.meta["input"] for name, spec in
         ((s.name, s) for s in MODELS.specs())}  # alexnet's 224 geometry has its own tests (test_models.py)


def _hints(section: str) -> dict:
    return typing.get_type_hints(SECTIONS[section])


def other_values(section: str, option: Option) -> list:
    """The values of a closed-set or boolean option other than its default (numbers have no such list)."""
    kind, default = _hints(section)[option.key], getattr(SECTIONS[section](), option.key)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return [m.value for m in kind if m.value != default]
    return [not default] if kind is bool else []


def model_cases():
    """(model, overrides): every value of every model axis, and every other value of their closed-set and
    boolean options with the value that reads them selected, in every model."""
    for model in MODELS.specs():
        cases = [{axis.key: spec.name} for axis in MODEL_AXES for spec in axis.specs()]
        for axis in (*MODEL_AXES, MODELS):
            for spec in axis.specs():
                selected = {} if axis is MODELS else {axis.key: spec.name}
                if axis is MODELS and spec.name != model.name:
                    continue
                cases += [{**selected, o.key: v} for o in spec.options for v in other_values("model", o)]
        cases += [{"width": 0.5}, {"pool_kernel": 3}, {"pool_stride": 1}, {"towers": 2} if "towers" in model.keys
                  else {}, {"activation": "tanh", "tanh_a": 1.7159, "tanh_b": 0.6667}]
        yield from ((model.name, case) for case in cases)


def _yaml_model(name: str) -> ModelConfig:
    return dataclasses.replace(to_config(compose_cfg([f"model={name}"])).model, hidden=32)


@pytest.mark.parametrize("name,overrides", list(model_cases()), ids=str)
def test_every_model_builds_and_trains_with_every_axis_value(name, overrides):
    torch.manual_seed(0)
    cfg = dataclasses.replace(_yaml_model(name), **overrides)
    validate(Config(model=cfg))
    forward_backward(build_model(cfg, 10, IMAGE[name]), IMAGE[name])


@pytest.mark.parametrize("activation", ACTIVATIONS.names())
def test_every_activation_is_initialised_with_its_declared_gain(activation):
    cfg = ModelConfig(activation=activation, init="kaiming")
    gain = init_gain(cfg)
    assert math.isfinite(gain) and gain > 0
    torch.manual_seed(0)
    model = build_model(cfg, 10, 32)
    layers = model.weighted_layers()
    conv2 = layers[1].layer  # 32 × 32·5·5 weights: the std is measured to ~0.5%
    assert float(conv2.weight.detach().std()) == pytest.approx(gain / math.sqrt(32 * 25), rel=0.03)
    out = layers[-1].layer
    assert float(out.weight.detach().std()) == pytest.approx(1 / math.sqrt(out.in_features), rel=0.15)


def step_cases():
    for axis in MODEL_AXES:
        yield from ((axis.axis, s.name, []) for s in axis.specs())
    from ablate.data.augment import AUGMENTS
    from ablate.optim import OPTIMIZERS
    from ablate.schedules import SCHEDULES
    for axis in (OPTIMIZERS, SCHEDULES, AUGMENTS):
        yield from ((axis.axis, s.name, ["optim.milestones=[1]"] * (s.name == "multistep")) for s in axis.specs())


@pytest.mark.parametrize("key,value,extra", list(step_cases()))
def test_every_axis_value_trains_a_step_through_the_trainer(make_config, key, value, extra):
    summary = ablate.train(make_config([f"{key}={value}", *extra, "trainer.limit_train_batches=1"]))
    assert summary["status"] == "completed", summary.get("error")


def test_every_option_is_a_schema_field_and_builders_take_exactly_their_options():
    for axis in AXES:
        fields = {f.name for f in dataclasses.fields(SECTIONS[axis.section])}
        for option in [*axis.options, *(o for s in axis.specs() for o in s.options)]:
            assert option.key in fields, (axis.axis, option.key)
    options = NORMS.options_of("lrn", ModelConfig())
    with pytest.raises(TypeError, match=r"unknown: \['lrn_sise'\].*missing: \['lrn_size'\]") as err:
        NORMS.build("lrn", 8, 1, options={**{k: v for k, v in options.items() if k != "lrn_size"}, "lrn_sise": 5})
    assert "lrn_alpha" in str(err.value)  # names the valid ones


def test_a_spec_must_declare_its_metadata_and_take_exactly_its_options():
    axis = Registry("model.thing", requires=("gain",))
    with pytest.raises(TypeError, match="must declare gain"):
        axis.register("a", lambda channels: None)
    slope = Option("leaky_slope", "slope")
    with pytest.raises(TypeError, match="exactly its declared options"):
        axis.register("b", lambda channels, **options: None, options=(slope,), gain=1.0)
    with pytest.raises(TypeError, match="without defaults"):
        axis.register("c", lambda channels, *, leaky_slope=0.1: None, options=(slope,), gain=1.0)
    axis.register("d", lambda channels, *, leaky_slope: None, options=(slope,), gain=1.0)
    assert axis.names() == ["d"]


def range_cases():
    """(section, key, a value just outside its declared range) for every option with a range."""
    for axis in AXES:
        for option in {o.key: o for o in [*axis.options, *(o for s in axis.specs() for o in s.options)]}.values():
            r = option.range
            if r is not None:
                yield axis.section, option.key, r.low if r.low_open else r.low - 1


@pytest.mark.parametrize("section,key,bad", list(range_cases()))
def test_every_option_outside_its_declared_range_fails_naming_it(section, key, bad):
    sub = SECTIONS[section](**{key: bad})
    with pytest.raises(ConfigError, match=rf"{section}\.{key}={bad} must be"):
        validate(Config(**{section: sub}))


def closed_sets():
    for section in SECTIONS:
        for key, kind in _hints(section).items():
            if isinstance(kind, type) and issubclass(kind, Enum):
                yield section, key, [m.value for m in kind]


@pytest.mark.parametrize("section,key,allowed", list(closed_sets()))
def test_closed_sets_fail_at_compose_time_and_in_python_naming_the_values(section, key, allowed):
    with pytest.raises(ConfigCompositionException) as err:
        compose_cfg([f"{section}.{key}=bogus"])
    assert all(v in str(err.value.__cause__ or err.value) for v in allowed)
    with pytest.raises(ConfigError, match="choose one of: " + ", ".join(allowed)):
        validate(Config(**{section: SECTIONS[section](**{key: "bogus"})}))


@pytest.mark.parametrize("axis", AXES, ids=lambda a: a.axis)
def test_every_registry_key_fails_with_the_valid_names(axis):
    with pytest.raises(ConfigError, match="choose one of") as err:
        to_config(compose_cfg([f"{axis.axis}=bogus"]))
    assert all(name in str(err.value) for name in axis.names())


@pytest.mark.parametrize("override,needle", [(["model.towers=2"], "set model.towers=1"),
                                             (["optim.name=adam", "optim.paper_momentum_rescale=true"],
                                              "set optim.paper_momentum_rescale=false")])
def test_an_option_only_some_values_read_must_stay_at_its_default_elsewhere(override, needle):
    with pytest.raises(ConfigError, match=needle):
        to_config(compose_cfg(override))
