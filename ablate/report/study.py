"""A protocol study of Figure 1 (`ablate-report --by KEY`): Figure 1's analysis once per value of a factor (the
input scale, the net), every (factor, activation, lr) cell's epochs to 25% (or --speed-threshold) in one grid, and what each arm's
hidden layers did (activation statistics, `trainer.activation_stats`).

Each slice is analysed exactly as a whole report is: each activation at its fastest lr among the completed runs
of the slice, the speed-up with an interval that redoes that choice (ablate.report.speed). Runs that diverged
are results: the grid shows them, the speed analysis cannot use them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib import ticker

from ablate.report import figures
from ablate.report.cells import Cell, Epochs
from ablate.report.design import Design, value_order, varying_keys
from ablate.report.page import Block
from ablate.report.render import Table
from ablate.report.runtable import UNSET, threshold_of
from ablate.report.speed import ACTIVATION, LR, Arm, compare, epochs_cell, fig1_arms, speed_table, speedup

STAT_LABELS = {"pre_std": "pre-activation std", "saturated": "saturated units (%)", "dead": "dead units (%)"}


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def by_blocks(runs: pd.DataFrame, one: pd.DataFrame, key: str, baselines: dict[str, str], out: Path,
              fmt: tuple[str, ...]) -> list[Block]:
    blocks: list[Block] = []
    arms_by: dict[str, list[Arm]] = {}
    for value in value_order(one[key]):
        part = one[one[key] == value]
        arms = fig1_arms(part, Design.of(part, baselines))
        if len(arms) < 2:
            continue
        arms_by[value] = arms
        tag = slug(f"{key}_{value}")
        fig = figures.figure1(runs, arms, speedup(arms), out, fmt, stem=f"fig1_train_err_{tag}",
                              label=f"{key}={value}")
        table = speed_table(arms)
        table.name, table.caption = f"table_fig1_speed_{tag}", f"{table.caption}, {key}={value}"
        blocks += [Block("h2", f"Figure 1 at {key}={value}"), Block("figure", fig), Block("table", table)]
    blocks += [Block("h2", f"Epochs to {threshold_of(one):.0%} training error in every cell"),
               Block("table", epochs_grid(one, key, baselines))]
    stats = [c.removesuffix("_pre_std") for c in runs.columns if c.endswith("_pre_std")]
    if stats and arms_by:
        blocks += [Block("h2", "What the hidden layers did (activation statistics)"),
                   Block("figure", activation_figure(runs, arms_by, key, stats, out, fmt))]
    if arm_keys(one, key):
        table, by_arm = arm_speed_table(one, key, baselines)
        blocks += [Block("h2", "The speed-up in every arm"), Block("table", table)]
        if stats and by_arm:
            blocks.append(Block("figure", activation_figure(runs, by_arm, ", ".join([key, *arm_keys(one, key)]),
                                                            stats, out, fmt, stem="activation_stats_arms")))
    return blocks


@dataclass
class GridCell(Cell):
    """One cell's epochs to the threshold over its completed runs, and how many runs ended otherwise."""
    epochs: Epochs | None
    other: dict[str, int]  # status → runs (diverged, failed, ...)

    def text(self) -> str:
        parts = [self.epochs.text()] if self.epochs else []
        parts += [f"{count} {status}" for status, count in self.other.items()]
        return "; ".join(parts) or "—"

    def values(self) -> dict[str, Any]:
        out = self.epochs.values() if self.epochs else {"": None, "std": None, "n": 0, "reached": 0}
        return {**out, "diverged": self.other.get("diverged", 0),
                "other": sum(c for s, c in self.other.items() if s != "diverged")}


def _cell(group: pd.DataFrame) -> GridCell:
    done = group[group["status"] == "completed"]
    epochs = epochs_cell(done) if len(done) else None
    other = group.loc[group["status"] != "completed", "status"].value_counts()
    return GridCell(epochs, {str(s): int(c) for s, c in other.items()})


