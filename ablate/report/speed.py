"""Figure 1's claim: epochs to 25% training error per activation, and the speed-up of ReLU over tanh (the
threshold is per_run's: `ablate-report --speed-threshold` counts epochs to another one where 25% is out of reach).

The paper chose each net's learning rate "to make training as fast as possible", so when `optim.lr` is swept,
each activation is shown at its own fastest lr: the one with the fewest mean epochs to the threshold (runs that
never get there count as their last epoch, and any such run ranks the lr behind those where all runs got there).
Only completed runs whose other axes sit at their baselines are used. Epochs to the threshold are interpolated
linearly between logged epochs; a run that never reaches it makes its arm a lower bound ("> N"), never a gap.

Picking the fastest lr on the same runs that then measure the speed-up flatters the picked arm, so the speed-up's
interval redoes the pick in every draw (`stats.selection_ci`, seeded: the same runs give the same interval). The
speed table also shows the ratio at every learning rate both activations ran, where nothing was picked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ablate.report.cells import Epochs, RatioCI
from ablate.report.design import Design, value_order
from ablate.report.paper import FIG1_THRESHOLD
from ablate.report.render import Table
from ablate.report.runtable import threshold_of
from ablate.report.stats import mean_std, selection_ci

ACTIVATION, LR = "model.activation", "optim.lr"
DRAWS = 200_000  # per interval: the bounds' Monte-Carlo error is then under 1% of the width (fig1 reports)
SEED = 2012  # fixed, so a report made twice from the same runs gives the same intervals


@dataclass
class Arm:
    activation: str
    lr: str | None  # the learning rate of these runs
    lr_choices: list[str]  # the lrs it was picked from (one entry when there was no choice)
    runs: list[str]
    epochs: list[float]  # per run: epochs to the threshold, nan if never reached
    last: list[float]  # per run: last logged epoch
    threshold: float = FIG1_THRESHOLD  # the training error (fraction) `epochs` count to
    scanned: list[Arm] = field(default_factory=list, repr=False)  # the activation's arm at every lr run

    @property
    def bounds(self) -> list[float]:
        """Per run: the epochs to threshold, or the last epoch (a lower bound) when it never got there."""
        return [e if math.isfinite(e) else last for e, last in zip(self.epochs, self.last, strict=True)]

    @property
    def logs(self) -> np.ndarray:
        return np.log(np.maximum(self.bounds, 1e-9))

    @property
    def censored(self) -> int:
        return sum(not math.isfinite(e) for e in self.epochs)

    @property
    def mean(self) -> float:
        return mean_std(self.bounds)[0]

    @property
    def candidates(self) -> list[Arm]:
        """The arms its lr was picked from: those where every run reached the threshold, when there are any."""
        cells = self.scanned or [self]
        return [c for c in cells if not c.censored] or cells

    def cell(self) -> Epochs:
        return Epochs(*mean_std(self.bounds), censored=self.censored)

    def text(self) -> str:
        return self.cell().text()


def _arm(activation: str, group: pd.DataFrame, choices: list[str]) -> Arm:
    return Arm(activation, group[LR].iloc[0] if LR in group else None, choices, list(group["run"]),
               [float(x) for x in group["epochs_to_threshold"]], [float(x) for x in group["last_epoch"]],
               threshold_of(group))


def epochs_cell(group: pd.DataFrame) -> Epochs:
    """Epochs to the threshold over the runs of `group`, a lower bound ("> N") where some never got there."""
    return _arm("", group, []).cell()


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
        order = value_order(a.lr for a in by_lr if a.lr is not None)
        by_lr.sort(key=lambda a: order.index(a.lr) if a.lr in order else -1)  # numeric order, as in the tables
        best = min(by_lr, key=lambda a: (a.censored > 0, a.mean))
        best.lr_choices = value_order(a.lr for a in by_lr if a.lr is not None)
        best.scanned = by_lr
        arms.append(best)
    return arms


@dataclass
class Ratio:
    """Epochs of `slow` over epochs of `fast`: the ratio of means, and a 95% interval (nan when there is none)."""
    slow: Arm
    fast: Arm
    ratio: float
    lo: float
    hi: float
    n: tuple[int, int]  # the fewest completed runs of any arm the interval draws on, per side

    @property
    def censored(self) -> str:
        """"baseline" when the fast arm is a lower bound (the ratio could be anything), "value" when only the slow
        one is (the ratio is a lower bound), else ""."""
        return "baseline" if self.fast.censored else ("value" if self.slow.censored else "")

    def cell(self) -> RatioCI:
        return RatioCI(self.ratio, self.lo, self.hi, self.n, self.censored)

    def text(self) -> str:
        return self.cell().text()


def compare(slow: Arm, fast: Arm, choose: bool = True) -> Ratio:
    """slow/fast with its interval; `choose`: each arm's lr was picked on these runs, so every draw picks again."""
    slow_cells = slow.candidates if choose else [slow]
    fast_cells = fast.candidates if choose else [fast]
    pick = [next(i for i, c in enumerate(cells) if c is arm) for cells, arm in ((slow_cells, slow),
                                                                                 (fast_cells, fast))]
    _, lo, hi = selection_ci([c.logs for c in slow_cells], [c.logs for c in fast_cells], *pick, draws=DRAWS,
                             seed=SEED)
    ratio = slow.mean / fast.mean if fast.mean > 0 else math.nan
    n = (min(len(c.runs) for c in slow_cells), min(len(c.runs) for c in fast_cells))
    return Ratio(slow, fast, ratio, math.exp(lo), math.exp(hi), n)


