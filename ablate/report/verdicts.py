"""Verdicts: a measured interval against the paper's claim, by one rule printed under the Δ table (VERDICT_RULE).

A claim is judged in full (its effect size too) only on the data set the paper measured it on. Elsewhere only
its direction is judged: an ImageNet effect size says nothing about the size of the same change on CIFAR-10, so
"not reproduced" against it would be a statement about data sets, not about the claim.
"""

from __future__ import annotations

import math

from ablate.report.cells import PaperDelta
from ablate.report.paper import DATASET_NAMES, Claim

VERDICT_RULE = (
    "Verdict rule. Δ = error(value) − error(baseline) of the final test error in percentage points, with a 95% "
    "Welch t confidence interval over seeds (speed rows: the ratio of epochs to 25% training error, or to "
    "the report's --speed-threshold, with the "
    "interval of the speed table, which redoes each activation's learning-rate choice). A row is judged against "
    "the paper's claim only when its two sides are the claim's exact pair (rows naming several keys compare that "
    "pair). 'inconclusive' if either side has fewer than 2 completed seeds; 'inconclusive: no spread' if the "
    "seeds gave identical numbers within each side, so no interval can be formed. Against an effect size the "
    "paper measured on the runs' data set: 'reproduced' if the interval excludes 0 on the side of the paper's "
    "sign and does not lie wholly short of the paper's Δ; 'direction only' if it excludes 0 on the paper's side "
    "but also excludes the paper's Δ, being smaller; 'not reproduced' if it excludes 0 on the opposite side, or "
    "if it contains 0 but excludes the paper's Δ (the paper's effect size is ruled out and no effect is shown); "
    "'inconclusive' otherwise. Against a number the paper measured on another data set (the Paper Δ cell says "
    "'direction only here'; e.g. an ImageNet Δ beside CIFAR-10 runs), or in speed rows counted to another "
    "training error than the paper's 25% (`--speed-threshold`), only the direction is judged, since an effect size "
    "does not carry across data sets or thresholds: 'reproduced direction' if the interval excludes 0 on the "
    "paper's side, 'reversed' if it excludes 0 on the opposite side, 'inconclusive' otherwise. In speed rows a "
    "run that never reaches the threshold counts as its last epoch (a lower bound): a censored baseline arm is "
    "'inconclusive'; a censored compared arm gives 'direction only' ('reproduced direction' where only the "
    "direction is judged) when its lower bound shows the paper's direction (the size stays open; 'reproduced' "
    "against a claim of a direction alone), else 'inconclusive'. 'no claim': the paper gives neither a number "
    "nor a direction for this comparison.")


def direction_only(claim: Claim | None, family: str) -> bool:
    """Whether only the claim's direction can be judged on runs of data set `family`."""
    return claim is not None and claim.dataset != family


def paper_delta(claim: Claim | None, family: str, other_measure: str = "") -> PaperDelta | None:
    """The Paper Δ cell: the claimed Δ (or ratio), and where it holds only as a direction, the data set (and
    `other_measure`, how the claim's measure differs from the runs', e.g. "at 25% training error")."""
    if claim is None:
        return None
    where = DATASET_NAMES.get(claim.dataset, claim.dataset) if direction_only(claim, family) or other_measure else ""
    return PaperDelta(claim.delta, claim.sign, claim.measure == "speed", f"{where} {other_measure}".strip())


def verdict(lo: float, hi: float, n: tuple[int, int], claim: Claim | None, paper_delta: float | None,
            censored: str = "", direction: bool = False) -> str:
    """VERDICT_RULE, exactly; `censored` is "", "value" or "baseline" (speed rows); `direction`: judge the
    direction only (a claim measured on another data set)."""
    if claim is None:
        return "no claim"
    if min(n) < 2 or censored == "baseline":
        return "inconclusive"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "inconclusive: no spread"
    s = claim.sign
    if s * lo > 0 and s * hi > 0:
        if direction:
            return "reproduced direction"
        if censored and paper_delta is not None:  # the size stays open; a claim of a direction alone is met
            return "direction only"
        reach = max(s * lo, s * hi)  # how far the interval goes in the paper's direction
        return "direction only" if paper_delta is not None and reach < s * paper_delta else "reproduced"
    if censored:
        return "inconclusive"
    if s * lo < 0 and s * hi < 0:
        return "reversed" if direction else "not reproduced"
    if not direction and paper_delta is not None and not lo <= paper_delta <= hi:
        return "not reproduced"
    return "inconclusive"