def epochs_grid(one: pd.DataFrame, key: str, baselines: dict[str, str] | None = None) -> Table:
    """Rows: factor value × every other varying key (an arm such as model.tanh_a) × activation; columns: learning
    rates; cells: epochs to the threshold over seeds. Runs of different arms never share a cell."""
    lrs = value_order(one[LR]) if LR in one else ["—"]
    arms, base = arm_keys(one, key), baseline_arm(one, key, baselines or {})
    rows = []
    for value in value_order(one[key]):
        part = one[one[key] == value]
        for arm in _arm_values(part, arms, base):
            in_arm = _in_arm(part, arms, arm)
            for act in value_order(in_arm[ACTIVATION]):
                cell = in_arm[in_arm[ACTIVATION] == act]
                rows.append([value, *arm, act,
                             *[_cell(cell[cell[LR] == lr]) if LR in cell else _cell(cell) for lr in lrs]])
    return Table("table_epochs_grid", f"Epochs to {threshold_of(one):.0%} training error per cell "
                 f"({', '.join([key, *arms])}, activation, lr)",
                 [key, *arms, "activation", *[f"lr {lr}" for lr in lrs]], rows,
                 notes=["Mean ± sample std over completed seeds, interpolated between epochs; '> N' when some runs "
                        "never reached the threshold within their budget (their last epoch counts: a lower bound); "
                        "runs that diverged or failed are counted, not averaged."
                        + (f" '{UNSET}' in an arm column: the run's config has no such key (its default)."
                           if arms else "")],
                 keys=[slug(key), *[slug(k) for k in arms], "activation", *[f"lr_{lr}" for lr in lrs]])


def arm_keys(one: pd.DataFrame, key: str) -> list[str]:
    """The keys that make an arm: every varying key other than the factor, the activation and the lr."""
    return [k for k in varying_keys(one) if k not in (key, ACTIVATION, LR)]


def _in_arm(part: pd.DataFrame, arms: list[str], arm: tuple[str, ...]) -> pd.DataFrame:
    return part[(part[arms] == pd.Series(arm, index=arms)).all(axis=1)] if arms else part


def arm_speed_table(one: pd.DataFrame, key: str, baselines: dict[str, str]) -> tuple[Table, dict[str, list[Arm]]]:
    """Per factor value × arm: each activation at its fastest lr within the arm, and tanh/relu with the interval
    that redoes both picks. An activation an arm did not run (the LeCun-tanh arm has no relu: ReLU has no a, b)
    is the baseline arm's (every arm key at its baseline), and the row says so; with none it stays empty. One the
    arm ran without a completed run (all diverged, or still running) shows its runs' statuses, never another
    arm's numbers. Also returns each row's own arms (label → arms), for the activation statistics per arm."""
    arms, rows, by_arm = arm_keys(one, key), [], {}
    base = baseline_arm(one, key, baselines)
    for value in value_order(one[key]):
        part = one[one[key] == value]
        baseline: dict[str, Arm] = {}
        for combo in _arm_values(part, arms, base):
            in_arm = _in_arm(part, arms, combo)
            own = {a.activation: a for a in fig1_arms(in_arm, Design.of(in_arm, baselines))}
            if combo == base:
                baseline = own
            picked = {act: _activation_entry(act, own, baseline, in_arm) for act in ("relu", "tanh")}
            relu, tanh = picked["relu"][0], picked["tanh"][0]
            if own:
                by_arm[", ".join([value, *[f"{k.split('.', 1)[-1]}={v}" for k, v, b in zip(arms, combo, base,
                                                                                          strict=True)
                                           if v != b]])] = list(own.values())
            rows.append([value, *combo, *picked["relu"][1], *picked["tanh"][1],
                         compare(tanh, relu).cell() if relu and tanh else None,
                         compare(tanh, relu, choose=False).cell() if relu and tanh else None,
                         ", ".join(note for _, _, note in picked.values() if note) or "this arm's runs"])
    columns = [key, *arms, "relu lr", "relu", "tanh lr", "tanh", "tanh / relu [95% CI]", "lrs held fixed", "runs"]
    return Table("table_fig1_speed_arms", f"Epochs to {threshold_of(one):.0%} training error and tanh/relu in every "
                 f"arm ({', '.join([key, *arms])}), each activation at its fastest lr within the arm", columns, rows,
                 notes=["As the per-input speed tables: the fastest lr is picked per activation within the arm, on "
                        "these same runs, so the interval redoes the pick in every draw (it needs n ≥ 2 at every lr "
                        "where the activation reached the threshold); 'lrs held fixed' takes the two picked cells as "
                        "given (a plain interval, narrower; shown, never judged on). 'runs' says where an "
                        "activation the arm did not run was taken from, or that one it ran has no completed run "
                        "(its entry then counts its runs by status, e.g. '1 diverged', at the lrs it ran). "
                        f"'{UNSET}': the key is not in the run's config (its default)."],
                 keys=[slug(key), *[slug(k) for k in arms], "relu_lr", "relu", "tanh_lr", "tanh", "tanh_over_relu",
                       "tanh_over_relu_fixed", "runs"]), by_arm


