"""Reports: run folders → tidy table → figures and tables. Reads run folders, or the runs.csv of an earlier report
(never the trainer, never wandb).

inputs / collect (run folders or runs.csv → tidy table) → runtable (one row per run) → design (axes, baselines) → speed (Figure 1) / tables
(verdicts) / figures → cells (numbers) → render (md, LaTeX, CSV, HTML) → page; `command` is `ablate-report`. The
paper's reference numbers and claims live in `ablate.report.paper`.
"""

from ablate.report.collect import collect, find_runs, flatten
from ablate.report.design import Design
from ablate.report.runtable import per_run

__all__ = ["Design", "collect", "find_runs", "flatten", "per_run"]
