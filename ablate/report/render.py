"""A report table, and its renderings: markdown, LaTeX (booktabs, compile-ready), CSV and HTML.

Its cells are numbers (ablate.report.cells): the CSV holds them, the other renderings show their one text, and a
column is right-aligned when its cells are numbers (by their type, never by how their text looks).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ablate.report.cells import is_number, slug, text_of, values_of

TABLE_FORMATS = ("md", "tex", "csv")

# After the special characters are escaped, the report's few non-ASCII signs become math-mode LaTeX.
_LATEX_SPECIAL = [("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                  ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"),
                  ("^", r"\textasciicircum{}")]
_LATEX_SIGNS = [("±", r"$\pm$"), ("×", r"$\times$"), ("Δ", r"$\Delta$"), ("→", r"$\rightarrow$"),
                ("≥", r"$\geq$"), ("≤", r"$\leq$"), ("–", "--"), ("—", "---"), ("§", r"\S{}"),
                (">", r"$>$"), ("<", r"$<$"), ("−", "-"), ("√", r"$\surd$"), ("·", r"$\cdot$")]


def latex_escape(text: str) -> str:
    out = []
    for ch in str(text):
        out.append(next((rep for c, rep in _LATEX_SPECIAL if c == ch), ch))
    text = "".join(out)
    for sign, rep in _LATEX_SIGNS:
        text = text.replace(sign, rep)
    return text


@dataclass
class Table:
    name: str  # file stem: <name>.md, .tex, .csv
    caption: str
    columns: list[str]  # display titles
    cells: list[list[Any]]  # measured rows: plain values or Cells
    reference: list[list[Any]] = field(default_factory=list)  # the paper's rows, set apart and marked
    reference_title: str = "Paper (reference rows)"
    notes: list[str] = field(default_factory=list)  # printed under the table (rules, sources)
    keys: list[str] | None = None  # CSV column names; default: slugs of the titles

    @property
    def rows(self) -> list[list[str]]:
        """The measured rows as shown."""
        return [[text_of(c) for c in row] for row in self.cells]

    @property
    def reference_rows(self) -> list[list[str]]:
        return [[text_of(c) for c in row] for row in self.reference]

    def frame(self) -> pd.DataFrame:
        """The numbers: a Cell's values spread over `<key>`, `<key>_<suffix>` columns; `row`: measured or paper."""
        keys = self.keys or [slug(c) for c in self.columns]
        lines = [(kind, row) for kind, rows in (("measured", self.cells), ("paper", self.reference)) for row in rows]
        spread = [[values_of(c) for c in row] for _, row in lines]
        suffixes = [list(dict.fromkeys(s for row in spread for s in row[i])) for i in range(len(keys))]
        columns = [f"{k}_{s}" if s else k for k, ss in zip(keys, suffixes, strict=True) for s in ss]
        data = [[row[i].get(s) for i, ss in enumerate(suffixes) for s in ss] for row in spread]
        return pd.DataFrame({c: _column([r[j] for r in data]) for j, c in enumerate(columns)}
                            ).assign(row=[kind for kind, _ in lines])

    def markdown(self) -> str:
        def line(cells):
            return "| " + " | ".join(str(c).replace("|", "\\|").replace("*", "\\*") for c in cells) + " |"
        aligns = ["---"] + ["---:" if _numeric(self, i) else "---" for i in range(1, len(self.columns))]
        body = [line(self.columns), "| " + " | ".join(aligns) + " |", *map(line, self.rows)]
        body += [line([f"paper: {r[0]}", *r[1:]]) for r in self.reference_rows]
        return "\n\n".join([f"**{self.caption}**", "\n".join(body), *self.notes]) + "\n"

    def latex(self) -> str:
        spec = "l" + "".join("r" if _numeric(self, i) else "l" for i in range(1, len(self.columns)))
        def line(cells):
            return " & ".join(latex_escape(c) for c in cells) + r" \\"
        out = ["% booktabs table written by ablate-report; needs \\usepackage{booktabs} in the preamble",
               r"\begin{table}[t]", r"\centering", r"\small", rf"\caption{{{latex_escape(self.caption)}}}",
               rf"\label{{tab:{self.name.replace('_', '-')}}}", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
               line(self.columns), r"\midrule", *map(line, self.rows)]
        if self.reference:
            title = latex_escape(self.reference_title)
            out += [r"\midrule", rf"\multicolumn{{{len(self.columns)}}}{{l}}{{\emph{{{title}}}}} \\",
                    *map(line, self.reference_rows)]
        out += [r"\bottomrule", r"\end{tabular}"]
        if self.notes:
            out += [r"\par\smallskip", r"\begin{minipage}{0.95\linewidth}\footnotesize",
                    *[latex_escape(n) + r"\par" for n in self.notes], r"\end{minipage}"]
        return "\n".join(out + [r"\end{table}", ""])

    def html(self) -> str:
        def row(cells, tag="td", cls=""):
            inner = "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in cells)
            return f"<tr{cls}>{inner}</tr>"
        body = [row(self.columns, "th"), *map(row, self.rows)]
        body += [row([f"paper: {r[0]}", *r[1:]], cls=' class="ref"') for r in self.reference_rows]
        notes = "".join(f"<p class=\"note\">{html.escape(n)}</p>" for n in self.notes)
        return (f"<figure class=\"table\"><figcaption>{html.escape(self.caption)}</figcaption>"
                f"<table>{''.join(body)}</table>{notes}</figure>")

    def write(self, out: Path, formats: tuple[str, ...]) -> list[Path]:
        written = []
        for fmt in (f for f in TABLE_FORMATS if f in formats):
            path = out / f"{self.name}.{fmt}"
            if fmt == "csv":
                self.frame().to_csv(path, index=False)
            else:
                path.write_text(self.markdown() if fmt == "md" else self.latex())
            written.append(path)
        return written


def _column(values: list[Any]) -> Any:
    """Counts stay integers in the CSV where a row has none (the paper's rows): 3, not 3.0."""
    given = [v for v in values if v is not None]
    if given and all(isinstance(v, int) and not isinstance(v, bool) for v in given):
        return pd.array(values, dtype="Int64")
    return values


def _numeric(table: Table, col: int) -> bool:
    """Right-align a column whose measured cells are numbers (Cells, ints, floats), empty ones aside."""
    cells = [r[col] for r in table.cells if text_of(r[col]) not in ("", "—")]
    return bool(cells) and all(is_number(c) for c in cells)
