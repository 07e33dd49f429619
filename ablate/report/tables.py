"""The report's tables: ILSVRC-style errors per variant, the ablation Δ table with verdicts, run statuses.

All statistics are over the completed runs of a cell (one per seed); runs that diverged, failed or stopped early
are counted in the status columns, never averaged in. Errors are shown in percent.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ablate.report.cells import Interval, MeanStd, Num, Pair
from ablate.report.design import Design, trained_keys, value_order
from ablate.report.paper import (
    FIG1_THRESHOLD,
    REFERENCE_ROWS,
    Claim,
    dataset_family,
    find_claim,
    preferred_claims,
)
from ablate.report.render import Table
from ablate.report.speed import ACTIVATION, Arm, arm_name, compare
from ablate.report.stats import mean_std, welch_ci
from ablate.report.verdicts import VERDICT_RULE, direction_only, paper_delta, verdict

__all__ = ["VERDICT_RULE", "delta_table", "ilsvrc_table", "status_table", "verdict"]

_EMPTY = pd.Series(dtype=float)  # a metric no run of the cell logged


def completed(table: pd.DataFrame) -> pd.DataFrame:
    return table[(table["status"] == "completed") & table["epochs_logged"].gt(0)]


def splits(table: pd.DataFrame) -> list[str]:
    """test, plus val when it is a separate split (the trainer logs val as test when there is no test split)."""
    have = [s for s in ("test", "val") if f"final_{s}_top1_err" in table and table[f"final_{s}_top1_err"].notna().any()]
    if set(have) == {"test", "val"}:
        size = pd.to_numeric(table.get("data.val_size", pd.Series(dtype=float)), errors="coerce")
        held_out = size > 0
        if len(size) and size.notna().all() and held_out.all() == held_out.any():  # the configs agree: they say
            return ["val", "test"] if held_out.all() else ["test"]  # it (runs at chance have val = test to the digit)
        same = np.allclose(table["final_test_top1_err"], table["final_val_top1_err"], equal_nan=True)
        return ["test"] if same else ["val", "test"]
    return have or ["test"]  # nothing logged yet: the columns stay, empty


def pct(values: pd.Series) -> MeanStd:
    return MeanStd(*mean_std(list(values * 100)))


def _variants(table: pd.DataFrame, design: Design) -> list[tuple[str, pd.DataFrame]]:
    if not design.axes:
        return [("all runs", table)]
    keys = [a.key for a in design.axes]
    order = {a.key: {v: i for i, v in enumerate(a.values)} for a in design.axes}
    groups = list(table.groupby(keys, sort=False))
    groups.sort(key=lambda kv: [order[k][v] for k, v in zip(keys, np.atleast_1d(kv[0]), strict=True)])
    return [(design.label(g.iloc[0]), g) for _, g in groups]


def status_counts(group: pd.DataFrame) -> str:
    """The runs of a variant that n leaves out, by why (a duplicate is a completed run recorded twice)."""
    counts = group["status"].value_counts()
    said = {"duplicate": "recorded twice (counted once)"}
    return ", ".join(f"{n} {said.get(s, s)}" for s, n in counts.items() if s != "completed") or "—"


def ilsvrc_table(table: pd.DataFrame, design: Design) -> Table:
    """Per variant: top-1/top-5 error, final and best (lowest validation top-1), mean ± std over seeds."""
    use = splits(table)
    metric_cols = [(s, when, k) for s in use for when in ("final", "best") for k in (1, 5)]
    columns = ["Variant", "n", "Not counted"] + [f"Top-{k} {when} ({s})" for s, when, k in metric_cols]
    keys = ["variant", "n", "not_counted"] + [f"top{k}_{when}_{s}" for s, when, k in metric_cols]
    crops = "data.test_crops" in table
    if crops:
        columns.insert(2, "Test crops")
        keys.insert(2, "test_crops")
    rows = []
    for name, group in _variants(table, design):
        done = completed(group)
        row = [name, len(done), status_counts(group)]
        if crops:  # a number, unless the variant's runs mix views (1/10)
            views = sorted(set(group["data.test_crops"]), key=int)
            row.insert(2, int(views[0]) if len(views) == 1 else "/".join(views))
        rows.append(row + [pct(done.get(f"{when}_{s}_top{k}_err", _EMPTY)) for s, when, k in metric_cols])
    reference = []
    first = (len(columns) - len(metric_cols), len(columns) - len(metric_cols) + 1)  # final top-1/top-5 cells
    for ref in REFERENCE_ROWS:
        for split, top1, top5 in [(ref.split, ref.top1, ref.top5), (ref.split.replace("val", "test"), None,
                                                                     ref.test_top5)]:
            if top1 is None and top5 is None:
                continue
            cells = [f"{ref.model} ({ref.source}, {split})"] + [None] * (len(columns) - 1)
            cells[first[0]], cells[first[1]] = Num(top1), Num(top5)
            reference.append(cells)
    notes = ["Mean ± sample std over the completed seeds of each variant; n = completed seeds. 'best' = the "
             "epoch with the lowest validation top-1 error. Errors in %. "
             + ("" if "val" in use else "No separate validation split: validation = test. ")
             + f"Baselines: {design.baseline_text() or 'single variant'}.",
             "Reference rows are the paper's ImageNet results (ILSVRC-2010 Table 1, ILSVRC-2012 Table 2; "
             "* = pre-trained on ImageNet Fall 2011), printed for scale: they are not comparable to other data sets."]
    return Table("table_ilsvrc", "Top-1 and top-5 error per variant (layout of the paper's Tables 1–2)",
                 columns, rows, reference, notes=notes, keys=keys)


def _family(table: pd.DataFrame) -> str:
    names = table["data.name"].dropna() if "data.name" in table else pd.Series(dtype=str)
    return dataset_family(names.mode().iloc[0]) if len(names) else "other"


def _config(runs: pd.DataFrame) -> dict[str, str]:
    """What one side's runs were trained as (they share every such value: one variant, seeds apart)."""
    return {k: runs.iloc[0][k] for k in trained_keys(runs)} if len(runs) else {}


