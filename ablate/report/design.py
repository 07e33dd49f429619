"""The sweep's design, read off the runs: which config keys vary (the axes), each axis' baseline, the variants.

An axis is a config key whose value differs between runs, other than the seed and bookkeeping keys that do not
change what is trained. Keys that move together one-to-one across all runs (e.g. `model.towers` with a width
that halves with it) form one axis, so the comparison the sweep was built for is not lost. A variant is one
combination of axis values; its runs differ only by seed. An axis is compared within its slice: the runs whose
other axes all sit at their baselines (the one-at-a-time ablation design).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from ablate.identity import is_bookkeeping
from ablate.report.paper import DEFAULT_BASELINES
from ablate.report.runtable import UNSET, config_keys


def value_order(values) -> list[str]:
    """Numbers in numeric order, then the rest alphabetically."""
    def key(v: str):
        try:
            return (0, float(v), v)
        except ValueError:
            return (1, 0.0, v)
    return sorted(set(values), key=key)


@dataclass
class Axis:
    key: str
    values: list[str]  # baseline first, then value_order
    baseline: str
    tied: list[str] = field(default_factory=list)  # keys that move one-to-one with this one
    note: str = ""  # why the baseline is what it is, when not the paper's or the user's choice

    @property
    def title(self) -> str:
        return self.key + (f" (with {', '.join(self.tied)})" if self.tied else "")


def trained_keys(table: pd.DataFrame) -> list[str]:
    """The config keys that say what is trained: bookkeeping keys (ablate.identity: where or how a run is done)
    and the seed never make a variant."""
    return [k for k in config_keys(table) if k != "seed" and not is_bookkeeping(k)]


def varying_keys(table: pd.DataFrame) -> list[str]:
    return [k for k in trained_keys(table) if table[k].nunique(dropna=False) > 1]


def _one_to_one(table: pd.DataFrame, a: str, b: str) -> bool:
    return bool(table.groupby(a)[b].nunique().max() == 1 and table.groupby(b)[a].nunique().max() == 1)


def commonest(values) -> str:
    counts = Counter(values)
    return max(value_order(counts), key=lambda v: counts[v])  # max keeps the first of a tie


def _baseline(table: pd.DataFrame, key: str, overrides: dict[str, str]) -> tuple[str, str]:
    counts = Counter(table[key])
    commonest = max(value_order(counts), key=lambda v: counts[v])  # max keeps the first of a tie
    chosen = overrides.get(key, DEFAULT_BASELINES.get(key))
    if chosen is None and UNSET in counts:  # runs without the key ran its default: the reference arm
        return UNSET, "the default (key unset)"
    if chosen is None:
        return commonest, "commonest value"
    if chosen not in counts:
        return commonest, f"baseline {chosen} has no runs; using the commonest value"
    return chosen, "--baseline" if key in overrides else "paper's choice"


@dataclass
class Design:
    axes: list[Axis]
    short: dict[str, str]  # axis key -> short column name for labels

    @classmethod
    def of(cls, table: pd.DataFrame, overrides: dict[str, str] | None = None) -> Design:
        """The design of `table` (one row per run, config values as strings, see runtable.per_run)."""
        overrides = overrides or {}
        keys = varying_keys(table)
        # Keys with a chosen baseline lead their group, so a tied width never hides towers=2.
        keys.sort(key=lambda k: (k not in overrides and k not in DEFAULT_BASELINES, k))
        axes: list[Axis] = []
        for key in keys:
            host = next((a for a in axes if _one_to_one(table, a.key, key)), None)
            if host is not None:
                host.tied.append(key)
                continue
            baseline, note = _baseline(table, key, overrides)
            rest = [v for v in value_order(table[key]) if v != baseline]
            axes.append(Axis(key, [baseline, *rest], baseline, note=note))
        axes.sort(key=lambda a: a.key)
        last = [a.key.rsplit(".", 1)[-1] for a in axes]
        short = {a.key: (s if last.count(s) == 1 else a.key) for a, s in zip(axes, last, strict=True)}
        return cls(axes, short)

    def axis(self, key: str) -> Axis | None:
        """The axis named `key`; a key naming a mapping (`model.layer_decay`) names the one axis of its entries."""
        exact = next((a for a in self.axes if a.key == key), None)
        inside = [a for a in self.axes if any(k.startswith(f"{key}.") for k in (a.key, *a.tied))]
        return exact or (inside[0] if len(inside) == 1 else None)

    def label(self, row: pd.Series, skip: tuple[str, ...] = ()) -> str:
        parts = [f"{self.short[a.key]}={row[a.key]}" for a in self.axes if a.key not in skip]
        return ", ".join(parts) if parts else "all runs"

    def at_baseline(self, table: pd.DataFrame, free: tuple[str, ...] = ()) -> pd.DataFrame:
        """The runs whose axes, other than `free`, all sit at their baselines."""
        mask = pd.Series(True, index=table.index)
        for a in self.axes:
            if a.key not in free:
                mask &= table[a.key] == a.baseline
        return table[mask]

    def baseline_text(self, skip: tuple[str, ...] = ()) -> str:
        parts = [f"{self.short[a.key]}={a.baseline}" for a in self.axes if a.key not in skip]
        return ", ".join(parts)