def _activation_entry(act: str, own: dict[str, Arm], baseline: dict[str, Arm],
                      in_arm: pd.DataFrame) -> tuple[Arm | None, list[Any], str]:
    """One activation's (arm, [lr, epochs] entries, note for 'runs') in one arm's row."""
    if act in own:
        return own[act], _arm_cells(own[act]), ""
    ran = in_arm[in_arm[ACTIVATION] == act] if ACTIVATION in in_arm else in_arm.iloc[:0]
    if len(ran):
        lrs = ", ".join(value_order(ran[LR])) if LR in ran else None
        return None, [lrs, _cell(ran)], f"{act}: no completed run"
    arm = baseline.get(act)
    return arm, _arm_cells(arm), f"{act}: baseline arm's runs" if arm else ""


def _arm_cells(arm: Arm | None) -> list[Any]:
    return [arm.lr, arm.cell()] if arm else [None, None]


def baseline_arm(one: pd.DataFrame, key: str, baselines: dict[str, str]) -> tuple[str, ...]:
    """The arm keys' values where every one sits at its baseline (the design's: paper's choice, the default, or
    the commonest value): model.tanh_a=1 is the plain-tanh arm although every run records it."""
    arms = arm_keys(one, key)
    design = Design.of(one, baselines)
    at = design.at_baseline(one, free=(key, ACTIVATION, LR))
    combos = set(at[arms].itertuples(index=False, name=None)) if arms else set()
    return combos.pop() if len(combos) == 1 else (UNSET,) * len(arms)


def _arm_values(part: pd.DataFrame, arms: list[str], base: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The arms present in `part`, the baseline combination `base` first, then in value order."""
    if not arms:
        return [()]
    combos = list(dict.fromkeys(tuple(row) for row in part[arms].itertuples(index=False)))
    return sorted(combos, key=lambda c: (c != base, c))


def activation_figure(runs: pd.DataFrame, arms_by: dict[str, list[Arm]], key: str, layers: list[str], out: Path,
                      fmt: tuple[str, ...], stem: str = "activation_stats") -> figures.Figure:
    """Per layer (columns): pre-activation std, and the saturated (tanh) or dead (relu) fraction, per arm; one
    colour per entry of `arms_by` (a value of `key`)."""
    stats = ["pre_std", *[s for s in ("saturated", "dead") if any(f"{layer}_{s}" in runs for layer in layers)]]
    with plt.rc_context(figures.STYLE):
        fig, axes = plt.subplots(len(stats), len(layers), figsize=(2.1 * len(layers), 1.8 * len(stats)),
                                 squeeze=False, sharex=True)
        for c, (value, arms) in enumerate(arms_by.items()):
            for arm in arms:
                part = runs[runs["run"].isin(arm.runs)]
                for i, stat in enumerate(stats):
                    for j, layer in enumerate(layers):
                        col = f"{layer}_{stat}"
                        if col not in part or part[col].isna().all():
                            continue
                        curve = part.groupby("epoch")[col].mean() * (1 if stat == "pre_std" else 100)
                        axes[i][j].plot(curve.index, curve, color=f"C{c}", lw=1.1,
                                        ls=figures.line_style(arm.activation),
                                        label=f"{arm.activation} lr {arm.lr}, {value}")
        for i, stat in enumerate(stats):
            for j, layer in enumerate(layers):
                ax = axes[i][j]
                ax.set_title(layer if i == 0 else "", fontsize=7)
                if stat == "pre_std":  # plain tick labels: mathtext is off (labels carry config values)
                    ax.set_yscale("log")
                    # 1-2-5 majors: a layer whose std spans less than a decade still gets labelled ticks.
                    ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
                    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
                    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
                if j == 0:
                    ax.set_ylabel(STAT_LABELS[stat])
                if i == len(stats) - 1:
                    ax.set_xlabel("epochs")
        handles, labels = axes[0][0].get_legend_handles_labels()
        # As many columns as fit the axes' width: a legend wider than the axes would widen the saved figure.
        ncol = max(1, min(len(labels), int(26 * len(layers) / max(map(len, labels), default=1))))
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        fig.legend(handles, labels, loc="upper center", ncol=ncol, fontsize=6, bbox_to_anchor=(0.5, 0.04))
    caption = (f"Activation statistics per hidden layer on a fixed probe batch, each arm at its fastest lr (mean over "
               f"seeds); colour: {key}, line: activation (relu solid, tanh dashed). Saturated: |tanh| > 0.95·a; "
               "dead: relu units that output 0 for every probe image.")
    return figures.save(fig, out, stem, caption, fmt)