def _holding(runs: pd.DataFrame, side: dict[str, str]) -> pd.DataFrame:
    mask = pd.Series(True, index=runs.index)
    for key, value in side.items():
        mask &= runs[key] == value if key in runs else False
    return runs[mask]


def _delta_row(names: tuple[str, str, str], measure: str, a: pd.Series, b: pd.Series, claim: Claim | None,
               family: str, used: dict[str, Claim], n: tuple[int, int] | None = None) -> list:
    """One Δ row: value − baseline of per-run numbers (pts) with its Welch interval, judged against `claim`."""
    n = n or (len(a), len(b))
    delta, lo, hi = welch_ci(list(a), list(b))
    if claim:
        used[f"{claim.source}, {claim.dataset}"] = claim
    return [*names, Pair(*n), measure, Interval(delta, lo, hi, n), paper_delta(claim, family),
            f"{claim.source}, {claim.dataset}" if claim else None,
            verdict(lo, hi, n, claim, claim.delta if claim else None, direction=direction_only(claim, family))]


def _error_rows(names: tuple[str, str, str], a: pd.DataFrame, b: pd.DataFrame, claims: dict[str, Claim | None],
                family: str, used: dict[str, Claim], ks: tuple[int, ...] = (1, 5)) -> list[list]:
    col = "final_test_top{}_err"
    return [_delta_row(names, f"top-{k} err (pts)", a.get(col.format(k), _EMPTY) * 100,
                       b.get(col.format(k), _EMPTY) * 100, claims.get(f"top{k}"), family, used, (len(a), len(b)))
            for k in ks]


GAP_TRAIN = "eval_train_top1_err"  # `ablate-eval --split train`: the final weights on the training split, eval mode
GAP_MEASURE = "train-test gap (pts)"
GAP_NOTE = ("train-test gap: final test top-1 error minus the final weights' top-1 error on the run's own training "
            "images scored as validation is (no augmentation, dropout off; `ablate-eval --split train`), per run; "
            "Δ = the value's gap minus the baseline's. Runs without that score are left out of the gap rows (n).")


TRAIN_NOTE = ("train top-1 err: the final weights' top-1 error on the run's own training images, scored as "
              "validation is (`ablate-eval --split train`): the training error a claim about learning speaks of, "
              "without the augmentation and dropout noise of the logged train_err.")


UNSCORED = "have no training-split score"  # in the note of a pair that lacks its rows; reports/claims.py reads it


def _scored(runs: pd.DataFrame) -> bool:
    return GAP_TRAIN in runs and bool(completed(runs)[GAP_TRAIN].notna().any())


