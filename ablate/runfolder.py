"""The run folder: the contract between the trainer, which writes it, and the report, which reads it.

    config.yaml        the resolved config: what this folder's numbers were computed with
    metrics.csv        one row per finished epoch: METRIC_COLUMNS, then any extra columns (activation statistics)
    summary.json       status, provenance (git, versions, machine, argv, start time; resumed_under: the code a resume
                       ran), final and best rows, repairs;
                       summary.prev.json is the copy from before its last rewrite
    checkpoints/       last.pt, previous.pt (ablate.checkpoint); each also holds the epoch rows and the summary
    traceback.txt      when the run failed
    evals/<split>.json the final weights scored again on a split in eval mode (ablate-eval, after the run)
    .lock              held (flock) by the one process that writes the folder, for the run's whole life

Crash consistency: every file is replaced atomically (unique temp name, then rename). The newest checkpoint is
the truth a run resumes from, so on resume metrics.csv is rewritten from the checkpoint's rows: rows past it,
a torn last line or a lost file are repaired, and each repair is listed in summary.json. A summary that cannot
be read falls back to its previous copy, then to the checkpoint's snapshot; provenance that is lost anyway is
flagged (`provenance_lost`), never silently replaced.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import socket
import sys
import warnings
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from ablate.atomic import atomic_write
from ablate.provenance import git_state, machine, versions

METRIC_COLUMNS = ["epoch", "step", "lr", "train_loss", "train_err", "val_loss", "val_top1_err", "val_top5_err",
                  "test_loss", "test_top1_err", "test_top5_err", "epoch_s", "images_per_s"]
TIMING_COLUMNS = ("epoch_s", "images_per_s")  # wall-clock columns: never equal between two runs


class Status(StrEnum):
    RUNNING = "running"  # in progress, or killed before it could say otherwise
    COMPLETED = "completed"
    DIVERGED = "diverged"  # a non-finite loss: a result, not a crash
    FAILED = "failed"  # an exception; traceback.txt says which
    PREEMPTED = "preempted"  # stopped by a signal after a checkpoint: the same command resumes it


FINAL = frozenset({Status.COMPLETED, Status.DIVERGED})  # re-running these would only repeat them


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def remove_stale_temps(folder: Path) -> None:
    """Temp files of writers that died mid-write (the caller holds the folder's lock, so no writer is alive)."""
    for tmp in list(folder.glob(".*.tmp")) + list(folder.glob("checkpoints/.*.tmp")):
        tmp.unlink(missing_ok=True)


def clean(value: Any) -> Any:
    """JSON has no NaN/inf: write them as strings so the file stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class RunFolder:
    """Reads and writes one run folder's records (rank 0 only writes)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.metrics_path = self.path / "metrics.csv"
        self.summary_path = self.path / "summary.json"
        self.prev_path = self.path / "summary.prev.json"
        self.config_path = self.path / "config.yaml"
        self.summary: dict[str, Any] = {}
        self.columns: list[str] = list(METRIC_COLUMNS)

    # -- reading -----------------------------------------------------------------------------------------------
    def read_summary(self, quiet: bool = True) -> dict[str, Any] | None:
        """summary.json, or its previous copy when it is unreadable (a warning says so unless `quiet`)."""
        summary = read_json(self.summary_path)
        if summary is None and self.summary_path.exists():
            summary = read_json(self.prev_path)
            if not quiet:
                warnings.warn(f"{self.summary_path} is unreadable; "
                              + ("using its previous copy" if summary else "no readable copy"), stacklevel=2)
        return summary

    def read_config(self) -> dict[str, Any] | None:
        try:
            data = yaml.safe_load(self.config_path.read_text())
        except (OSError, yaml.YAMLError):
            return None
        return data if isinstance(data, dict) else None

    def has_results(self) -> bool:
        """Anything here that a different config must not overwrite: a checkpoint or a logged epoch."""
        ckpts = self.path / "checkpoints"
        return (ckpts.is_dir() and any(ckpts.glob("*.pt"))) or _data_lines(self.metrics_path) > 0

    # -- writing -----------------------------------------------------------------------------------------------
    def start(self, config: dict[str, Any], extra: dict[str, Any], columns: list[str]) -> None:
        """A fresh record (no checkpoint to resume from): config, empty metrics, summary `running`."""
        self.path.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.path)
        old = self.read_summary()
        self.columns = list(columns)
        atomic_write(self.config_path, yaml.safe_dump(config, sort_keys=False))
        self.write_metrics([])
        self.summary = {"status": Status.RUNNING.value, "name": config.get("name"), "seed": config.get("seed"),
                        "start_time": now_iso(), "end_time": None, "wall_s": 0.0, "epochs_completed": 0,
                        "final": {}, "best": {}, "git": git_state(), "versions": versions(),
                        "machine": machine(extra.get("device")), "platform": platform.platform(),
                        "host": socket.gethostname(), "argv": sys.argv, "columns": self.columns, **extra}
        if old and old.get("status") == Status.FAILED:  # an attempt that failed before its first checkpoint
            self.summary["earlier_attempt"] = {k: old.get(k) for k in ("start_time", "end_time", "error")}
        self.write_summary()

    def restore(self, config: dict[str, Any], rows: list[dict[str, Any]], snapshot: dict[str, Any],
                extra: dict[str, Any]) -> list[str]:
        """Make the folder agree with the checkpoint being resumed; returns the repairs made (also recorded)."""
        remove_stale_temps(self.path)
        repairs = self._metrics_repairs(rows)
        stored = self.read_summary(quiet=True)
        if stored is None:
            stored = snapshot
            repairs.append("summary.json unreadable (and no readable previous copy): rebuilt from the checkpoint"
                           if self.summary_path.exists() else "summary.json missing: rebuilt from the checkpoint")
        if self.read_config() is None:
            repairs.append("config.yaml missing or unreadable: rewritten from the checkpoint")
        atomic_write(self.config_path, yaml.safe_dump(config, sort_keys=False))
        self.columns = list(snapshot.get("columns") or stored.get("columns") or METRIC_COLUMNS)
        self.write_metrics(rows)
        self.summary = {**stored}
        for key in ("git", "versions", "start_time", "argv"):  # provenance of the first attempt
            if self.summary.get(key) is None:
                self.summary[key] = snapshot.get(key)
        if any(self.summary.get(k) is None for k in ("git", "start_time")):
            self.summary["provenance_lost"] = True
        self.summary.pop("error", None)
        here, seen = machine(extra.get("device")), self.summary.get("machine")
        # Resumed elsewhere: both machines computed these numbers, and the record names each.
        self.summary["machine"] = here if not seen else seen if seen.split(" then ")[-1] == here else f"{seen} then {here}"
        self._note_other_code(len(rows))
        self.summary.update(status=Status.RUNNING.value, end_time=None, resumes=self.summary.get("resumes", 0) + 1,
                            wall_s_before_resume=self.summary.get("wall_s", 0.0), **extra)
        self._set_epoch_fields(rows)
        if repairs:
            self.summary["repairs"] = self.summary.get("repairs", []) + [f"{now_iso()}: {r}" for r in repairs]
        self.write_summary()
        return repairs

    def _note_other_code(self, epochs: int) -> None:
        """Resumed under another commit or other package versions: `git` and `versions` stay the first attempt's,
        and `resumed_under` lists each change with the epoch its numbers start after."""
        history = self.summary.get("resumed_under") or []
        here = {"git": git_state(), "versions": versions()}
        last = {k: next((h[k] for h in reversed(history) if k in h), self.summary.get(k)) for k in here}
        changed = {k: v for k, v in here.items() if v != last[k]}
        if changed:
            self.summary["resumed_under"] = [*history, {"at": now_iso(), "after_epoch": epochs, **changed}]

    def _metrics_repairs(self, rows: list[dict[str, Any]]) -> list[str]:
        if not self.metrics_path.exists():
            return ["metrics.csv missing: rebuilt from the checkpoint"] if rows else []
        text = self.metrics_path.read_text(errors="replace")
        repairs = []
        if text and not text.endswith("\n"):
            repairs.append("metrics.csv: a torn last line (cut mid-write) dropped")
        logged = _data_lines(self.metrics_path)
        if logged > len(rows):
            repairs.append(f"metrics.csv: {logged - len(rows)} row(s) past the checkpoint dropped "
                           "(they are computed again)")
        return repairs

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self.columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(self.metrics_path, buffer.getvalue())

    def log_epoch(self, row: dict[str, Any], rows: list[dict[str, Any]], wall_s: float | None = None) -> None:
        """Append one epoch's row (flushed: a crash after this loses nothing) and update the summary, wall time
        included, so a run killed without a word (SIGKILL, a lost node) keeps the time it had spent."""
        with open(self.metrics_path, "a", newline="") as f:
            csv.DictWriter(f, self.columns, extrasaction="ignore", lineterminator="\n").writerow(row)
            f.flush()
        self._set_epoch_fields(rows)
        if wall_s is not None:
            self.summary["wall_s"] = wall_s
        self.write_summary()

    def _set_epoch_fields(self, rows: list[dict[str, Any]]) -> None:
        self.summary["epochs_completed"] = rows[-1]["epoch"] if rows else 0
        self.summary["final"] = {k: clean(v) for k, v in rows[-1].items()} if rows else {}
        finite = [r for r in rows if math.isfinite(r["val_top1_err"])]
        best = min(finite, key=lambda r: r["val_top1_err"]) if finite else None  # first of ties, as before
        self.summary["best"] = {k: clean(v) for k, v in best.items()} if best else {}

    def record_same_as(self, other: RunFolder, config: dict[str, Any], launch: dict | None) -> dict[str, Any]:
        """This folder is the run `other` completed: its records are copied (checkpoints are not), and the
        summary says `same_as`, so reports count the two folders once."""
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write(self.config_path, yaml.safe_dump(config, sort_keys=False))
        atomic_write(self.metrics_path, other.metrics_path.read_text())
        self.summary = {**(other.read_summary() or {}), "same_as": os.path.relpath(other.path, self.path),
                        "name": config.get("name"), "launch": launch, "recorded_time": now_iso()}
        self.write_summary()
        return self.summary

    def record_extension(self, other: RunFolder, config: dict[str, Any], launch: dict | None) -> dict[str, Any]:
        """The summary of this folder continuing the run `other` completed with fewer epochs (`extended_from`
        says which, when and at what commit; its wall time counts as this run's, as a resumed attempt's); the
        folder's records are written once the checkpoint is in place (`write_extension`)."""
        source = other.read_summary() or {}
        origin = {"run": os.path.relpath(other.path, self.path), "epochs": source.get("epochs_completed"),
                  "fingerprint": source.get("fingerprint"), "git": source.get("git"),
                  "end_time": source.get("end_time"), "wall_s": source.get("wall_s"), "extended_time": now_iso(),
                  "git_now": git_state()}
        self.summary = {**{k: v for k, v in source.items() if k != "wandb"}, "status": Status.RUNNING.value,
                        "end_time": None, "name": config.get("name"), "launch": launch, "extended_from": origin}
        return self.summary

    def write_extension(self, other: RunFolder, config: dict[str, Any]) -> None:
        atomic_write(self.config_path, yaml.safe_dump(config, sort_keys=False))
        atomic_write(self.metrics_path, other.metrics_path.read_text())
        self.write_summary()

    def record_setup_failure(self, config: dict[str, Any], exc: BaseException, trace: str) -> None:
        """A run that failed before training: keep what an earlier attempt logged, mark it failed."""
        summary = self.read_summary()
        if summary is None:
            self.start(config, {}, METRIC_COLUMNS)
        else:
            self.summary = summary
        atomic_write(self.path / "traceback.txt", trace)
        self.finish(Status.FAILED, error=f"{type(exc).__name__}: {exc}")

    def finish(self, status: Status, **fields: Any) -> dict[str, Any]:
        self.summary.update(status=Status(status).value, end_time=now_iso(),
                            **{k: clean(v) for k, v in fields.items()})
        self.write_summary()
        return self.summary

    def write_summary(self) -> None:
        """Atomically, keeping the version it replaces as summary.prev.json (always one readable copy)."""
        if self.summary_path.exists() and read_json(self.summary_path) is not None:
            atomic_write(self.prev_path, self.summary_path.read_bytes())
        atomic_write(self.summary_path, json.dumps(self.summary, indent=2, default=str))


