"""Every ablation axis is a registry of specs: one declaration per axis value.

A spec is all the code knows about one value (`model.norm=lrn`): its builder, the config options that builder
reads (each with its meaning, unit and valid range), a one-line summary, its source (the paper's section or the
work it comes from) and the metadata the rest of the code asks of it (`meta`: an activation's init gain, a
model's layer names, a data set's frame). Adding a value to an axis is one `@REGISTRY.register(...)`; from the
specs follow the validation of a config (ablate.validate), the axes tables of the README and docs/axes.md, the
`--help` text and the value lists of the every-value sweeps (ablate.generated), and the tests' cases.

Builders take their call arguments (what the model passes: channels, towers, ...) positionally and exactly their
declared options by keyword, with no defaults: a default lives in one place, the schema (ablate/config.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


class ConfigError(ValueError):
    """A configuration value the harness cannot run; the message names the fix."""


@dataclass(frozen=True)
class Range:
    """The numbers an option may take: [low, high], either end open or absent."""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = self.low is None or value > self.low or (value == self.low and not self.low_open)
        below = self.high is None or value < self.high or (value == self.high and not self.high_open)
        return above and below

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
AT_LEAST_1 = Range(1)
FRACTION = Range(0, 1, high_open=True)  # [0, 1): a rate that may be 0, never 1
SHARE = Range(0, 1, low_open=True)  # (0, 1]: a factor or probability that may be 1, never 0


@dataclass(frozen=True)
class Option:
    """A config key an axis value reads: `key` is the field in the axis' section (`leaky_slope` is
    `model.leaky_slope`); its default is the schema's."""
    key: str
    help: str  # what it means, with its unit
    range: Range | None = None  # None: any value of the field's type (a closed set: the field's Enum)
    optional: bool = False  # None is valid too (it means: the axis value's own choice)
    # Away from its default, the option is an error unless the selected value reads it (model.towers=2 on a net
    # without towers would silently train a one-tower net).
    only_where_read: bool = False

    def check(self, section: str, value: Any) -> None:
        if value is None and self.optional or self.range is None:
            return
        if value is None or isinstance(value, bool) or value not in self.range:
            raise ConfigError(f"{section}.{self.key}={value} must be {self.range} ({self.help})")


@dataclass(frozen=True)
class Spec:
    name: str
    build: Callable[..., Any]
    options: tuple[Option, ...] = ()
    summary: str = ""  # one line: what this value is
    source: str = ""  # where it comes from: the paper's section, a paper, a layer file
    # What the rest of the code asks of this value; `check`, if declared, gets the value's options when it is
    # selected and returns what is wrong with them (a ConfigError's message) or None.
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(o.key for o in self.options)


class Registry:
    def __init__(self, axis: str, options: tuple[Option, ...] = (), requires: tuple[str, ...] = ()):
        self.axis = axis  # the config key this registry serves (model.norm), used in error messages
        self.section, _, self.key = axis.rpartition(".")  # model, norm
        # Options of the axis as a whole: read around every value (by Parts, the optimizer), never by a builder.
        self.options = options
        self.requires = requires  # metadata every spec of this axis must declare (an activation's gain)
        self._specs: dict[str, Spec] = {}

    def register(self, name: str, fn: Callable[..., Any] | None = None, *, options: tuple[Option, ...] = (),
                 summary: str = "", source: str = "", **meta: Any):
        """Add `name` (as a decorator, or with `fn`); its builder must take exactly `options` by keyword."""
        def add(f: Callable[..., Any]) -> Callable[..., Any]:
            missing = [m for m in self.requires if m not in meta]
            if missing:
                raise TypeError(f"{self.axis}: '{name}' must declare {', '.join(missing)}")
            _check_signature(self.axis, name, f, tuple(o.key for o in options))
            old = self._specs.get(name)
            # The same function seen twice (a module run as __main__ after its package imported it) is fine.
            if old is not None and _source(old.build) != _source(f):
                raise KeyError(f"{self.axis}: '{name}' is registered twice")
            self._specs[name] = Spec(name, f, tuple(options), summary, source, MappingProxyType(meta))
            return f

        return add(fn) if fn is not None else add

    def names(self) -> list[str]:
        return list(self._specs)

    def specs(self) -> list[Spec]:
        return list(self._specs.values())

    def check(self, name: str) -> str:
        if name not in self._specs:
            raise ConfigError(f"{self.axis}={name!r} is not a known value; choose one of: {', '.join(self._specs)}")
        return name

    def get(self, name: str) -> Spec:
        return self._specs[self.check(name)]

    def options_of(self, name: str, section: Any) -> dict[str, Any]:
        """The options value `name` reads, from a config section (ModelConfig, OptimConfig, ...)."""
        return {key: getattr(section, key) for key in self.get(name).keys}

    def build(self, name: str, *args: Any, options: Mapping[str, Any] | None = None) -> Any:
        """`name`'s builder on the call arguments and exactly its declared options."""
        spec = self.get(name)
        given = dict(options or {})
        if set(given) != set(spec.keys):
            wrong = sorted(set(given) - set(spec.keys)) or "none"
            missing = sorted(set(spec.keys) - set(given)) or "none"
            raise TypeError(f"{self.axis}={name} takes the options {list(spec.keys)}; unknown: {wrong}, "
                            f"missing: {missing}")
        return spec.build(*args, **given)

    def build_from(self, name: str, section: Any, *args: Any) -> Any:
        """`name`'s builder with its options read from a config section."""
        return self.build(name, *args, options=self.options_of(name, section))

    def __repr__(self) -> str:
        return f"Registry({self.axis!r}, {self.names()})"


def _check_signature(axis: str, name: str, f: Callable[..., Any], keys: tuple[str, ...]) -> None:
    """A builder takes its options by keyword without defaults (one default: the schema's), and nothing else."""
    params = inspect.signature(f).parameters.values()
    keyword = {p.name for p in params if p.kind is p.KEYWORD_ONLY}
    swallowing = any(p.kind is p.VAR_KEYWORD for p in params)
    defaulted = [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.default is not p.empty]
    if swallowing or keyword != set(keys) or defaulted:
        raise TypeError(f"{axis}: '{name}''s builder must take exactly its declared options {list(keys)} by keyword "
                        f"(after *), without defaults or **kwargs; it takes {sorted(keyword)}"
                        + (" and **kwargs" if swallowing else "") + (f" with defaults {defaulted}" if defaulted else ""))


def _source(f: Callable[..., Any]) -> tuple:
    code = getattr(f, "__code__", None)
    return (getattr(f, "__qualname__", None), code and code.co_filename, code and code.co_firstlineno) if code else (f,)