def _unscored_note(names: tuple[str, str, str], a: pd.DataFrame, b: pd.DataFrame, claimed: bool,
                   rows: str = "train-test gap row") -> list[str]:
    """Why a pair lacks the rows scored on the training split, where a reader would look for them: a claim about
    them (`rows` names the ones it is judged on), or one side scored."""
    bare = [f"{name} ({n} completed)" for name, runs in zip(names[1:], (a, b), strict=True)
            if (n := len(completed(runs))) and not _scored(runs)]
    if not bare or not (claimed or _scored(a) or _scored(b)):
        return []
    return [f"{names[0]} {names[1]} against {names[2]}: no {rows}, as the runs of {' and '.join(bare)} {UNSCORED}; "
            "`ablate-eval <run folder> --split train` adds it (it needs each run's final weights)."]


def _gap_row(names: tuple[str, str, str], a: pd.DataFrame, b: pd.DataFrame, claim: Claim | None, family: str,
             used: dict[str, Claim]) -> list:
    """How much more the value overfits than the baseline: Δ of (test − train) top-1 error, Welch interval."""
    a_gap, b_gap = [(runs["final_test_top1_err"] - runs.get(GAP_TRAIN, _EMPTY)).dropna() * 100 for runs in (a, b)]
    return _delta_row(names, GAP_MEASURE, a_gap, b_gap, claim, family, used)


TRAIN_MEASURE = "train top-1 err (pts)"  # the final weights on the training split, eval mode (ablate-eval)


def _train_row(names: tuple[str, str, str], a: pd.DataFrame, b: pd.DataFrame, claim: Claim | None, family: str,
               used: dict[str, Claim]) -> list:
    """Δ of the final weights' training error (eval mode): what §5 says weight decay lowers."""
    a_err, b_err = [runs.get(GAP_TRAIN, _EMPTY).dropna() * 100 for runs in (a, b)]
    return _delta_row(names, TRAIN_MEASURE, a_err, b_err, claim, family, used)


def _speed_row(title: str, arm: Arm, base: Arm, family: str, used: dict[str, Claim]) -> list:
    r = compare(arm, base)
    claim = find_claim({ACTIVATION: arm.activation}, {ACTIVATION: base.activation}, "speed", family)
    if claim:
        used[f"{claim.source}, {claim.dataset}"] = claim
    paper = math.log(claim.delta) if claim and claim.delta else None
    # a ratio counted to another training error than the paper's says nothing of the paper's size (a claim
    # without a size, §3.1's sigmoid, is a direction at any threshold)
    sized = claim is not None and claim.delta is not None
    other = "" if math.isclose(arm.threshold, FIG1_THRESHOLD) or not sized else f"at {FIG1_THRESHOLD:.0%} training error"
    return [title, arm_name(arm), arm_name(base), Pair(len(arm.runs), len(base.runs)),
            f"epochs to {arm.threshold:.0%} train err (ratio)", r.cell(), paper_delta(claim, family, other),
            f"{claim.source}, {claim.dataset}" if claim else None,
            verdict(math.log(r.lo), math.log(r.hi), r.n, claim, paper, r.censored,
                    direction_only(claim, family) or bool(other))]


def _pair_runs(part: pd.DataFrame, claim: Claim) -> tuple[Claim, pd.DataFrame, pd.DataFrame]:
    """The runs holding each side of the claim's pair; a claim with a relative key (§3.2's half width) is tried at
    every scale the runs' baseline side holds, the widest first, and comes back as the scale it was found at."""
    scales = value_order(part[claim.relative]) if claim.relative in part else []
    for scaled in [claim.scaled(v) for v in reversed(scales)] if claim.relative else [claim]:
        if scaled is None:
            continue
        side, base = _holding(part, scaled.value), _holding(part, scaled.baseline)
        if not (side.empty or base.empty):
            return scaled, side, base
    return claim, _holding(part, claim.value), _holding(part, claim.baseline)


