"""How often three 95% intervals for Figure 1's speed-up cover the truth when each arm's lr is picked on the data.

Simulated designs (log epochs to 25%, noise sd 0.1 per run): the fast arm ran `lrs` learning rates that are all
the same in expectation, so which one is "fastest" is noise; the slow arm ran `slow lrs` of them; every cell has
`seeds` runs; the true log-ratio is log 2. Each arm's lr with the smallest mean is picked, as the report does.
Intervals compared:
  naive Welch      Welch t on the two picked cells, as if no lr had been picked (the report before #13 §3)
  seed bootstrap   resample the seeds within every cell, redo the pick, percentile interval
  report           ablate.report.stats.selection_ci: each cell's mean drawn from mean + s/√n · t(n−1), the pick
                   redone in each draw, quantiles reflected about the measured log-ratio (what the report uses)
Run: python reports/speed_ci_coverage.py  (writes reports/speed_ci_coverage.md; about a minute on one core)
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's report code
from ablate.report.stats import selection_ci, welch_ci  # noqa: E402

DESIGNS, DRAWS, SD, TRUTH = 1000, 4000, 0.1, math.log(2.0)
SCENARIOS = [(1, 1, 3), (3, 1, 3), (3, 3, 3), (5, 1, 3), (3, 1, 5), (5, 1, 5), (8, 1, 10)]  # lrs, slow lrs, seeds


def seed_bootstrap(slow: list[np.ndarray], fast: list[np.ndarray], rng: np.random.Generator) -> tuple[float, float]:
    def smallest(cells):
        means = [c[rng.integers(0, c.size, (DRAWS, c.size))].mean(axis=1) for c in cells]
        return np.min(means, axis=0)
    return tuple(np.quantile(smallest(slow) - smallest(fast), [0.025, 0.975]))


def scenario(lrs: int, slow_lrs: int, seeds: int) -> dict[str, tuple[float, float]]:
    rng = np.random.default_rng(lrs * 100 + slow_lrs * 10 + seeds)
    hits, widths = {}, {}
    for _ in range(DESIGNS):
        fast = [rng.normal(0.0, SD, seeds) for _ in range(lrs)]
        slow = [rng.normal(TRUTH, SD, seeds) for _ in range(slow_lrs)]
        f, s = int(np.argmin([c.mean() for c in fast])), int(np.argmin([c.mean() for c in slow]))
        intervals = {"naive Welch": welch_ci(slow[s], fast[f])[1:], "seed bootstrap": seed_bootstrap(slow, fast, rng),
                     "report": selection_ci(slow, fast, s, f, draws=DRAWS, seed=int(rng.integers(2**31)))[1:]}
        for name, (lo, hi) in intervals.items():
            hits[name] = hits.get(name, 0) + (lo <= TRUTH <= hi)
            widths[name] = widths.get(name, 0.0) + (hi - lo)
    return {name: (hits[name] / DESIGNS, widths[name] / DESIGNS) for name in hits}


def main() -> None:
    head = "| fast arm's lrs | slow arm's lrs | seeds per cell | naive Welch | seed bootstrap | report |"
    lines = ["# Coverage of 95% intervals for the Figure-1 speed-up when the lr is picked on the same runs", "",
             f"`python reports/speed_ci_coverage.py`: {DESIGNS:,} simulated designs per row, {DRAWS:,} draws per "
             f"interval, run noise sd {SD} in log epochs, every lr the same in expectation (true ratio 2). Each "
             "cell: the share of designs whose interval covers the truth, and the mean width in log units.", "",
             head, "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for lrs, slow_lrs, seeds in SCENARIOS:
        result = scenario(lrs, slow_lrs, seeds)
        cells = [f"{c:.1%} ({w:.3f})" for c, w in result.values()]
        lines.append(f"| {lrs} | {slow_lrs} | {seeds} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    out = Path(__file__).with_suffix(".md")
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
