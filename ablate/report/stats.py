"""Small statistics over seeds: Student-t quantiles, Welch confidence intervals, an interval for a difference of
two minima picked on the same data, epochs to an error threshold.

scipy is not a dependency, so the t quantile is computed here: the t CDF through the regularized incomplete beta
function (continued fraction, modified Lentz), inverted by bisection.

An interval is never of zero width: when the seeds leave no spread to estimate one from (both sides identical
within themselves), the bounds are nan, like with n < 2, and verdicts say "inconclusive: no spread".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _beta_cf(a: float, b: float, x: float) -> float:
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-14:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0 or x >= 1:
        return 0.0 if x <= 0 else 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_cf(a, b, x) / a
    return 1 - math.exp(log_front) * _beta_cf(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with `df` (possibly fractional) degrees of freedom."""
    if not 0 < p < 1 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    lo, hi = -1.0, 1.0
    while t_cdf(lo, df) > p:
        lo *= 2
    while t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
        if hi - lo < 1e-12 * max(1.0, abs(mid)):
            break
    return (lo + hi) / 2


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (n-1; nan for n < 2) and n of the finite values."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan, int(v.size)


def welch_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """mean(a) - mean(b) and its Welch t confidence interval; (Δ, nan, nan) when either side has n < 2 or neither
    side varies."""
    ma, sa, na = mean_std(a)
    mb, sb, nb = mean_std(b)
    delta = ma - mb
    if na < 2 or nb < 2:
        return delta, math.nan, math.nan
    va, vb = sa * sa / na, sb * sb / nb
    se = math.sqrt(va + vb)
    if se == 0:  # identical values within each side (e.g. deterministic CPU runs): a zero-width interval would
        return delta, math.nan, math.nan  # claim certainty from no information about the noise
    df = (va + vb) ** 2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    half = t_quantile(0.5 + level / 2, df) * se
    return delta, delta - half, delta + half


def _smallest_mean_draws(cells: list[np.ndarray], draws: int, rng: np.random.Generator) -> np.ndarray:
    """Draws of the smallest cell mean: each cell's mean redrawn as mean + s/√n · t(n−1), the smallest taken."""
    means = np.array([c.mean() for c in cells])
    scales = np.array([c.std(ddof=1) / math.sqrt(c.size) for c in cells])
    t = np.column_stack([rng.standard_t(c.size - 1, draws) for c in cells])
    return (means + scales * t).min(axis=1)


def selection_ci(a_cells: Sequence[Sequence[float]], b_cells: Sequence[Sequence[float]], a_pick: int, b_pick: int,
                 level: float = 0.95, draws: int = 10_000, seed: int = 0) -> tuple[float, float, float]:
    """mean(a_cells[a_pick]) − mean(b_cells[b_pick]), each side's cell having been picked on these same values as
    the one with the smallest mean, and a `level` interval that redoes both picks in every draw.

    Each draw redraws every cell's mean from its sampling distribution (mean + s/√n · t(n−1)), takes each side's
    smallest, and differences them; the interval is the draws' quantiles reflected about the measured Δ (the
    "basic" interval), so the optimism of picking a minimum on the same values moves it the other way. One cell
    per side is an interval for a plain difference of means. (Δ, nan, nan) when a cell has n < 2 or the draws
    do not vary. `seed` fixes the draws: the same values give the same interval.
    """
    a = [np.asarray(c, dtype=float) for c in a_cells]
    b = [np.asarray(c, dtype=float) for c in b_cells]
    delta = float(a[a_pick].mean() - b[b_pick].mean())
    if min(c.size for c in a + b) < 2:
        return delta, math.nan, math.nan
    rng = np.random.default_rng(seed)
    diffs = _smallest_mean_draws(a, draws, rng) - _smallest_mean_draws(b, draws, rng)
    q_lo, q_hi = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    if not q_hi > q_lo:  # every draw the same: no spread in any cell that could be picked
        return delta, math.nan, math.nan
    return delta, float(2 * delta - q_hi), float(2 * delta - q_lo)


def epochs_to(epochs: Sequence[float], errors: Sequence[float], threshold: float) -> float:
    """The (linearly interpolated) epoch at which `errors` first reach `threshold`; nan if never.

    If the first logged epoch is already at or below the threshold, that epoch is returned: nothing before it
    was logged to interpolate from.
    """
    pairs = sorted((e, y) for e, y in zip(epochs, errors, strict=True) if np.isfinite(e) and np.isfinite(y))
    for i, (e, y) in enumerate(pairs):
        if y <= threshold:
            if i == 0:
                return float(e)
            e0, y0 = pairs[i - 1]
            return float(e0 + (y0 - threshold) / (y0 - y) * (e - e0))
    return math.nan
