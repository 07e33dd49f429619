"""The report's inputs: run folders, and the runs.csv tables an earlier `ablate-report` wrote (a tidy round trip).

A runs.csv holds everything the report reads from run folders (one row per run per epoch, config keys flattened,
statuses, provenance), so a committed report can be rebuilt from its own table after the run folders are gone.
Any `.csv` path other than a run folder's own metrics.csv is read as such a table. Tables written before runs
were named relative to their runs root (`run` then held the path given to ablate-report, `out_dir` the absolute
path the trainer wrote to) are read with their runs renamed as today's report names them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import PurePosixPath

import pandas as pd

from ablate.report.collect import RUN_FILES, as_paths, collect, runs_root, warn

NEEDED = ("run", "status", "epoch")  # what makes a table one written by ablate-report


class InputError(ValueError):
    """Input the report cannot use; the message names the fix."""


def is_table(path: os.PathLike) -> bool:
    return path.suffix == ".csv" and path.name not in RUN_FILES and path.is_file()


def _keep_integers(table: pd.DataFrame, path: os.PathLike) -> None:
    """Integer columns with gaps (diverged_step, ...) back to ints: pandas reads them as floats, and the
    runs.csv this report writes would then say 57.0 where the run folder said 57."""
    text = pd.read_csv(path, dtype=str, keep_default_na=False, low_memory=False)
    for col in table.select_dtypes("float").columns:
        cells = text[col][text[col] != ""]
        if len(cells) and cells.str.fullmatch(r"-?\d+").all():
            table[col] = pd.Series([int(v) if v == v else None for v in table[col]], dtype=object)


def relative_runs(table: pd.DataFrame) -> None:
    """An old table's run paths → relative to the folder all its runs share (what `run` names today). Today's
    tables write `out_dir` equal to `run`; in older ones it is the trainer's absolute path."""
    if "out_dir" not in table or table["run"].astype(str).equals(table["out_dir"].astype(str)):
        return
    paths = [PurePosixPath(str(p).replace(os.sep, "/")) for p in table["run"]]
    unique = sorted(set(paths))
    try:
        base = PurePosixPath(os.path.commonpath(unique)) if len(unique) > 1 else unique[0].parent
    except ValueError:  # absolute and relative mixed: no common folder
        return
    names = {p: (p.relative_to(base) if p != base else PurePosixPath(p.name)).as_posix() for p in unique}
    table["run"] = [names[p] for p in paths]
    table["out_dir"] = table["run"]


def read_table(path: os.PathLike) -> pd.DataFrame:
    """A runs.csv as collect() would have built it; one warning per run that is not completed, as for folders."""
    # Only empty cells are missing: a config value spelled "None" or "NA" stays that string, as in config.yaml.
    table = pd.read_csv(path, keep_default_na=False, na_values=[""], low_memory=False)
    missing = [c for c in NEEDED if c not in table]
    if missing:
        raise InputError(f"{path}: not a runs.csv written by ablate-report (no column {', '.join(missing)}); "
                         "pass run folders, or the runs.csv from an ablate-report output folder")
    _keep_integers(table, path)
    relative_runs(table)
    for run, group in table.groupby("run", sort=True):
        status = group["status"].iloc[0]
        if status != "completed":
            warn(f"{run}: status {status}, {int(group['epoch'].notna().sum())} epoch(s) logged (from {path})")
    return table


def load(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Runs from run folders (searched at any depth) and runs.csv tables, as one tidy table: one row per run per
    epoch (`ablate.load_runs`). One path or several."""
    paths = as_paths(paths)
    inputs = [(p.parent.name, read_table(p)) for p in paths if is_table(p)]
    folders = [p for p in paths if not is_table(p)]
    if folders:
        inputs.append((runs_root(folders).name, collect(folders)))
    inputs = [(label, t) for label, t in inputs if not t.empty]
    if not inputs:
        return pd.DataFrame(columns=list(NEEDED))
    return pd.concat(distinct(inputs), ignore_index=True) if len(inputs) > 1 else inputs[0][1]


def _starts(table: pd.DataFrame) -> dict[str, str]:
    """Each run's start time: what tells one run read twice from two runs that share a relative name."""
    starts = table["start_time"] if "start_time" in table else pd.Series("", index=table.index)
    return dict(zip(table["run"], starts.fillna("").astype(str), strict=True))


def distinct(inputs: list[tuple[str, pd.DataFrame]]) -> list[pd.DataFrame]:
    """Refuse a run passed twice (a runs.csv and its own folders); runs of different inputs that only share a
    name are told apart by the input's folder name (`fig1/<job>`)."""
    seen: dict[str, str] = {}
    for _, table in inputs:
        starts = _starts(table)
        same = sorted(r for r in set(starts) & set(seen) if starts[r] == seen[r])
        if same:
            raise InputError(f"run {same[0]} is in more than one input (a runs.csv and its run folders?); "
                             "pass each run once")
        seen.update(starts)
    names = [set(t["run"]) for _, t in inputs]
    clash = {r for i, a in enumerate(names) for b in names[i + 1:] for r in a & b}
    if not clash:
        return [t for _, t in inputs]
    out = []
    for i, (label, table) in enumerate(inputs):
        prefix = label if [lab for lab, _ in inputs].count(label) == 1 else f"{label}{i + 1}"
        renamed = table["run"].map(lambda r, p=prefix: f"{p}/{r}")
        out.append(table.assign(run=renamed, **({"out_dir": renamed} if "out_dir" in table else {})))
    return out
