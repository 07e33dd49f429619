"""A name → constructor map per ablation axis (activations, norms, models, datasets, ...).

Adding a value to an axis is one `@REGISTRY.register("name")`; the config schema validates against
`names()`, so the new value is accepted everywhere at once and unknown values fail with the valid list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class ConfigError(ValueError):
    """A configuration value the harness cannot run; the message names the fix."""


class Registry:
    def __init__(self, axis: str):
        self.axis = axis  # the config key this registry serves, used in error messages
        self._items: dict[str, Callable[..., Any]] = {}

    def register(self, name: str, fn: Callable[..., Any] | None = None):
        def add(f: Callable[..., Any]) -> Callable[..., Any]:
            old = self._items.get(name)
            # The same function seen twice (a module run as __main__ after its package imported it) is fine.
            if old is not None and _source(old) != _source(f):
                raise KeyError(f"{self.axis}: '{name}' is registered twice")
            self._items[name] = f
            return f

        return add(fn) if fn is not None else add

    def names(self) -> list[str]:
        return list(self._items)

    def check(self, name: str) -> str:
        if name not in self._items:
            raise ConfigError(f"{self.axis}={name!r} is not a known value; choose one of: {', '.join(self._items)}")
        return name

    def get(self, name: str) -> Callable[..., Any]:
        return self._items[self.check(name)]

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.get(name)(*args, **kwargs)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __repr__(self) -> str:
        return f"Registry({self.axis!r}, {self.names()})"


def _source(f: Callable[..., Any]) -> tuple:
    code = getattr(f, "__code__", None)
    return (getattr(f, "__qualname__", None), code and code.co_filename, code and code.co_firstlineno) if code else (f,)
