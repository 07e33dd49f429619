"""Reports: run folders → tidy table → figures and tables. Reads run folders only (never the trainer, never wandb)."""

from ablate.report.collect import collect, find_runs, flatten

__all__ = ["collect", "find_runs", "flatten"]
