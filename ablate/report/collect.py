"""Walk run folders at any depth and build one tidy table: one row per run per epoch.

Every config key is flattened with dots (`model.activation`, `seed`, ...) beside the epoch's metrics and the
run's status and provenance. A run is named by its folder's path relative to the runs root, the folder given
(or the deepest folder common to several): `run` and `out_dir` never carry the machine a report was made on. A run folder is read leniently: a truncated last line of metrics.csv (a run killed
mid-write) or malformed rows are dropped, a bad summary.json leaves status "unknown", and a folder with no
readable config.yaml, or with no record at all, is skipped. Each run with any of that, or whose status is not
"completed", gets exactly one warning line; nothing is dropped silently. A run that a completed longer-budget
run carries whole (trainer.extend_shorter) is reported as that run, with a warning naming both.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ablate.runfolder import TIMING_COLUMNS, Status

RUN_FILES = ("summary.json", "metrics.csv", "config.yaml")
# Run-level columns taken from summary.json (config keys are dotted, or one of TOP_LEVEL_KEYS).
INFO_COLUMNS = ["run", "status", "problems", "epochs_completed", "diverged_step", "error", "params", "world_size",
                "wall_s", "git_sha", "git_dirty", "git_resumed", "start_time", "end_time", "ablate_version", "torch_version",
                "machine", "continues", "wandb_url"]
# git_resumed: the commits a resumed run's later epochs were computed under (" then "-joined), when not git_sha's;
# continues: the folder (relative to the run's own) whose epochs are this run's first ones — extended_from's, or
# same_as'; wandb_url: only when a run was mirrored online (summary.json's `wandb` block)
TOP_LEVEL_KEYS = ("name", "seed", "out_dir")


def warn(message: str) -> None:
    print(f"ablate-report: warning: {message}", file=sys.stderr)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def as_paths(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """One path or several (a plain string is one path, not its characters)."""
    return [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]


def is_run(path: Path) -> bool:
    return path.is_file() or any((path / name).exists() for name in RUN_FILES) or (path / ".hydra").is_dir()


def runs_root(paths: list[Path]) -> Path:
    """The folder run names are relative to: the one folder given, or the deepest common to several (a run folder
    given itself is named by its folder name)."""
    roots = [os.path.abspath(p.parent if is_run(p) else p) for p in paths if p.exists()]
    return Path(os.path.commonpath(roots)) if roots else Path.cwd()


def relative_name(folder: Path, root: Path) -> str:
    # Lexical paths, not resolved ones: a run folder reached through a symlink is named where it was found.
    name = Path(os.path.relpath(os.path.abspath(folder), root))
    return (name if name != Path(".") else Path(os.path.abspath(folder)).name).as_posix()


def _folders(root: Path) -> Iterator[Path]:
    """Every folder under `root`, itself included, following symlinked folders (a folder of links to chosen
    runs is a report's input like any other) and entering each real folder once."""
    seen: set[str] = set()
    for dirpath, dirnames, _ in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames.clear()
            continue
        seen.add(real)
        yield Path(dirpath)


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Every folder under `paths` (or a path itself) holding a run file, or a Hydra job folder (`.hydra/`)."""
    found: set[Path] = set()
    for root in map(Path, paths):
        if not root.exists():
            warn(f"{root}: no such file or folder")
            continue
        if root.is_file():
            root = root.parent
        before = len(found)
        for folder in _folders(root):
            if ".hydra" in folder.relative_to(root).parts:
                continue
            # A Hydra job that died before the trainer started leaves only .hydra/: report it, don't hide it.
            if any((folder / name).is_file() for name in RUN_FILES) or (folder / ".hydra").is_dir():
                found.add(folder)
        if len(found) == before:
            warn(f"{root}: no run folder in it (none holds {', '.join(RUN_FILES)} or .hydra/)")
    return sorted(found)


def read_metrics(path: Path, problems: list[str]) -> pd.DataFrame:
    """metrics.csv as numbers; a truncated last line and rows with the wrong field count are dropped."""
    empty = pd.DataFrame({"epoch": pd.Series(dtype=float)})
    try:
        text = path.read_text(errors="replace")
    except OSError:
        problems.append("no metrics.csv")
        return empty
    lines = text.splitlines()
    if len(lines) < 2:
        problems.append("no epochs in metrics.csv")
        return empty
    if not text.endswith("\n"):  # rows are written whole and flushed: a missing newline is a cut write
        lines = lines[:-1]
        problems.append("truncated last line of metrics.csv dropped")
    header, *body = list(csv.reader(lines))
    rows = [r for r in body if len(r) == len(header)]
    if len(rows) < len(body):
        problems.append(f"{len(body) - len(rows)} malformed row(s) of metrics.csv dropped")
    if "epoch" not in header:
        problems.append("metrics.csv has no epoch column")
        return empty
    frame = pd.DataFrame(rows, columns=header).apply(pd.to_numeric, errors="coerce")
    return drop_repeated_epochs(frame.dropna(subset=["epoch"]).reset_index(drop=True), problems)


def drop_repeated_epochs(frame: pd.DataFrame, problems: list[str]) -> pd.DataFrame:
    """An epoch logged twice (two writers, or a resume bug in old code) is kept once when both rows agree; when
    they disagree the run cannot be trusted: EXCLUDED is added to its problems and it is never averaged in."""
    repeated = frame["epoch"].duplicated(keep=False)
    if not repeated.any():
        return frame
    epochs = sorted({int(e) for e in frame.loc[repeated, "epoch"]})
    compare = [c for c in frame.columns if c not in TIMING_COLUMNS]
    if frame.loc[repeated, compare].drop_duplicates().shape[0] == len(epochs):
        problems.append(f"epoch(s) {epochs} logged twice with the same values: kept once")
        return frame.drop_duplicates(subset=compare).reset_index(drop=True)
    problems.append(f"{EXCLUDED}: epoch(s) {epochs} logged twice with different values (two writers?)")
    return frame.drop_duplicates(subset=["epoch"], keep="last").reset_index(drop=True)


EXCLUDED = "excluded from statistics"


def _read_structured(path: Path, problems: list[str]) -> dict | None:
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except FileNotFoundError:
        problems.append(f"no {path.name}")
        return None
    except (OSError, ValueError, yaml.YAMLError) as err:
        problems.append(f"unreadable {path.name} ({type(err).__name__})")
        return None
    if not isinstance(data, dict):
        problems.append(f"unreadable {path.name} (not a mapping)")
        return None
    return data


def resumed_shas(summary: dict) -> str | None:
    """The commits a run was resumed under after its first (summary.json's resumed_under), oldest first."""
    shas = [(h["git"] or {}).get("sha") or "unknown" for h in summary.get("resumed_under") or [] if "git" in h]
    return " then ".join(shas) or None


def run_info(name: str, summary: dict) -> dict[str, Any]:
    git, versions = summary.get("git") or {}, summary.get("versions") or {}
    info = {"run": name, "status": summary.get("status", "unknown"),
            "ablate_version": versions.get("ablate"), "torch_version": versions.get("torch"),
            "git_sha": git.get("sha"), "git_dirty": git.get("dirty"), "git_resumed": resumed_shas(summary)}
    for key in ("epochs_completed", "diverged_step", "error", "params", "world_size", "wall_s",
                "start_time", "end_time", "machine"):
        info[key] = summary.get(key)
    info["continues"] = (summary.get("extended_from") or {}).get("run") or summary.get("same_as")
    url = (summary.get("wandb") or {}).get("url")
    if url:  # a link, never a read: the report's numbers come from the run folder alone
        info["wandb_url"] = url
    return info


def read_evals(folder: Path, metrics: pd.DataFrame, problems: list[str]) -> dict[str, Any]:
    """`ablate-eval`'s scores of the final weights (evals/<split>.json) as eval_<split>_{loss,top1_err,top5_err}
    columns; one that scored another epoch than the last logged one (the run went on since) is left out."""
    out: dict[str, Any] = {}
    last = metrics["epoch"].max() if not metrics.empty else None
    for path in sorted((folder / "evals").glob("*.json")):
        record = _read_structured(path, problems) or {}
        split = record.get("split", path.stem)
        if record.get("epoch") != last:
            problems.append(f"evals/{path.name} scored epoch {record.get('epoch')}, not the last ({last}): left out")
            continue
        out.update({f"eval_{split}_{k}": record.get(k) for k in ("loss", "top1_err", "top5_err")})
    return out


def read_run(folder: Path, name: str | None = None) -> pd.DataFrame | None:
    """One run's rows (one per logged epoch, or one row without metrics), or None when it cannot be placed.
    `name`: what to call it (`run`, and `out_dir` in place of the absolute path the trainer recorded)."""
    name = name or folder.as_posix()
    problems: list[str] = []
    summary = _read_structured(folder / "summary.json", problems)
    config = _read_structured(folder / "config.yaml", problems)
    metrics = read_metrics(folder / "metrics.csv", problems)
    if config is None or (summary is None and metrics.empty):
        warn(f"{folder}: skipped: {'; '.join(problems)}")
        return None
    info = run_info(name, summary or {})
    if summary is not None and summary.get("status") == Status.COMPLETED and metrics.empty:
        problems.append(f"{EXCLUDED}: completed but no epoch in metrics.csv")
    info["problems"] = "; ".join(problems)
    status = info["status"]
    detail = {"diverged": f" at step {info['diverged_step']}", "failed": f" ({info['error']})"}.get(status, "")
    if status != "completed" or problems:
        note = f"; {'; '.join(problems)}" if problems else ""
        warn(f"{folder}: status {status}{detail}, {len(metrics)} epoch(s) logged{note}")
    info.update(flatten(config))
    info.update(read_evals(folder, metrics, problems))
    if "out_dir" in info:
        info["out_dir"] = name
    if metrics.empty:  # keep the run visible even without epochs
        return pd.DataFrame([{**info, "epoch": math.nan}])
    return metrics.assign(**{k: [v] * len(metrics) for k, v in info.items()})


def collect(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Run folders under `paths` (searched at any depth) → one row per run per epoch."""
    paths = as_paths(paths)
    root = runs_root(paths)
    read = {p: read_run(p, relative_name(p, root)) for p in find_runs(paths)}
    frames = drop_continued({p: f for p, f in read.items() if f is not None})
    if not frames:
        return pd.DataFrame(columns=["run", "status", "epoch"])
    return pd.concat(frames, ignore_index=True)


def _budget(frame: pd.DataFrame) -> float:
    return float(pd.to_numeric(frame["trainer.epochs"], errors="coerce").iloc[0]) if "trainer.epochs" in frame \
        else math.nan


def drop_continued(read: dict[Path, pd.DataFrame]) -> list[pd.DataFrame]:
    """The runs, less each one a completed run among them carries whole at a longer budget (trainer.extend_shorter
    continued it, or recorded it as the longer run when it had stopped at its threshold): its epochs are that
    run's first ones, so it is reported once, as the longer run, and trainer.epochs is not an axis of the sweep.
    A run continued by one that has not completed stays, beside it: each budget is then what was measured."""
    real = {os.path.realpath(p): p for p in read}
    carried: dict[Path, str] = {}
    for path, frame in read.items():
        first = frame.iloc[0]
        source = real.get(os.path.realpath(path / first["continues"])) if isinstance(first["continues"], str) else None
        if source is not None and first["status"] == Status.COMPLETED and _budget(read[source]) < _budget(frame):
            carried[source] = first["run"]
    for source, by in sorted(carried.items()):
        warn(f"{source}: reported as {by}, which carries its epochs to a longer trainer.epochs (counted once)")
    return [f for p, f in read.items() if p not in carried]
