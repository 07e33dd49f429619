"""Reports: run folders → tidy table → figures and tables. Reads run folders only (never the trainer, never wandb).

collect (run folders → tidy table) → design (axes, baselines) → speed (Figure 1) / tables / figures → page.
The paper's reference numbers live in `ablate.report.paper`.
"""

from ablate.report.collect import collect, find_runs, flatten, per_run
from ablate.report.design import Design

__all__ = ["Design", "collect", "find_runs", "flatten", "per_run"]