@dataclass
class SpeedUp:
    fast: Arm
    slow: Arm
    ratio: float  # mean epochs of slow / mean epochs of fast (bounds when censored)
    lo: float  # 95% interval of the ratio of geometric means, each arm's lr choice redone (nan: none)
    hi: float

    @property
    def kind(self) -> str:
        """exact, at_least (only the slow arm censored), at_most (only the fast one), unknown (both)."""
        return {(0, 0): "exact", (1, 0): "at_least", (0, 1): "at_most"}.get(
            (int(self.slow.censored > 0), int(self.fast.censored > 0)), "unknown")

    def text(self) -> str:
        mark = {"exact": "", "at_least": "> ", "at_most": "< ", "unknown": "? "}[self.kind]
        ci = f" [95% CI {self.lo:.1f}–{self.hi:.1f}]" if math.isfinite(self.lo) and self.kind == "exact" else ""
        return (f"epochs to {self.fast.threshold:.0%}: {arm_name(self.fast)} {self.fast.text()}, "
                f"{arm_name(self.slow)} {self.slow.text()} → {mark}{self.ratio:.1f}×{ci}")


def threshold(arms: list[Arm]) -> float:
    """The training error these arms' epochs count to (all of one report share it)."""
    return arms[0].threshold if arms else FIG1_THRESHOLD


def arm_name(arm: Arm) -> str:
    return arm.activation + (f" (lr {arm.lr})" if len(arm.lr_choices) > 1 else "")


def speedup(arms: list[Arm], fast: str = "relu", slow: str = "tanh") -> SpeedUp | None:
    by = {a.activation: a for a in arms}
    if fast not in by or slow not in by:
        return None
    r = compare(by[slow], by[fast])
    return SpeedUp(by[fast], by[slow], r.ratio, r.lo, r.hi)


def speed_table(arms: list[Arm], fast: str = "relu", slow: str = "tanh") -> Table:
    """Epochs to the threshold per activation at every lr, the ratio at each lr both ran, and at each one's fastest."""
    by = {a.activation: a for a in arms}
    ratio = fast in by and slow in by
    cells = {a.activation: {c.lr: c for c in a.scanned or [a]} for a in arms}
    lrs = value_order(lr for by_lr in cells.values() for lr in by_lr if lr is not None) or [None]
    rows = []
    for lr in lrs:
        row = [lr, *[(cells[a.activation][lr].cell() if lr in cells[a.activation] else None) for a in arms]]
        if ratio:
            both = lr in cells[slow] and lr in cells[fast]
            row.append(compare(cells[slow][lr], cells[fast][lr], choose=False).cell() if both else None)
        rows.append(row)
    if len(lrs) > 1:  # an lr was chosen per activation
        chosen = ", ".join(f"{a.activation} {a.lr}" for a in arms)
        rows.append([f"fastest ({chosen})", *[a.cell() for a in arms]]
                    + ([compare(by[slow], by[fast]).cell()] if ratio else []))
        if ratio:  # the same two cells with their lrs taken as given: an interval while the neighbours lack seeds
            rows.append([f"fastest, lrs held fixed ({chosen})", *[a.cell() for a in arms],
                         compare(by[slow], by[fast], choose=False).cell()])
    columns = ["lr", *[a.activation for a in arms]] + ([f"{slow} / {fast} [95% CI]"] if ratio else [])
    keys = ["lr", *[a.activation for a in arms]] + ([f"{slow}_over_{fast}"] if ratio else [])
    notes = [f"Epochs to {threshold(arms):.0%} training error, interpolated between logged epochs: mean ± sample std "
             "over seeds; '> N' when some runs never got there (their last epoch counts, a lower bound)."]
    if ratio:
        notes.append(
            "Ratio of mean epochs, tanh over relu, at the same lr in each row. "
            + ("The 'fastest' row uses each activation's lr with the fewest mean epochs, as the paper tuned each "
               "net for speed; that choice is made on these same runs, so its interval redoes the choice in every "
               "draw; the 'lrs held fixed' row takes the two picked cells as given (a plain interval of their "
               "ratio, which ignores the pick and so is narrower). " if len(lrs) > 1 else "")
            + f"Intervals: {DRAWS:,} draws (seed {SEED}) of every (activation, lr) cell's mean log epochs from "
              "mean + s/√n · t(n−1), the fastest lr per activation taken in each draw where one is chosen, the "
              "95% quantiles of the log-ratio reflected about the measured one (docs/report.md).")
    return Table("table_fig1_speed", f"Epochs to {threshold(arms):.0%} training error per activation and learning "
                 "rate (Figure 1)", columns, rows, notes=notes, keys=keys)
