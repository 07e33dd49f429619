"""The report's tables: ILSVRC-style errors per variant, the ablation Δ table with verdicts, run statuses.

All statistics are over the completed runs of a cell (one per seed); runs that diverged, failed or stopped early
are counted in the status columns, never averaged in. Errors are shown in percent.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ablate.report.design import Axis, Design
from ablate.report.paper import FIG1_THRESHOLD, REFERENCE_ROWS, Claim, find_claim
from ablate.report.render import Table
from ablate.report.speed import Arm, arm_name
from ablate.report.stats import mean_std, welch_ci

VERDICT_RULE = (
    "Verdict rule. Δ = error(value) − error(baseline) of the final test error in percentage points (speed rows: "
    "the ratio of epochs to 25% training error, tested on its logarithm), with a 95% Welch t confidence interval "
    "over seeds. 'inconclusive' if either side has fewer than 2 completed seeds; 'reproduced' if the interval "
    "excludes 0 on the side of the paper's sign and does not lie wholly short of the paper's Δ; 'direction only' "
    "if it excludes 0 on the paper's side but also excludes the paper's Δ, being smaller; 'not reproduced' if it "
    "excludes 0 on the opposite side, or if it contains 0 but excludes the paper's Δ (the paper's effect size is "
    "ruled out and no effect is shown); 'inconclusive' otherwise. In speed rows a run that never reaches 25% "
    "counts as its last epoch (a lower bound): a censored baseline arm is 'inconclusive'; a censored compared arm "
    "gives 'direction only' when its lower bound shows the paper's direction (the size stays open), else "
    "'inconclusive'. "
    "'no claim': the paper gives neither a number nor a direction for this comparison.")


_EMPTY = pd.Series(dtype=float)  # a metric no run of the cell logged


def completed(table: pd.DataFrame) -> pd.DataFrame:
    return table[(table["status"] == "completed") & table["epochs_logged"].gt(0)]


def splits(table: pd.DataFrame) -> list[str]:
    """test, plus val when it is a separate split (the trainer logs val as test when there is no test split)."""
    have = [s for s in ("test", "val") if f"final_{s}_top1_err" in table and table[f"final_{s}_top1_err"].notna().any()]
    if set(have) == {"test", "val"}:
        same = np.allclose(table["final_test_top1_err"], table["final_val_top1_err"], equal_nan=True)
        return ["test"] if same else ["val", "test"]
    return have or ["test"]  # nothing logged yet: the columns stay, empty


def pct(values: pd.Series) -> str:
    mean, std, n = mean_std(list(values * 100))
    if n == 0:
        return "—"
    return f"{mean:.2f}" + (f" ± {std:.2f}" if n > 1 else "")


def _variants(table: pd.DataFrame, design: Design) -> list[tuple[str, pd.DataFrame]]:
    if not design.axes:
        return [("all runs", table)]
    keys = [a.key for a in design.axes]
    order = {a.key: {v: i for i, v in enumerate(a.values)} for a in design.axes}
    groups = list(table.groupby(keys, sort=False))
    groups.sort(key=lambda kv: [order[k][v] for k, v in zip(keys, np.atleast_1d(kv[0]), strict=True)])
    return [(design.label(g.iloc[0]), g) for _, g in groups]


def status_counts(group: pd.DataFrame) -> str:
    counts = group["status"].value_counts()
    return ", ".join(f"{n} {s}" for s, n in counts.items() if s != "completed") or "—"


def ilsvrc_table(table: pd.DataFrame, design: Design) -> Table:
    """Per variant: top-1/top-5 error, final and best (lowest validation top-1), mean ± std over seeds."""
    use = splits(table)
    metric_cols = [(s, when, k) for s in use for when in ("final", "best") for k in (1, 5)]
    columns = ["Variant", "n", "Not completed"] + [f"Top-{k} {when} ({s})" for s, when, k in metric_cols]
    crops = "data.test_crops" in table
    if crops:
        columns.insert(2, "Test crops")
    rows = []
    for name, group in _variants(table, design):
        done = completed(group)
        row = [name, str(len(done)), status_counts(group)]
        if crops:
            row.insert(2, "/".join(sorted(set(group["data.test_crops"]))))
        rows.append(row + [pct(done.get(f"{when}_{s}_top{k}_err", _EMPTY)) for s, when, k in metric_cols])
    reference = []
    first = (len(columns) - len(metric_cols), len(columns) - len(metric_cols) + 1)  # final top-1/top-5 cells
    for ref in REFERENCE_ROWS:
        for split, top1, top5 in [(ref.split, ref.top1, ref.top5), (ref.split.replace("val", "test"), None,
                                                                     ref.test_top5)]:
            if top1 is None and top5 is None:
                continue
            cells = [f"{ref.model} ({ref.source}, {split})"] + ["—"] * (len(columns) - 1)
            cells[first[0]], cells[first[1]] = _num(top1), _num(top5)
            reference.append(cells)
    notes = ["Mean ± sample std over the completed seeds of each variant; n = completed seeds. 'best' = the "
             "epoch with the lowest validation top-1 error. Errors in %. "
             + ("" if "val" in use else "No separate validation split: validation = test. ")
             + f"Baselines: {design.baseline_text() or 'single variant'}.",
             "Reference rows are the paper's ImageNet results (ILSVRC-2010 Table 1, ILSVRC-2012 Table 2; "
             "* = pre-trained on ImageNet Fall 2011), printed for scale: they are not comparable to other data sets."]
    return Table("table_ilsvrc", "Top-1 and top-5 error per variant (layout of the paper's Tables 1–2)",
                 columns, rows, reference, notes=notes)


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}"


def verdict(lo: float, hi: float, n: tuple[int, int], claim: Claim | None, paper_delta: float | None,
            censored: str = "") -> str:
    """VERDICT_RULE, exactly; `censored` is "", "value" or "baseline" (speed rows)."""
    if claim is None:
        return "no claim"
    if min(n) < 2 or not (math.isfinite(lo) and math.isfinite(hi)) or censored == "baseline":
        return "inconclusive"
    s = claim.sign
    if s * lo > 0 and s * hi > 0:
        if censored:
            return "direction only"
        reach = max(s * lo, s * hi)  # how far the interval goes in the paper's direction
        return "direction only" if paper_delta is not None and reach < s * paper_delta else "reproduced"
    if censored:
        return "inconclusive"
    if s * lo < 0 and s * hi < 0:
        return "not reproduced"
    if paper_delta is not None and not lo <= paper_delta <= hi:
        return "not reproduced"
    return "inconclusive"


def _ci_text(delta: float, lo: float, hi: float) -> str:
    if not math.isfinite(delta):
        return "—"
    ci = f"[{lo:+.2f}, {hi:+.2f}]" if math.isfinite(lo) else "[n < 2]"
    return f"{delta:+.2f} {ci}"


def _error_rows(axis: Axis, value: str, a: pd.DataFrame, b: pd.DataFrame, data_name: str,
                used: dict[str, Claim]) -> list[list[str]]:
    rows = []
    for k in (1, 5):
        col = f"final_test_top{k}_err"
        delta, lo, hi = welch_ci(list(a.get(col, _EMPTY) * 100), list(b.get(col, _EMPTY) * 100))
        claim = find_claim(axis.key, value, axis.baseline, f"top{k}", data_name)
        paper = "—" if claim is None else (f"{claim.delta:+.1f}" if claim.delta is not None else
                                           ("+" if claim.sign > 0 else "−") + " (direction)")
        if claim:
            used[f"{claim.source}, {claim.dataset}"] = claim
        source = f"{claim.source}, {claim.dataset}" if claim else "—"
        rows.append([axis.title, value, axis.baseline, f"{len(a)}/{len(b)}", f"top-{k} err (pts)",
                     _ci_text(delta, lo, hi), paper, source,
                     verdict(lo, hi, (len(a), len(b)), claim, claim.delta if claim else None)])
    return rows


def _speed_row(axis: Axis, arm: Arm, base: Arm, data_name: str, used: dict[str, Claim]) -> list[str]:
    logs = np.log(np.maximum(arm.bounds, 1e-9)), np.log(np.maximum(base.bounds, 1e-9))
    _, lo, hi = welch_ci(*logs)
    ratio = arm.mean / base.mean if base.mean > 0 else math.nan
    claim = find_claim(axis.key, arm.activation, base.activation, "speed", data_name)
    censored = "baseline" if base.censored else ("value" if arm.censored else "")
    mark = "> " if censored == "value" else ("? " if censored else "")
    ci = f" [{math.exp(lo):.2f}, {math.exp(hi):.2f}]" if math.isfinite(lo) and not censored else ""
    if claim:
        used[f"{claim.source}, {claim.dataset}"] = claim
    return [axis.title, arm_name(arm), arm_name(base), f"{len(arm.runs)}/{len(base.runs)}",
            f"epochs to {FIG1_THRESHOLD:.0%} train err (ratio)", f"{mark}{ratio:.2f}×{ci}",
            f"{claim.delta:.0f}×" if claim else "—", f"{claim.source}, {claim.dataset}" if claim else "—",
            verdict(lo, hi, (len(arm.runs), len(base.runs)), claim,
                    math.log(claim.delta) if claim and claim.delta else None, censored)]


def delta_table(table: pd.DataFrame, design: Design, arms: list[Arm]) -> Table:
    done = completed(table)
    data_name = done["data.name"].mode().iloc[0] if "data.name" in done and len(done) else ""
    rows: list[list[str]] = []
    used: dict[str, Claim] = {}
    for axis in design.axes:
        part = design.at_baseline(done, free=(axis.key,))
        base = part[part[axis.key] == axis.baseline]
        for value in axis.values[1:]:
            rows += _error_rows(axis, value, part[part[axis.key] == value], base, data_name, used)
            base_arm = next((a for a in arms if a.activation == axis.baseline), None)
            arm = next((a for a in arms if a.activation == value), None)
            if axis.key == "model.activation" and arm and base_arm:
                rows.append(_speed_row(axis, arm, base_arm, data_name, used))
    notes = [VERDICT_RULE,
             "Each axis is compared with every other axis at its baseline: "
             + (", ".join(f"{a.key}={a.baseline} ({a.note})" for a in design.axes) or "no axis varies") + ".",
             *[f"{where}: \"{c.text}\"." for where, c in sorted(used.items())]]
    columns = ["Axis", "Value", "Baseline", "n (value/baseline)", "Measure", "Δ [95% CI]", "Paper Δ",
               "Source", "Verdict"]
    return Table("table_delta", "Ablation Δ against each axis' baseline, beside the paper's reported Δ",
                 columns, rows, notes=notes)


def speed_table(arms: list[Arm]) -> Table:
    rows = [[a.activation, a.lr or "—", ", ".join(a.lr_choices) or "—", a.text()] for a in arms]
    return Table("table_fig1_speed", f"Epochs to {FIG1_THRESHOLD:.0%} training error per activation (Figure 1)",
                 ["Activation", "lr used", "lr scanned", "Epochs (mean ± std, interpolated)"], rows,
                 notes=["When several learning rates were run, each activation uses the one with the fewest mean "
                        "epochs to the threshold, as the paper tuned each net for speed."])


def status_table(table: pd.DataFrame, design: Design) -> Table:
    statuses = sorted(set(table["status"]))
    rows = [[name, str(len(g)), *[str(int((g["status"] == s).sum())) for s in statuses]]
            for name, g in _variants(table, design)]
    return Table("table_status", "Runs per variant and status", ["Variant", "Runs", *statuses], rows)
