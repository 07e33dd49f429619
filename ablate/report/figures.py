"""Figures (matplotlib, Agg), sized and lettered for a paper column, written as PNG and/or PDF.

Curves are the mean over the seeds of a cell with a band from the lowest to the highest seed; final-error plots
show each seed as a dot and the mean with ±1 sample-std error bars. Only completed runs are drawn.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ablate.report.design import Axis, Design  # noqa: E402
from ablate.report.speed import Arm, SpeedUp, arm_name, threshold  # noqa: E402
from ablate.report.stats import mean_std  # noqa: E402

# text.parse_math off: labels are config values, and a value like "$\\frac{a$" must print, not crash mathtext.
STYLE = {"text.parse_math": False, "font.size": 8, "axes.titlesize": 8, "legend.fontsize": 7, "axes.labelsize": 8,
         "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.grid": True, "grid.alpha": 0.3}
FIGURE_FORMATS = ("png", "pdf")


@dataclass
class Figure:
    stem: str
    caption: str
    files: list[Path] = field(default_factory=list)
    png: bytes = b""  # the PNG, for embedding in index.html


def save(fig, out: Path, stem: str, caption: str, formats: tuple[str, ...]) -> Figure:
    out.mkdir(parents=True, exist_ok=True)
    result = Figure(stem, caption)
    for fmt in (f for f in FIGURE_FORMATS if f in formats):
        path = out / f"{stem}.{fmt}"
        # No creation date in PDFs: a report rebuilt from the same runs is byte-identical, so a diff shows changes.
        fig.savefig(path, dpi=200 if fmt == "png" else None, bbox_inches="tight",
                    metadata={"CreationDate": None} if fmt == "pdf" else None)
        result.files.append(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150, bbox_inches="tight")
    result.png = buffer.getvalue()
    plt.close(fig)
    return result


def line_style(activation: str) -> str:
    """The paper's Figure 1: ReLU solid, tanh dashed (any saturating unit dashed)."""
    return "--" if activation in ("tanh", "sigmoid") else "-"


def _band(ax, runs: pd.DataFrame, metric: str, label: str, ls: str = "-") -> None:
    curve = runs.dropna(subset=["epoch", metric]).groupby("epoch")[metric].agg(["mean", "min", "max"]) * 100
    if curve.empty:
        return
    line, = ax.plot(curve.index, curve["mean"], label=label, lw=1.2, ls=ls)
    if runs["run"].nunique() > 1:
        ax.fill_between(curve.index, curve["min"], curve["max"], alpha=0.2, color=line.get_color(), lw=0)


def figure1(runs: pd.DataFrame, arms: list[Arm], speed: SpeedUp | None, out: Path,
            formats: tuple[str, ...] = FIGURE_FORMATS, stem: str = "fig1_train_err", label: str = "") -> Figure:
    """Training error vs epochs per activation (ReLU solid, tanh dashed), a line at the threshold (Figure 1's
    25%), the speed-up on top."""
    line = threshold(arms)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(3.4, 2.6))
        for arm in arms:
            _band(ax, runs[runs["run"].isin(arm.runs)], "train_err", f"{arm_name(arm)} (n={len(arm.runs)})",
                  line_style(arm.activation))
        ax.axhline(line * 100, ls=":", color="k", lw=0.8)
        ax.set(xlabel="epochs", ylabel="training error (%)", ylim=(0, 100))
        head = speed.text() if speed else "speed-up: needs completed relu and tanh runs"
        ax.set_title((f"{label}: " if label else "") + head.replace(", tanh", ",\ntanh"), fontsize=6.5)
        ax.legend(loc="upper right")
    caption = (f"Figure 1{f' at {label}' if label else ''}: training error vs epochs per activation (mean over "
               f"seeds, band min–max; relu solid, tanh dashed), dotted line at {line:.0%}. {head} (paper: 6× at 25%).")
    return save(fig, out, stem, caption, formats)


def _axis_runs(per_run: pd.DataFrame, design: Design, axis: Axis) -> dict[str, list[str]]:
    done = per_run[(per_run["status"] == "completed") & per_run["epochs_logged"].gt(0)]
    part = design.at_baseline(done, free=(axis.key,))
    return {v: list(part.loc[part[axis.key] == v, "run"]) for v in axis.values}


def axis_curves(runs: pd.DataFrame, per_run: pd.DataFrame, design: Design, axis: Axis, splits: list[str],
                out: Path, formats: tuple[str, ...]) -> Figure:
    groups = _axis_runs(per_run, design, axis)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(splits), figsize=(3.4 * len(splits), 2.6), squeeze=False)
        for ax, split in zip(axes[0], splits, strict=True):
            for value, ids in groups.items():
                if ids:
                    _band(ax, runs[runs["run"].isin(ids)], f"{split}_top1_err", f"{value} (n={len(ids)})")
            ax.set(xlabel="epochs", ylabel=f"{split} top-1 error (%)", title=f"{axis.title}")
            if ax.get_legend_handles_labels()[0]:
                ax.legend()
    others = design.baseline_text(skip=(axis.key,))
    caption = (f"{' and '.join(splits)} top-1 error vs epochs per {axis.title} (mean, band min–max over seeds)"
               + (f"; other axes at {others}." if others else "."))
    return save(fig, out, f"curves_{axis.key.replace('.', '_')}", caption, formats)


def axis_final(per_run: pd.DataFrame, design: Design, axis: Axis, split: str, out: Path,
               formats: tuple[str, ...]) -> Figure:
    groups = _axis_runs(per_run, design, axis)
    by_run = per_run.set_index("run")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(5.0, 2.4))
        for ax, k in zip(axes, (1, 5), strict=True):
            col = f"final_{split}_top{k}_err"
            for i, ids in enumerate(groups.values()):
                values = list(by_run.loc[ids, col] * 100) if ids else []
                mean, std, n = mean_std(values)
                ax.scatter([i] * len(values), values, s=8, color="0.6", zorder=2)
                if n:
                    ax.errorbar(i, mean, yerr=std if n > 1 else 0, fmt="o", color="C0", capsize=3, zorder=3)
            names = [f"{v}\n(baseline)" if v == axis.baseline else v for v in groups]
            long = max(len(str(v)) for v in groups) > 8
            ax.set_xticks(range(len(groups)), names, rotation=30 if long else 0, ha="right" if long else "center")
            ax.set(ylabel=f"final {split} top-{k} error (%)", xlabel=axis.key)
        fig.tight_layout()
    caption = (f"Final {split} top-1 and top-5 error per {axis.title}: seeds as dots, mean ± 1 sample std; "
               f"baseline {axis.baseline}.")
    return save(fig, out, f"final_{axis.key.replace('.', '_')}", caption, formats)
