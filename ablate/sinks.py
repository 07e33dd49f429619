"""The wandb mirror of a run folder (rank 0 only). The run folder itself (`ablate.runfolder`) is the record;
this mirror never replaces it, and reports never read it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ablate.runfolder import RunFolder


class WandbMirror:
    """Mirror of the run folder in wandb (rank 0 only). Never waits for a network it was not given."""

    def __init__(self, cfg, run: RunFolder, run_id: str | None):
        import wandb  # lazy: only runs that ask for wandb pay for the import

        mode = cfg.logger.mode or os.environ.get("WANDB_MODE") or ("online" if _has_wandb_key() else "offline")
        self.wandb = wandb
        self.run = wandb.init(
            project=cfg.logger.project, group=cfg.logger.group or cfg.name, name=run.path.name,
            id=run_id, resume="allow", dir=str(run.path), mode=mode, config=cfg.to_dict(), reinit="finish_previous",
            settings=wandb.Settings(init_timeout=60, silent=True))
        self.run_id = self.run.id if self.run else None
        if self.run:
            self.run.define_metric("*", step_metric="step")

    def log(self, row: dict[str, Any], step: int) -> None:
        if self.run:
            self.run.log({**row, "step": step})

    def finish(self) -> None:
        if self.run:
            self.run.finish()
            self.run = None


def _has_wandb_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.exists() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def make_mirror(cfg, run: RunFolder, run_id: str | None) -> WandbMirror | None:
    return WandbMirror(cfg, run, run_id) if cfg.logger.name == "wandb" else None