def _claim_rows(table: pd.DataFrame, design: Design, family: str, shown: set, used: dict[str, Claim]
                ) -> tuple[list[list[str]], list[str]]:
    """Rows for the claims no one-axis row compares: each on its exact pair, other axes at their baselines."""
    pairs: dict[tuple, list[Claim]] = {}
    for claim in preferred_claims(family):
        if claim.measure != "speed" and claim.pair not in shown:
            pairs.setdefault(claim.pair, []).append(claim)
    rows, notes = [], []
    for claims in pairs.values():
        c = claims[0]
        free = tuple(a.key for a in design.axes if {a.key, *a.tied} & set(c.keys))
        if not free:  # none of its keys varies in these runs: they hold one side at most
            continue
        part = design.at_baseline(table, free=free)
        c, side, base = _pair_runs(part, c)
        what = f"{c.source} ({c.describe(c.value)} against {c.describe(c.baseline)})"
        if side.empty or base.empty:
            notes.append(f"{what}: that pair is not among these runs with the other axes at their baselines, "
                         "so it is not judged.")
        elif find_claim(_config(side), _config(base), c.measure, family) is None:
            notes.append(f"{what}: the runs holding that pair differ in more than its keys, so it is not judged.")
        else:
            by = {x.measure: x for x in claims}
            names = (", ".join(c.keys), c.describe(c.value), c.describe(c.baseline))
            rows += _error_rows(names, completed(side), completed(base), by, family, used,
                                tuple(k for k in (1, 5) if f"top{k}" in by))
            for measure, row_of in (("gap", _gap_row), ("train", _train_row)):
                if measure in by and _scored(side) and _scored(base):
                    rows.append(row_of(names, completed(side), completed(base), by[measure], family, used))
                elif measure in by:
                    notes += _unscored_note(names, side, base, True,
                                            "train top-1 err row" if measure == "train" else "train-test gap row")
    return rows, notes


def delta_table(table: pd.DataFrame, design: Design, arms: list[Arm]) -> Table:
    family, by_act = _family(table), {a.activation: a for a in arms}
    rows: list[list[str]] = []
    used: dict[str, Claim] = {}
    shown: set = set()  # the claims a one-axis row already compares on their exact pair
    unscored: list[str] = []  # pairs without a gap row that a reader would look for
    for axis in design.axes:
        part = design.at_baseline(table, free=(axis.key,))
        base = part[part[axis.key] == axis.baseline]
        for value in axis.values[1:]:
            side = part[part[axis.key] == value]
            claims = {m: find_claim(_config(side), _config(base), m, family) for m in ("top1", "top5")}
            shown |= {c.pair for c in claims.values() if c}
            rows += _error_rows((axis.title, value, axis.baseline), completed(side), completed(base), claims,
                                family, used)
            if _scored(side) and _scored(base):
                names, a, b = (axis.title, value, axis.baseline), completed(side), completed(base)
                rows.append(_gap_row(names, a, b, find_claim(_config(side), _config(base), "gap", family), family,
                                     used))
                train_claim = find_claim(_config(side), _config(base), "train", family)
                if train_claim:  # a claim about training error itself (§5): its own row
                    rows.append(_train_row(names, a, b, train_claim, family, used))
                    shown.add(train_claim.pair)
            else:  # the gap row, and a §5-style training-error row where a claim is about it
                gap, train = (find_claim(_config(side), _config(base), m, family) for m in ("gap", "train"))
                unscored += _unscored_note((axis.title, value, axis.baseline), side, base, bool(gap or train),
                                           "train-test gap or train top-1 err row" if train else "train-test gap row")
            if axis.key == ACTIVATION and value in by_act and axis.baseline in by_act:
                rows.append(_speed_row(axis.title, by_act[value], by_act[axis.baseline], family, used))
    claim_rows, missing = _claim_rows(table, design, family, shown, used)
    notes = [VERDICT_RULE,
             "Each axis is compared with every other axis at its baseline: "
             + (", ".join(f"{a.key}={a.baseline} ({a.note})" for a in design.axes) or "no axis varies") + "."]
    if claim_rows:
        notes.append("Rows naming several keys compare a claim's exact pair, every other axis at its baseline.")
    if any(row[4] == GAP_MEASURE for row in rows + claim_rows):
        notes.append(GAP_NOTE)
    if any(row[4] == TRAIN_MEASURE for row in rows + claim_rows):
        notes.append(TRAIN_NOTE)
    notes += missing + unscored + [f"{where}: \"{c.text}\"." for where, c in sorted(used.items())]
    columns = ["Axis", "Value", "Baseline", "n (value/baseline)", "Measure", "Δ [95% CI]", "Paper Δ",
               "Source", "Verdict"]
    keys = ["axis", "value", "baseline", "n", "measure", "delta", "paper_delta", "source", "verdict"]
    return Table("table_delta", "Ablation Δ against each axis' baseline, beside the paper's reported Δ",
                 columns, rows + claim_rows, notes=notes, keys=keys)


def status_table(table: pd.DataFrame, design: Design) -> Table:
    statuses = sorted(set(table["status"]))
    rows = [[name, len(g), *[int((g["status"] == s).sum()) for s in statuses]] for name, g in _variants(table, design)]
    return Table("table_status", "Runs per variant and status", ["Variant", "Runs", *statuses], rows,
                 keys=["variant", "runs", *statuses])
