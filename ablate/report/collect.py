"""Walk run folders at any depth and build one tidy table: one row per run per epoch.

Every config key is flattened with dots (`model.activation`, `seed`, ...) beside the epoch's metrics and the
run's status. A folder that cannot be read is skipped with one warning line; partial, diverged and failed runs
are kept with their status, so a report can show them as such.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

RUN_MARKERS = ("summary.json", "metrics.csv")


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Every folder under `paths` (or a path itself) holding a run's summary.json or metrics.csv."""
    found: set[Path] = set()
    for root in map(Path, paths):
        if not root.exists():
            warn(f"{root}: no such file or folder")
            continue
        candidates = [root] if root.is_dir() else []
        candidates += [p.parent for marker in RUN_MARKERS for p in root.rglob(marker)]
        found.update(c for c in candidates if any((c / m).exists() for m in RUN_MARKERS))
    return sorted(found)


def warn(message: str) -> None:
    print(f"ablate-report: warning: {message}", file=sys.stderr)


def read_run(folder: Path) -> pd.DataFrame | None:
    """One run's rows, or None (with a warning) when its record cannot be read."""
    try:
        config = yaml.safe_load((folder / "config.yaml").read_text()) or {}
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError, yaml.YAMLError) as err:
        warn(f"{folder}: skipped, unreadable config.yaml/summary.json ({type(err).__name__}: {err})")
        return None
    try:
        metrics = pd.read_csv(folder / "metrics.csv")
    except (OSError, ValueError, pd.errors.ParserError) as err:
        warn(f"{folder}: no readable metrics.csv ({type(err).__name__}); keeping its status only")
        metrics = pd.DataFrame({"epoch": pd.Series(dtype=float)})
    metrics = metrics.apply(pd.to_numeric, errors="coerce").dropna(subset=["epoch"])
    status = summary.get("status", "unknown")
    if status not in ("completed",):
        warn(f"{folder}: status {status} ({len(metrics)} epochs logged)")
    info = {"run": str(folder), "status": status, "params": summary.get("params"),
            "git_sha": (summary.get("git") or {}).get("sha"), "start_time": summary.get("start_time")}
    info.update(flatten(config))
    if metrics.empty:  # keep the run visible even without epochs
        return pd.DataFrame([info])
    return metrics.assign(**{k: [v] * len(metrics) for k, v in info.items()})


def collect(paths: Iterable[str | Path]) -> pd.DataFrame:
    frames = [f for f in (read_run(p) for p in find_runs(paths)) if f is not None]
    if not frames:
        return pd.DataFrame(columns=["run", "status", "epoch"])
    return pd.concat(frames, ignore_index=True)
