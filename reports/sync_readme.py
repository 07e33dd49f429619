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
# (folder, heading): the comparisons with real-data results, in the order the README shows them; a folder
# without a report yet is left out (the claims index above says "not run" for it).
COMPARISONS = [
    ("fig1_study", "Figure 1 explained: ReLU vs tanh by input scale and learning rate"),
    ("fig1_study_net", "Figure 1 on the four-weight-layer net (convnet3fc), at convnet4's fastest learning rates"),
    ("lrn_convnet4", "§3.3 LRN on CIFAR-10, convnet4 (CPU, 20 epochs)"),
    ("lrn_convnet3fc", "§3.3 LRN on CIFAR-10, the four-weight-layer net (CPU, 20 epochs)"),
    ("augment_convnet4", "§4.1 augmentation (CPU, 20 epochs)"),
    ("augment_lr_convnet4", "§4.1 augmentation, each arm at its own learning rate (CPU, 20 epochs)"),
    ("pool_convnet4", "§3.4 overlapping pooling (CPU, 20 epochs)"),
    ("pool_lr_convnet4", "§3.4 overlapping pooling, each arm at its own learning rate (CPU, 20 epochs)"),
    ("dropout_convnet4", "§4.2 dropout vs DropConnect vs none (CPU, 20 epochs)"),
    ("dropout_lr_convnet4", "§4.2 dropout vs DropConnect vs none, each at its own learning rate (CPU, 20 epochs)"),
    ("lrn_lr_convnet4", "§3.3 LRN, each arm at its own learning rate (CPU, 20 epochs)"),
    ("norm_convnet4", "Normalisation successors (CPU, 20 epochs)"),
    ("norm_lr_convnet4", "Normalisation successors, each at its own learning rate (CPU, 20 epochs)"),
    ("activation_convnet4", "§3.1 the activation family (CPU, 20 epochs)"),
    ("activation_lr_convnet4", "§3.1 relu, tanh and sigmoid, each at its own learning rate (CPU, 20 epochs)"),
    ("weight_decay_convnet4", "§5 weight decay: coupled vs decoupled vs none (CPU, 20 epochs)"),
]
# Measured before the paper's input scale existed (standardised input, issue #13), kept as they were made.
EARLIER = [
    ("fig1", "Figure 1: ReLU vs tanh on CIFAR-10 (standardised input)"),
    ("fig1_kaiming", "Figure 1 with Kaiming init (standardised input)"),
    ("lrn_cifar", "§3.3 LRN on CIFAR-10, conv-local net (standardised input, GPU, cut at epoch 21)"),
    ("lrn_cifar_kaiming", "§3.3 LRN, conv-local net with Kaiming init (standardised input, GPU, cut at epoch 21)"),
    ("lrn_cifar_convnet4", "§3.3 LRN on the Figure-1 net (standardised input, CPU, 20 epochs)"),
]


def table_lines(path: Path, keep=lambda line: True) -> list[str]:
    if not path.exists():
        return []
    lines = [line for line in path.read_text().splitlines() if line.startswith("|")]
    return [line for i, line in enumerate(lines) if i < 2 or keep(line)]


def bullets(text: str) -> list[str]:
    """The top-level list items of a markdown text, each with its continuation lines (indented under it)."""
    items: list[str] = []
    open_item = False  # whether the line before belongs to an item
    for line in text.splitlines():
        if line.startswith("- "):
            items.append(line)
            open_item = True
        elif open_item and line.startswith("  ") and line.strip():
            items[-1] += " " + line.strip()
        else:
            open_item = False
    return items


def section(folder: str, heading: str) -> list[str]:
    where = REPORTS / folder
    if not (where / "index.md").exists():
        return []
    out = [f"### {heading}", ""]
    provenance = where / "PROVENANCE.md"
    if provenance.exists():
        out += bullets(provenance.read_text()) + [""]
    if (where / "fig1_train_err.png").exists():
        out += [f"![{heading}](reports/{folder}/fig1_train_err.png)", ""]
    for path in [*sorted(where.glob("fig1_train_err_*.png"))]:
        out += [f"![{heading}: {path.stem}](reports/{folder}/{path.name})", ""]
    names = ["table_fig1_speed.md", *sorted(p.name for p in where.glob("table_fig1_speed_*.md")),
             "table_epochs_grid.md", "table_delta.md"]
    for name in names:
        rows = table_lines(where / name)
        if len(rows) > 2:
            out += rows + [""]
    findings = where / "FINDINGS.md"
    if findings.exists():
        out += [line for line in findings.read_text().splitlines() if not line.startswith("# ")] + [""]
    measured = table_lines(where / "table_ilsvrc.md", keep=lambda line: not line.startswith("| paper:"))
    if len(measured) > 2:
        out += measured + [""]
    out += [f"Full report: [reports/{folder}/index.md](reports/{folder}/index.md) (verdict rule, per-epoch "
            f"curves, statuses, provenance).", ""]
    return out


def block() -> str:
    """The README's results block, from the committed reports."""
    from claims import INTRO, index_lines, notes_lines

    body = ["### Which of AlexNet's design choices hold up?", "", INTRO, "", *index_lines(), "", *notes_lines(), "",
            "Measured on the full CIFAR-10 with 3 seeds per cell unless a table says otherwise; every table below is "
            "copied by `reports/sync_readme.py` from the report `ablate-report` wrote in `reports/<comparison>/`, "
            "and the paper's numbers stand beside ours in the *Paper Δ* column.", ""]
    body += [line for folder, heading in COMPARISONS for line in section(folder, heading)]
    earlier = [line for folder, heading in EARLIER for line in section(folder, heading)]
    if earlier:
        body += ["### Earlier measurements, at standardised input", "",
                 "Made before `data.normalize=paper` existed: the network saw per-channel standardised pixels, not "
                 "the paper's centered raw RGB, so these are not the paper's protocol (issue #13). Kept as they "
                 "were measured.", "", *[line.replace("### ", "#### ", 1) for line in earlier]]
    return "<!-- results:begin -->\n" + "\n".join(body).rstrip() + "\n<!-- results:end -->"


def main() -> None:
    text, new = README.read_text(), block()
    README.write_text(re.sub(r"<!-- results:begin -->.*?<!-- results:end -->", lambda _: new, text, flags=re.S))
    print(f"README.md: results block rewritten from {len(COMPARISONS) + len(EARLIER)} report folders")


if __name__ == "__main__":
    main()
