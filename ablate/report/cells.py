"""Table cells: the numbers behind a report table's entries, and the one place they are formatted.

Table builders give numbers; a cell is a plain value (text, an integer, None for "—") or a `Cell`, which holds
the numbers behind a composite entry such as "+4.00 [+1.73, +6.27]": a table's CSV gets the numbers (columns
`delta`, `delta_lo`, `delta_hi`), its md/LaTeX/HTML renderings the text (ablate.report.render).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


class Cell:
    """A table entry: `values()` for the CSV ('' = the column's own name, else a suffix), `text()` for display."""

    number = True  # shown as a number (right-aligned); False: as a label

    def text(self) -> str:
        raise NotImplementedError

    def values(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass
class MeanStd(Cell):
    """Mean ± sample std over n seeds (errors in %)."""
    mean: float
    std: float
    n: int

    def text(self) -> str:
        return "—" if not self.n else f"{self.mean:.2f}" + (f" ± {self.std:.2f}" if self.n > 1 else "")

    def values(self) -> dict[str, Any]:
        return {"": self.mean if self.n else None, "std": self.std if self.n > 1 else None}


@dataclass
class Num(Cell):
    value: float | None
    digits: int = 1

    def text(self) -> str:
        return "—" if self.value is None else f"{self.value:.{self.digits}f}"

    def values(self) -> dict[str, Any]:
        return {"": self.value}


@dataclass
class Pair(Cell):
    """Completed runs on the value side / the baseline side."""
    value: int
    baseline: int
    number = False  # "3/3" reads as a label

    def text(self) -> str:
        return f"{self.value}/{self.baseline}"

    def values(self) -> dict[str, Any]:
        return {"value": self.value, "baseline": self.baseline}


@dataclass
class Interval(Cell):
    """A difference with its 95% interval; n = completed runs per side (no interval below 2)."""
    value: float
    lo: float
    hi: float
    n: tuple[int, int]

    def text(self) -> str:
        if not math.isfinite(self.value):
            return "—"
        if min(self.n) < 2:
            return f"{self.value:+.2f} [n < 2]"
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            return f"{self.value:+.2f} [no spread]"
        return f"{self.value:+.2f} [{self.lo:+.2f}, {self.hi:+.2f}]"

    def values(self) -> dict[str, Any]:
        shown = min(self.n) >= 2
        return {"": _finite(self.value), "lo": _finite(self.lo) if shown else None,
                "hi": _finite(self.hi) if shown else None}


@dataclass
class RatioCI(Cell):
    """A ratio with its 95% interval; censored: "value" (a lower bound), "baseline" (unknown) or ""."""
    ratio: float
    lo: float
    hi: float
    n: tuple[int, int]
    censored: str = ""

    def text(self) -> str:
        mark = {"value": "> ", "baseline": "? "}.get(self.censored, "")
        if self.censored or not math.isfinite(self.ratio):
            return f"{mark}{self.ratio:.2f}×"
        ci = ("n < 2" if min(self.n) < 2 else "no spread" if not math.isfinite(self.lo)
              else f"{self.lo:.2f}, {self.hi:.2f}")
        return f"{self.ratio:.2f}× [{ci}]"

    def values(self) -> dict[str, Any]:
        shown = not self.censored and min(self.n) >= 2
        return {"": _finite(self.ratio), "lo": _finite(self.lo) if shown else None,
                "hi": _finite(self.hi) if shown else None,
                "bound": {"value": "lower bound", "baseline": "unknown"}.get(self.censored, "")}


@dataclass
class Epochs(Cell):
    """Mean ± std epochs to a threshold over n runs; `censored` runs never got there (their last epoch counts)."""
    mean: float
    std: float
    n: int
    censored: int = 0

    def text(self) -> str:
        if self.censored:
            return f"> {self.mean:.1f} ({self.n - self.censored}/{self.n} runs reached it)"
        return f"{self.mean:.1f}" + (f" ± {self.std:.1f}" if self.n > 1 else "") + f" (n={self.n})"

    def values(self) -> dict[str, Any]:
        return {"": _finite(self.mean), "std": _finite(self.std) if self.n > 1 and not self.censored else None,
                "n": self.n, "reached": self.n - self.censored}


@dataclass
class PaperDelta(Cell):
    """The paper's Δ (or ratio, `speed`) or only its sign (delta None); `where`: the data set it was measured
    on when only its direction is judged on these runs, else ""."""
    delta: float | None
    sign: int
    speed: bool = False
    where: str = ""

    def text(self) -> str:
        if self.delta is None:
            return ("+" if self.sign > 0 else "−") + (f" (direction; {self.where})" if self.where else " (direction)")
        size = f"{self.delta:.0f}×" if self.speed else f"{self.delta:+.1f}"
        return f"{size} ({self.where}; direction only here)" if self.where else size

    def values(self) -> dict[str, Any]:
        return {"": self.delta, "sign": self.sign, "direction_only_from": self.where or None}


def is_number(cell: Any) -> bool:
    """A number, or a Cell shown as one: what a table right-aligns."""
    if isinstance(cell, Cell):
        return cell.number
    return isinstance(cell, int | float) and not isinstance(cell, bool)


def text_of(cell: Any) -> str:
    if isinstance(cell, Cell):
        return cell.text()
    return "—" if cell is None else str(cell)


def values_of(cell: Any) -> dict[str, Any]:
    return cell.values() if isinstance(cell, Cell) else {"": cell}


def slug(title: str) -> str:
    """A CSV column name from a display title: "Top-1 final (test)" → top1_final_test."""
    return re.sub(r"[^0-9a-z]+", "_", title.lower().replace("-", "")).strip("_") or "value"
