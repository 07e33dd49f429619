"""The report's inputs: run folders, and the runs.csv tables an earlier `ablate-report` wrote (a tidy round trip).

A runs.csv holds everything the report reads from run folders (one row per run per epoch, config keys flattened,
statuses, provenance), so a committed report can be rebuilt from its own table after the run folders are gone.
Any `.csv` path other than a run folder's own metrics.csv is read as such a table.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ablate.report.collect import RUN_FILES, collect, warn

NEEDED = ("run", "status", "epoch")  # what makes a table one written by ablate-report


class InputError(ValueError):
    """Input the report cannot use; the message names the fix."""


def is_table(path: Path) -> bool:
    return path.suffix == ".csv" and path.name not in RUN_FILES and path.is_file()


def _keep_integers(table: pd.DataFrame, path: Path) -> None:
    """Integer columns with gaps (diverged_step, ...) back to ints: pandas reads them as floats, and the
    runs.csv this report writes would then say 57.0 where the run folder said 57."""
    text = pd.read_csv(path, dtype=str, keep_default_na=False, low_memory=False)
    for col in table.select_dtypes("float").columns:
        cells = text[col][text[col] != ""]
        if len(cells) and cells.str.fullmatch(r"-?\d+").all():
            table[col] = pd.Series([int(v) if v == v else None for v in table[col]], dtype=object)


def read_table(path: Path) -> pd.DataFrame:
    """A runs.csv as collect() would have built it; one warning per run that is not completed, as for folders."""
    # Only empty cells are missing: a config value spelled "None" or "NA" stays that string, as in config.yaml.
    table = pd.read_csv(path, keep_default_na=False, na_values=[""], low_memory=False)
    missing = [c for c in NEEDED if c not in table]
    if missing:
        raise InputError(f"{path}: not a runs.csv written by ablate-report (no column {', '.join(missing)}); "
                         "pass run folders, or the runs.csv from an ablate-report output folder")
    _keep_integers(table, path)
    for run, group in table.groupby("run", sort=True):
        status = group["status"].iloc[0]
        if status != "completed":
            warn(f"{run}: status {status}, {int(group['epoch'].notna().sum())} epoch(s) logged (from {path})")
    return table


def load(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Runs from run folders (searched at any depth) and runs.csv tables, as one tidy table."""
    paths = [Path(p) for p in paths]
    tables = [read_table(p) for p in paths if is_table(p)]
    folders = [p for p in paths if not is_table(p)]
    if folders:
        tables.append(collect(folders))
    tables = [t for t in tables if not t.empty]
    if not tables:
        return pd.DataFrame(columns=list(NEEDED))
    seen: set[str] = set()
    for table in tables:
        twice = seen & set(table["run"])
        if twice:
            raise InputError(f"run {sorted(twice)[0]} is in more than one input (a runs.csv and its run folders?); "
                             "pass each run once")
        seen |= set(table["run"])
    return pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
