"""The wandb mirror of a run folder (rank 0 only). The run folder itself (`ablate.runfolder`) is the record;
this mirror never replaces it, and reports never read it (they may link to it: summary.json's `wandb` block).

A mirrored run carries what a wandb user filters and sorts by: `job_type` train, the run's axis values as tags
(the overrides that name its folder, e.g. `model.activation=tanh`, and the sweep it belongs to), the sweep file's
header as notes, and at the end a summary (status, best metrics, parameters, diverged step, git SHA) and an exit
code: 0 completed, 1 diverged or failed, 128 + signal for a preempted run, which is also marked preempting so
wandb (and a wandb sweep) treats it as resumable; the resumed launch continues the same wandb run.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from ablate.identity import GROUP_SELECTORS, is_bookkeeping, override_key
from ablate.runfolder import RunFolder

TAG_LIMIT = 64  # wandb rejects longer tags


def tags(overrides: list[str] | None) -> list[str]:
    """The run's axis values as wandb tags: its non-bookkeeping overrides, and the sweep/experiment it ran in."""
    out = []
    for o in overrides or []:
        key = override_key(o)
        if key in GROUP_SELECTORS:
            out.append(f"{key}={o.split('=', 1)[1]}")
        elif not is_bookkeeping(key):
            out.append(o.lstrip("+~"))
    return [t if len(t) <= TAG_LIMIT else t[: TAG_LIMIT - 1] + "…" for t in sorted(out)]


def exit_code(summary: dict[str, Any]) -> int:
    status = summary.get("status")
    if status == "completed":
        return 0
    if status == "preempted":
        sig = getattr(signal, str(summary.get("preempt_signal")), None)
        return 128 + int(sig) if sig is not None else 1
    return 1


def run_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """What wandb's run summary gets beside the last logged metrics: how the run ended and what it was."""
    git = summary.get("git") or {}
    out = {f"best_{k}": v for k, v in (summary.get("best") or {}).items()}
    out.update({k: summary[k] for k in ("status", "epochs_completed", "params", "wall_s", "diverged_step",
                                        "diverged_epoch", "stopped_early", "error", "fingerprint")
                if summary.get(k) is not None})
    out.update(git_sha=git.get("sha"), git_dirty=git.get("dirty"))
    return out


class WandbMirror:
    """Mirror of the run folder in wandb (rank 0 only). Never waits for a network it was not given."""

    def __init__(self, cfg, run: RunFolder, run_id: str | None, launch: dict | None = None):
        import wandb  # lazy: only runs that ask for wandb pay for the import

        launch = launch or {}
        self.mode = cfg.logger.mode or os.environ.get("WANDB_MODE") or ("online" if _has_wandb_key() else "offline")
        self.wandb = wandb
        self.run = wandb.init(
            project=cfg.logger.project, entity=cfg.logger.entity, group=cfg.logger.group or cfg.name,
            name=run.path.name, id=run_id, resume="allow", dir=str(run.path), mode=self.mode, config=cfg.to_dict(),
            job_type="train", tags=tags(launch.get("overrides")), notes=launch.get("notes"),
            reinit="finish_previous", settings=wandb.Settings(init_timeout=60, silent=True))
        self.run_id = self.run.id if self.run else None
        if self.run:
            self.run.define_metric("*", step_metric="step")

    def record(self) -> dict[str, Any] | None:
        """Where the mirror is, for summary.json (a report links there; it never reads wandb)."""
        if not self.run:
            return None
        url = self.run.url if self.mode == "online" else None  # offline runs get theirs at `wandb sync`
        return {"id": self.run.id, "project": self.run.project, "entity": self.run.entity or None,
                "mode": self.mode, "url": url}

    def log(self, row: dict[str, Any], step: int) -> None:
        if self.run:
            self.run.log({**row, "step": step})

    def finish(self, summary: dict[str, Any]) -> None:
        if not self.run:
            return
        self.run.summary.update(run_summary(summary))
        if summary.get("status") == "preempted":
            self.run.mark_preempting()
        self.run.finish(exit_code=exit_code(summary))
        self.run = None


def _has_wandb_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.exists() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def make_mirror(cfg, run: RunFolder, run_id: str | None, launch: dict | None = None) -> WandbMirror | None:
    return WandbMirror(cfg, run, run_id, launch) if cfg.logger.name == "wandb" else None
