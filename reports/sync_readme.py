"""Copy the measured tables of the committed reports into README.md's "Results so far" block.

The numbers in the README are never typed by hand: this script takes the tables `ablate-report` generated in
reports/<comparison>/ and the provenance written beside them (PROVENANCE.md) and rewrites the block between
`<!-- results:begin -->` and `<!-- results:end -->`. Run it after regenerating a report.
"""

from __future__ import annotations

import re
from pathlib import Path

REPORTS = Path(__file__).resolve().parent
README = REPORTS.parent / "README.md"
# (folder, heading): the comparisons with real-data results, in the order the README shows them.
COMPARISONS = [
    ("fig1", "Figure 1: ReLU vs tanh on CIFAR-10, paper protocol"),
    ("fig1_kaiming", "Figure 1 with a modern default (Kaiming init)"),
    ("lrn_cifar", "§3.3 LRN on CIFAR-10 (conv-local net), paper protocol"),
    ("lrn_cifar_kaiming", "§3.3 LRN on CIFAR-10 with a modern default (Kaiming init)"),
    ("lrn_cifar_convnet4", "§3.3 LRN on CIFAR-10 on the Figure-1 net (CPU, 20 epochs)"),
]


def table_lines(path: Path, keep=lambda line: True) -> list[str]:
    if not path.exists():
        return []
    lines = [line for line in path.read_text().splitlines() if line.startswith("|")]
    return [line for i, line in enumerate(lines) if i < 2 or keep(line)]


def section(folder: str, heading: str) -> list[str]:
    where = REPORTS / folder
    if not (where / "index.md").exists():
        return []
    out = [f"### {heading}", ""]
    provenance = where / "PROVENANCE.md"
    if provenance.exists():
        out += [line for line in provenance.read_text().splitlines() if line.startswith("- ")] + [""]
    if (where / "fig1_train_err.png").exists():
        out += [f"![{heading}](reports/{folder}/fig1_train_err.png)", ""]
    for name in ("table_fig1_speed.md", "table_delta.md"):
        rows = table_lines(where / name)
        if len(rows) > 2:
            out += rows + [""]
    measured = table_lines(where / "table_ilsvrc.md", keep=lambda line: not line.startswith("| paper:"))
    if len(measured) > 2:
        out += measured + [""]
    out += [f"Full report: [reports/{folder}/index.md](reports/{folder}/index.md) (verdict rule, per-epoch "
            f"curves, statuses, provenance).", ""]
    return out


def main() -> None:
    body = ["Measured on the full CIFAR-10 with 3 seeds per cell unless a table says otherwise; every table below is "
            "copied by `reports/sync_readme.py` from the report `ablate-report` wrote in `reports/<comparison>/`, "
            "and the paper's numbers stand beside ours in the *Paper Δ* column.", ""]
    body += [line for folder, heading in COMPARISONS for line in section(folder, heading)]
    text = README.read_text()
    block = "<!-- results:begin -->\n" + "\n".join(body).rstrip() + "\n<!-- results:end -->"
    README.write_text(re.sub(r"<!-- results:begin -->.*?<!-- results:end -->", lambda _: block, text, flags=re.S))
    print(f"README.md: results block rewritten from {len(COMPARISONS)} report folders")


if __name__ == "__main__":
    main()
