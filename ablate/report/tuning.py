"""`ablate-report --tune KEY`: every variant at its own best value of KEY, picked on validation error.

Some axes cannot be compared at one shared value of another key: a weight-decay strength that suits coupled L2
is ten times too strong decoupled (momentum 0.9), and "no decay" has no strength at all; the paper chose its
learning rates per variant. With `--tune optim.weight_decay`, the runs of each combination of the other axes
(a group) are split by KEY; the value with the lowest mean final validation top-1 error, among the values where
no seed diverged, is picked; the group's runs at the other values leave the comparison (they stay in runs.csv and
in the tuning table). KEY then reads `tuned` in every table, and each variant is compared at its own pick.

The pick uses the validation split, never the test error the comparison reports, so runs without a separate
validation split (`data.val_size=0`) are refused. The test errors of a pick are still of the same runs whose
validation error chose it; with a few seeds and values the bias is small but not zero (the table says so).
"""

from __future__ import annotations

import pandas as pd

from ablate.report.design import Design, value_order
from ablate.report.render import Table
from ablate.report.runtable import threshold_of
from ablate.report.speed import epochs_cell
from ablate.report.tables import completed, pct, splits, status_counts

TUNED = "tuned"  # what a tuned key reads after the pick: each variant holds its own value
PICK_ON = "final_val_top1_err"


class TuneError(ValueError):
    """--tune cannot be honoured; the message names the fix."""


def check(one: pd.DataFrame, design: Design, key: str) -> str:
    """The axis key `key` names; TuneError when it cannot be tuned."""
    axis = design.axis(key)
    if axis is None:
        axes = ", ".join(a.key for a in design.axes) or "none"
        raise TuneError(f"--tune {key}: not an axis of these runs (axes: {axes})")
    if axis.tied:
        raise TuneError(f"--tune {key}: it moves one-to-one with {', '.join(axis.tied)} in these runs, so there is "
                        "nothing to pick per variant")
    if "val" not in splits(completed(one)):
        raise TuneError(f"--tune {key}: the runs have no validation split apart from test (data.val_size=0); "
                        "picking on test error would flatter the comparison. Re-run with data.val_size > 0")
    return axis.key


def tune(one: pd.DataFrame, design: Design, key: str) -> tuple[pd.DataFrame, Table]:
    """`one` with each group's runs at its picked value of `key` (the key set to TUNED), and the tuning table."""
    key = check(one, design, key)
    others = [a.key for a in design.axes if a.key != key]
    keep, rows = [], []
    speed = "epochs_to_threshold" in one  # how fast each value trains, beside the error that picks it
    groups = one.groupby(others, sort=False) if others else [((), one)]
    for _, group in groups:
        done = completed(group)
        unstable = set(group.loc[group["status"] == "diverged", key])
        means = done[~done[key].isin(unstable)].groupby(key)[PICK_ON].mean().dropna()
        pick = means.idxmin() if len(means) else None
        keep += list(group.loc[group[key] == pick, "run"])
        label = design.label(group.iloc[0], skip=(key,))
        for value in value_order(group[key]):
            cell = done[done[key] == value]
            rows.append([label, value, len(cell), status_counts(group[group[key] == value]), pct(cell[PICK_ON]),
                         pct(cell["final_test_top1_err"]),
                         *([epochs_cell(cell) if len(cell) else "—"] if speed else []),
                         "picked" if value == pick else ""])
    tuned = one[one["run"].isin(keep)].copy()
    tuned[key] = TUNED
    notes = [f"Each group (a combination of the other axes) is compared at the value of {key} with the lowest mean "
             "final validation top-1 error over its completed seeds; its runs at the other values are left out of "
             "the comparison (they stay in runs.csv). Test errors are of the same runs whose validation error made "
             "the pick, so they can be slightly optimistic. Errors in %, mean ± sample std, n = completed seeds."]
    threshold = f"Epochs to {threshold_of(one):.0%} train err"
    if speed:
        notes.append(f"{threshold} (interpolated; '> N' when some runs never got there, their last epoch counting): "
                     "shown, not used for the pick.")
    columns = ["Group", key, "n", "Not counted", "Val top-1 (pick)", "Test top-1", *([threshold] if speed else []),
               "Picked"]
    keys = ["group", "value", "n", "not_counted", "val_top1", "test_top1", *(["epochs"] if speed else []), "picked"]
    if any(row[3] != "—" for row in rows):
        notes.append("Not counted: the runs at a value that n leaves out, by why. A value at which any seed diverged "
                     "is not picked: its other seeds' mean would flatter it.")
    else:  # every run counted: no column to show
        columns, keys, rows = columns[:3] + columns[4:], keys[:3] + keys[4:], [r[:3] + r[4:] for r in rows]
    table = Table("table_tuning", f"{key}: each variant at its own best value (picked on validation error)",
                  columns, rows, notes=notes, keys=keys)
    return tuned, table