def objective_value(summary: dict[str, Any], objective: str) -> float:
    """`trainer.objective` of a finished run, as the float an optimizing sweeper minimizes: a metric at the final
    epoch (or `best.`: at the best one); inf for a diverged run (worst), nan for one with no result (a failure)."""
    status = summary.get("status")
    if status == Status.DIVERGED:
        return math.inf
    where, _, column = objective.rpartition(".")
    row = summary.get(where or "final") or {}
    if status != Status.COMPLETED or column not in row:
        return math.nan
    return float(row[column])


def read_metric_rows(folder: str | os.PathLike, through_epoch: int) -> list[dict[str, Any]]:
    """The complete rows of a folder's metrics.csv up to `through_epoch`, as numbers (for checkpoints written
    before checkpoints carried their rows)."""
    path = Path(folder) / "metrics.csv"
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    lines = text.split("\n")[:-1]  # a last line without its newline is torn
    rows = []
    for r in csv.DictReader(lines):
        try:
            row = {k: float(v) if v not in ("", None) else math.nan for k, v in r.items() if k is not None}
        except ValueError:
            continue
        if math.isfinite(row.get("epoch", math.nan)) and row["epoch"] <= through_epoch:
            rows.append({**row, "epoch": int(row["epoch"]), "step": int(row.get("step", 0))})
    return rows


def _data_lines(path: Path) -> int:
    """Complete data rows of a metrics.csv (a last line without its newline is torn, not complete)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return 0
    return max(0, len(text.split("\n")) - 2)  # the header, and the empty tail or the torn line
