"""One row per run, from the tidy table of ablate.report.collect: config values as the strings tables name
them by, provenance, final and best metrics, epochs to the speed threshold, and the runs that must not be
averaged in (a record that contradicts itself; the same run recorded twice) marked with why.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ablate.identity import is_bookkeeping
from ablate.report.collect import EXCLUDED, INFO_COLUMNS, TOP_LEVEL_KEYS
from ablate.report.paper import FIG1_THRESHOLD
from ablate.report.stats import epochs_to
from ablate.runfolder import Status


def config_keys(runs: pd.DataFrame) -> list[str]:
    return [c for c in runs.columns if "." in c or c in TOP_LEVEL_KEYS]


UNSET = "unset"  # a key the run's config lacks (made before it existed, or inert), or None: the default ran


def norm_value(value: Any) -> str:
    """A config value as the one string that names it in tables (1 and 1.0 are the same value)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return UNSET
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else f"{float(value):g}"
    return str(value)


def _one_run(group: pd.DataFrame, threshold: float) -> dict[str, Any]:
    epochs = group.dropna(subset=["epoch"]).sort_values("epoch")
    row: dict[str, Any] = {"epochs_logged": len(epochs), "last_epoch": epochs["epoch"].max()}
    if epochs.empty:
        return row
    final = epochs.iloc[-1]
    val = epochs["val_top1_err"] if "val_top1_err" in epochs else pd.Series(dtype=float)
    best = epochs.loc[val.idxmin()] if val.notna().any() else final  # best = lowest val top-1, as summary.json
    for col in epochs.columns:  # metric columns only: config keys (dotted) like trainer.stop_at_train_err are not
        if "." not in col and (col.endswith("_err") or col.endswith("_loss")):
            row[f"final_{col}"], row[f"best_{col}"] = final[col], best[col]
    row["best_epoch"] = best["epoch"]
    if "train_err" in epochs:
        row["epochs_to_threshold"] = epochs_to(epochs["epoch"], epochs["train_err"], threshold)
    return row


def per_run(runs: pd.DataFrame, threshold: float = FIG1_THRESHOLD) -> pd.DataFrame:
    """One row per run: config values as normalized strings, provenance, final/best metrics, epochs to
    `threshold` (a fraction of training error; Figure 1's is 0.25).

    Runs that must not be averaged in get a status saying why: `excluded` (their record contradicts itself)
    and `duplicate` (the same config and seed as another run: one computation counted once, see mark_duplicates).
    """
    rows, keys, carried = [], config_keys(runs), [*INFO_COLUMNS, *eval_columns(runs)]
    for _, group in runs.groupby("run", sort=True):
        first = group.iloc[0]
        row = {k: norm_value(first[k]) for k in keys}
        row.update({k: first[k] for k in carried if k in group})
        row.update(_one_run(group, threshold))
        row["problems"] = problems_text(row.get("problems"))
        if EXCLUDED in row["problems"]:
            row["status"] = "excluded"
        rows.append(row)
    table = mark_duplicates(pd.DataFrame(rows))
    table["speed_threshold"] = threshold  # what epochs_to_threshold counts to, said beside it in runs_summary.csv
    return table


def threshold_of(one: pd.DataFrame) -> float:
    """The training error per_run counted epochs to (Figure 1's for a table made without one)."""
    return float(one["speed_threshold"].iloc[0]) if "speed_threshold" in one and len(one) else FIG1_THRESHOLD


def eval_columns(runs: pd.DataFrame) -> list[str]:
    return [c for c in runs.columns if c.startswith("eval_")]


def run_table(runs: pd.DataFrame, one: pd.DataFrame) -> pd.DataFrame:
    """One row per run for pandas users (runs_summary.csv): status and provenance, final and best metrics,
    epochs to the speed threshold (`one`, per_run's table), then the config keys as the runs recorded them."""
    keys = config_keys(runs)
    config = runs.groupby("run", sort=True)[keys].first() if keys else pd.DataFrame(index=one["run"])
    return one.drop(columns=[k for k in keys if k in one]).set_index("run").join(config).reset_index()


def mark_duplicates(table: pd.DataFrame) -> pd.DataFrame:
    """Runs with the same identity (every config key but the bookkeeping ones, seed included) are one result:
    the best-kept one stays (completed first, then most epochs, then the latest); the others get a problem
    naming the run they repeat, and a completed one becomes status `duplicate` so it is never counted twice."""
    keys = [k for k in config_keys(table) if not is_bookkeeping(k)]
    if table.empty or not keys:
        return table
    table = table.copy()
    rank = table.assign(_done=table["status"].eq(Status.COMPLETED.value),
                        _end=table.get("end_time", pd.Series("", index=table.index)).fillna("").astype(str))
    rank = rank.sort_values(["_done", "epochs_logged", "_end", "run"], ascending=[False, False, False, True])
    for _, group in rank.groupby(keys, sort=False, dropna=False):
        keep, *others = list(group.index)
        for i in others:
            note = f"duplicate of {table.at[keep, 'run']} (same config and seed): counted once"
            table.at[i, "problems"] = "; ".join(filter(None, [table.at[i, "problems"], note]))
            if table.at[i, "status"] == Status.COMPLETED:
                table.at[i, "status"] = "duplicate"
    return table


def problems_text(value: Any) -> str:
    """The problems cell of a run (empty for none; runs.csv tables from before the column say nothing)."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
