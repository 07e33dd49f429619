"""A report table, and its renderings: markdown, LaTeX (booktabs, compile-ready), CSV and HTML."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

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
    columns: list[str]
    rows: list[list[str]]
    reference: list[list[str]] = field(default_factory=list)  # the paper's rows, set apart and marked
    reference_title: str = "Paper (reference rows)"
    notes: list[str] = field(default_factory=list)  # printed under the table (rules, sources)

    def frame(self) -> pd.DataFrame:
        kinds = ["measured"] * len(self.rows) + ["paper"] * len(self.reference)
        return pd.DataFrame(self.rows + self.reference, columns=self.columns).assign(row=kinds)

    def markdown(self) -> str:
        def line(cells):
            return "| " + " | ".join(str(c).replace("|", "\\|").replace("*", "\\*") for c in cells) + " |"
        aligns = ["---"] + ["---:" if _numeric(self, i) else "---" for i in range(1, len(self.columns))]
        body = [line(self.columns), "| " + " | ".join(aligns) + " |", *map(line, self.rows)]
        body += [line([f"paper: {r[0]}", *r[1:]]) for r in self.reference]
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
                    *map(line, self.reference)]
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
        body += [row([f"paper: {r[0]}", *r[1:]], cls=' class="ref"') for r in self.reference]
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


def _numeric(table: Table, col: int) -> bool:
    """Right-align a column whose measured cells start like numbers."""
    cells = [str(r[col]) for r in table.rows if str(r[col]) not in ("", "—")]
    return bool(cells) and all(_NUMBER.match(c) for c in cells)


_NUMBER = re.compile(r"^[-+−<>? ]*\d[\d.]*(×)?( ?(±|\[|\()|$)")
