"""Figure 1's claim: epochs to 25% training error per activation, and the speed-up of ReLU over tanh.

The paper chose each net's learning rate "to make training as fast as possible", so when `optim.lr` is swept,
each activation is shown at its own fastest lr: the one with the fewest mean epochs to the threshold (runs that
never get there count as their last epoch, and any such run ranks the lr behind those where all runs got there).
Only completed runs whose other axes sit at their baselines are used. Epochs to the threshold are interpolated
linearly between logged epochs; a run that never reaches it makes its arm a lower bound ("> N"), never a gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ablate.report.design import Design, value_order
from ablate.report.stats import mean_std, welch_ci

ACTIVATION, LR = "model.activation", "optim.lr"


@dataclass
class Arm:
    activation: str
    lr: str | None  # the learning rate of these runs
    lr_choices: list[str]  # the lrs it was picked from (one entry when there was no choice)
    runs: list[str]
    epochs: list[float]  # per run: epochs to the threshold, nan if never reached
    last: list[float]  # per run: last logged epoch

    @property
    def bounds(self) -> list[float]:
        """Per run: the epochs to threshold, or the last epoch (a lower bound) when it never got there."""
        return [e if math.isfinite(e) else last for e, last in zip(self.epochs, self.last, strict=True)]

    @property
    def censored(self) -> int:
        return sum(not math.isfinite(e) for e in self.epochs)

    @property
    def mean(self) -> float:
        return mean_std(self.bounds)[0]

    def text(self) -> str:
        mean, std, n = mean_std(self.bounds)
        if self.censored:
            return f"> {mean:.1f} ({n - self.censored}/{n} runs reached it)"
        return f"{mean:.1f}" + (f" ± {std:.1f}" if n > 1 else "") + f" (n={n})"


def _arm(activation: str, group: pd.DataFrame, choices: list[str]) -> Arm:
    return Arm(activation, group[LR].iloc[0] if LR in group else None, choices, list(group["run"]),
               [float(x) for x in group["epochs_to_threshold"]], [float(x) for x in group["last_epoch"]])


def fig1_arms(table: pd.DataFrame, design: Design) -> list[Arm]:
    """One arm per activation among the completed runs at baseline, each at its fastest lr."""
    if ACTIVATION not in table or "epochs_to_threshold" not in table:
        return []
    done = table[(table["status"] == "completed") & table["epochs_logged"].gt(0)]
    data = design.at_baseline(done, free=(ACTIVATION, LR))
    arms = []
    for act in value_order(data[ACTIVATION]):
        group = data[data[ACTIVATION] == act]
        by_lr = [_arm(act, g, []) for _, g in group.groupby(LR)] if LR in group else [_arm(act, group, [])]
        best = min(by_lr, key=lambda a: (a.censored > 0, a.mean))
        best.lr_choices = value_order(a.lr for a in by_lr if a.lr is not None)
        arms.append(best)
    return arms


@dataclass
class SpeedUp:
    fast: Arm
    slow: Arm
    ratio: float  # mean epochs of slow / mean epochs of fast (bounds when censored)
    lo: float  # 95% CI of the ratio of geometric means (nan with n < 2 on either side)
    hi: float

    @property
    def kind(self) -> str:
        """exact, at_least (only the slow arm censored), at_most (only the fast one), unknown (both)."""
        return {(0, 0): "exact", (1, 0): "at_least", (0, 1): "at_most"}.get(
            (int(self.slow.censored > 0), int(self.fast.censored > 0)), "unknown")

    def text(self, threshold: float) -> str:
        mark = {"exact": "", "at_least": "> ", "at_most": "< ", "unknown": "? "}[self.kind]
        ci = f" [95% CI {self.lo:.1f}–{self.hi:.1f}]" if math.isfinite(self.lo) and self.kind == "exact" else ""
        return (f"epochs to {threshold:.0%}: {arm_name(self.fast)} {self.fast.text()}, "
                f"{arm_name(self.slow)} {self.slow.text()} → {mark}{self.ratio:.1f}×{ci}")


def arm_name(arm: Arm) -> str:
    return arm.activation + (f" (lr {arm.lr})" if len(arm.lr_choices) > 1 else "")


def speedup(arms: list[Arm], fast: str = "relu", slow: str = "tanh") -> SpeedUp | None:
    by = {a.activation: a for a in arms}
    if fast not in by or slow not in by:
        return None
    f, s = by[fast], by[slow]
    logs_f, logs_s = np.log(np.maximum(f.bounds, 1e-9)), np.log(np.maximum(s.bounds, 1e-9))
    _, lo, hi = welch_ci(logs_s, logs_f)
    ratio = s.mean / f.mean if f.mean > 0 else math.nan
    return SpeedUp(f, s, ratio, math.exp(lo), math.exp(hi))
