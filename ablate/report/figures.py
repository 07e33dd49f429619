"""Figures (matplotlib, Agg): readable at paper size, written as PNG and PDF."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

FIG1_THRESHOLD = 0.25  # the paper's Figure 1 marks 25% training error


def save(fig, out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    for p in paths:
        fig.savefig(p, dpi=200 if p.suffix == ".png" else None, bbox_inches="tight")
    plt.close(fig)
    return paths


def figure1(runs: pd.DataFrame, out: Path, by: str = "model.activation") -> list[Path]:
    """Training error vs epoch, one line per activation (mean over seeds, band = min..max), dashed 25%."""
    data = runs.dropna(subset=["epoch", "train_err"])
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    for value, group in data.groupby(by, sort=True):
        curve = group.groupby("epoch")["train_err"].agg(["mean", "min", "max", "count"])
        n = group["run"].nunique()
        line, = ax.plot(curve.index, curve["mean"], label=f"{value} (n={n})")
        if n > 1:
            ax.fill_between(curve.index, curve["min"], curve["max"], alpha=0.2, color=line.get_color())
    ax.axhline(FIG1_THRESHOLD, ls="--", color="k", lw=0.8, label="25% training error")
    ax.set_xlabel("epochs")
    ax.set_ylabel("training error rate")
    ax.set_ylim(0, 1)
    ax.set_title("Figure 1: training error vs epochs", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save(fig, out, "fig1_train_err")
