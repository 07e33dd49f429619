"""The claims index: one table over every claim of §3-§4 — the paper's number, ours (Δ with its 95% CI and n),
the verdict, the protocol and what it cost — written to reports/index.md and, by sync_readme.py, to the top of
README.md's results block. "Which of AlexNet's design choices hold up?" on one screen.

Nothing here is typed by hand but the list of claims (what the paper says, which report and row answer it,
which sweep runs it): every measured number is read from the tables `ablate-report` wrote into
reports/<claim>/ (numeric CSVs), every cost from the runs' own wall times (runs_summary.csv). A claim whose
report does not exist yet says "not run" with the command that runs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from ablate.report.paper import CLAIMS as CLAIMS_OF_PAPER
from ablate.report.tables import GAP_MEASURE, TRAIN_MEASURE, UNSCORED
from ablate.report.verdicts import verdict

REPORTS = Path(__file__).resolve().parent
SUCCESSORS = ("leaky_relu", "elu", "gelu", "prelu")  # the activation family's arms that no paper claim is about
DATA = "data.root=../shared/data/cifar10 hydra/launcher=ablate_joblib trainer.threads=1 trainer.device=cpu"


@dataclass(frozen=True)
class Row:
    """Which measured row of a report answers the claim: a Δ row (axis, value, measure) or a speed row."""
    table: str  # file stem in the report folder, e.g. table_delta or table_fig1_speed_data_normalize_paper
    axis: str = ""  # table_delta: the axis column
    value: str = ""  # table_delta: the value column
    measure: str = "top-1 err (pts)"  # table_delta: the measure column
    baseline: str = ""  # table_delta: the baseline column, where an axis has rows against several
    label: str = ""  # shown before the number when a claim has several rows (e.g. the net or input scale)
    values: tuple[str, ...] = ()  # table_delta: several values on one line instead of `value` (arms with no claim)
    fallback: Row | None = None  # the same comparison as the report names it when fewer cells ran (e.g. one pair)


@dataclass(frozen=True)
class ClaimEntry:
    claim: str  # what is tested, with the paper's section
    paper: str  # what the paper reports
    report: str  # reports/<report>/
    sweeps: tuple[str, ...]  # sweeps/<name>.yaml that produce its runs
    rows: tuple[Row, ...] = ()
    command: str = ""  # how to run it, when not run yet (defaults to the sweeps with the CPU launcher); code in `…`
    note: str = ""  # how to read its rows (a pick, a threshold), listed under the index table
    extra_reports: tuple[str, ...] = field(default_factory=tuple)  # more report folders counted in the budget


_AT_LAYER_FILE_LR: tuple[ClaimEntry, ...] = (
    ClaimEntry("Figure 1 (§3.1): ReLU trains faster than tanh", "6× fewer epochs to 25% training error (CIFAR-10)",
               "fig1_study", ("fig1_study_scan",),
               (Row("table_fig1_speed_data_normalize_paper", label="raw-pixel input (the paper's)"),
                Row("table_fig1_speed_data_normalize_standard", label="standardised input")),
               note="each activation at its fastest learning rate; the interval redoes that choice"),
    ClaimEntry("Figure 1 (§3.1), the four-weight-layer net", "6× fewer epochs to 25% training error (CIFAR-10)",
               "fig1_study_net", ("fig1_study_net",),
               (Row("table_fig1_speed_data_normalize_paper", label="raw-pixel input (the paper's)"),
                Row("table_fig1_speed_data_normalize_standard", label="standardised input")),
               note="each activation at convnet4's fastest learning rate for it (reports/fig1_study); an 80-epoch "
                    "budget, raw-input tanh's 40-epoch runs continued from their checkpoints"),
    ClaimEntry("LRN (§3.3)", "13% → 11% test error on CIFAR-10 (conv-local net)", "lrn_convnet4",
               ("lrn_convnet4",), (Row("table_delta", "model.norm", "none", label="convnet4"),)),
    ClaimEntry("LRN (§3.3), four-weight-layer net", "13% → 11% test error on CIFAR-10 (conv-local net)",
               "lrn_convnet3fc", ("lrn_convnet3fc",), (Row("table_delta", "model.norm", "none", label="convnet3fc"),)),
    ClaimEntry("LRN (§3.3), the conv-local net itself", "13% → 11% test error on CIFAR-10", "lrn_cifar_paper",
               ("lrn_cifar",), command="GPU: ablate-train -m +sweeps=lrn_cifar data.root=... trainer.device=cuda "
                                       "(bench/gpu.sh runs it where a device is lent)"),
    ClaimEntry("Overlapping pooling (§3.4)", "−0.4 top-1 error (ImageNet)", "pool_convnet4", ("pool_convnet4",),
               (Row("table_delta", "model.pool", "nonoverlap"),)),
    ClaimEntry("Dropout (§4.2)", "without it, substantial overfitting (ImageNet)", "dropout_convnet4",
               ("dropout_convnet4",), (Row("table_delta", "model.regularizer", "none", "train-test gap (pts)",
                                           label="overfitting (train-test gap), none vs dropout"),
                                       Row("table_delta", "model.regularizer", "none", label="none vs dropout"),
                                       Row("table_delta", "model.regularizer", "dropconnect",
                                           label="DropConnect vs dropout"))),
    ClaimEntry("Weight decay (§5), each style at its own best λ", "\"important for the model to learn\": it "
               "reduces the training error", "weight_decay_convnet4", ("weight_decay_convnet4",),
               (Row("table_delta", "optim.weight_decay_style", "none", "train top-1 err (pts)",
                    label="training error, none vs coupled"),
                Row("table_delta", "optim.weight_decay_style", "none", label="test error, none vs coupled"),
                Row("table_delta", "optim.weight_decay_style", "decoupled", label="decoupled vs coupled")),
               command=f"ablate-train -m +sweeps=weight_decay_convnet4 {DATA}; the same with "
                       "optim.weight_decay_style=none optim.weight_decay=0; ablate-eval runs/claims_convnet4 "
                       "--split train; ablate-report runs/claims_convnet4 --only optim.weight_decay_style --only "
                       "optim.weight_decay --only model.layer_decay --tune optim.weight_decay"),
    ClaimEntry("Activation family (§3.1 + successors)", "ReLU fastest (Figure 1)", "activation_convnet4",
               ("activation_convnet4",), (Row("table_delta", "model.activation", "tanh", "epochs to 40% train err "
                                              "(ratio)", label="tanh vs relu, epochs to 40%"),
                                          Row("table_delta", "model.activation", "sigmoid", "epochs to 40% train "
                                              "err (ratio)", label="sigmoid vs relu, epochs to 40%"),
                                          Row("table_delta", "model.activation", "tanh",
                                              label="tanh vs relu, test error"),
                                          Row("table_delta", measure="epochs to 40% train err (ratio)",
                                              axis="model.activation", values=SUCCESSORS,
                                              label="successors vs relu, epochs to 40%"),
                                          Row("table_delta", "model.activation", values=SUCCESSORS,
                                              label="successors vs relu, test error")),
               note="every activation at the layer file's lr 0.001, not chosen per activation (the scan that chooses "
                    "it: sweeps/activation_lr_convnet4.yaml); epochs to 40% training error (declared in the sweep "
                    "file before the arms were read): the claims protocol's ReLU ends 20 epochs at 24-27%, at Figure "
                    "1's 25% in one seed of three"),
    ClaimEntry("Activation family (§3.1), each activation at its own learning rate", "ReLU fastest (Figure 1)",
               "activation_lr_convnet4", ("activation_lr_convnet4",),
               tuple(Row("table_delta", "model.activation", act, "epochs to 40% train err (ratio)",
                         label=f"{act} vs relu, epochs to 40%") for act in ("tanh", "sigmoid"))
               + (Row("table_delta", "model.activation", "tanh", label="tanh vs relu, test error"),
                  Row("table_delta", "model.activation", "sigmoid", label="sigmoid vs relu, test error")),
               note="each activation at the learning rate with its lowest validation error in a scan by factors of "
                    "~3 from 0.001, widened where a pick sat at an edge (`--tune optim.lr`; table_tuning shows every "
                    "lr that ran), epochs to 40% training error as above"),
    ClaimEntry("Two towers (§3.2), alexnet_cifar at a quarter of its kernels", "−1.7 top-1 error (ImageNet)",
               "towers_cpu_scaled", ("towers_cpu_scaled",),
               (Row("table_delta", "model.towers, model.width, model.scale_conv5",
                    "towers=1, width=0.125, scale_conv5=false", label="2 towers vs 1 at half width",
                    fallback=Row("table_delta", "model.towers (with model.width)", "1")),),
               note="conv2–conv5's N(0, 0.01²) ×2 (= 1/√width), so each arm starts at its full-size net's per-layer "
               "scale: with the literal 0.01 both arms stayed at chance for 3-6 epochs while the plateau schedule "
               "cut the lr (reports/towers_cpu); 12 epochs"),
    ClaimEntry("Two towers (§3.2)", "−1.7 top-1 error (ImageNet)", "towers_cifar", ("towers",),
               command="GPU: ablate-train -m +sweeps=towers data.root=... trainer.device=cuda (alexnet_cifar at "
                       "full width; a CPU cannot train it in a session)"),
    ClaimEntry("Augmentation (§4.1): crops + flips", "vital against overfitting (ImageNet)", "augment_convnet4",
               ("augment_convnet4",), (Row("table_delta", "data.augment", "none", "train-test gap (pts)", baseline="crop_flip",
                                           label="overfitting (train-test gap), none vs crops+flips"),
                                       Row("table_delta", "data.augment", "none", baseline="crop_flip",
                                           label="none vs crops+flips"))),
    ClaimEntry("Augmentation (§4.1): PCA lighting", "−1% top-1 error (ImageNet)", "augment_convnet4",
               ("augment_convnet4",), (Row("table_delta", "data.augment", "augment=crop_flip", baseline="augment=crop_flip_pca",
                                        label="without vs with PCA"),)),
    ClaimEntry("Normalisation successors", "— (no claim)", "norm_convnet4", ("norm_convnet4",),
               (Row("table_delta", "model.norm", "groupnorm", label="GroupNorm vs LRN"),
                Row("table_delta", "model.norm", "batchnorm", label="BatchNorm vs LRN"))),
)

# The one-axis claims above ran every arm at the layer file's lr; the paper chose its rates per network. Each gets a
# second entry with its arms at their own lr (sweeps/lr_scan_convnet4.yaml, the axis on the command line): the
# arms that the scan runs (the shared baseline cell already has its lrs from activation_lr_convnet4).
# norm_convnet4's probe already ran every norm at 0.01 (seed 0), so the norm arms scan 0.003 only.
OWN_LR_ARMS = {"lrn_convnet4": "model.norm=lrn optim.lr=0.003", "pool_convnet4": "model.pool=nonoverlap",
               "dropout_convnet4": "model.regularizer=dropout,dropconnect",
               "augment_convnet4": "data.augment=none,crop_flip_pca",
               "norm_convnet4": "model.norm=lrn,groupnorm,batchnorm optim.lr=0.003"}


def at_own_lr(base: ClaimEntry) -> ClaimEntry:
    arms = OWN_LR_ARMS[base.report]
    axis = arms.split("=")[0]  # the first override names the claim's axis
    report = base.report.replace("_convnet4", "_lr_convnet4")
    command = (f"`ablate-train -m +sweeps=lr_scan_convnet4 {arms} {DATA}`, then seeds 1-2 at each arm's pick; report: "
               f"`ablate-report runs/claims_convnet4 --only {axis} --only optim.lr --tune optim.lr --out reports/{report}`")
    return ClaimEntry(f"{base.claim}, each arm at its own learning rate", base.paper, report, ("lr_scan_convnet4",),
                      tuple(r for r in base.rows if r.axis != "optim.lr"), command,
                      note="each arm at the learning rate with its lowest validation error (lr 0.001, 0.003, 0.01, widened "
                           "where a pick sat at an edge; `--tune optim.lr`)")


CLAIMS: tuple[ClaimEntry, ...] = tuple(entry for base in _AT_LAYER_FILE_LR for entry in
                                       (base, *([at_own_lr(base)] if base.report in OWN_LR_ARMS else [])))


def _num(x: float, digits: int = 2, sign: bool = True) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def delta_cell(table: pd.DataFrame, row: Row) -> tuple[str, str] | None:
    """(ours, verdict) from a numeric table_delta.csv row, or None when the report has no such row."""
    hit = table[(table["row"] == "measured") & (table["axis"].astype(str) == row.axis)
                & (table["value"].astype(str) == row.value) & (table["measure"] == row.measure)
                & ((table["baseline"].astype(str) == row.baseline) if row.baseline else True)]
    if hit.empty:
        return delta_cell(table, row.fallback) if row.fallback else None
    r = hit.iloc[0]
    ratio = "ratio" in row.measure
    bound = r.get("delta_bound") if ratio else ""  # a speed ratio with censored runs; an empty cell reads as NaN
    bound = bound if isinstance(bound, str) else ""
    point = f"{r['delta']:.2f}×" if ratio else f"{_num(r['delta'])} pts"
    ci = (f"[{r['delta_lo']:.2f}, {r['delta_hi']:.2f}]" if ratio else f"[{_num(r['delta_lo'])}, {_num(r['delta_hi'])}]"
          ) if math.isfinite(r["delta_lo"]) else "[no interval]"
    if bound == "lower bound":
        point, ci = f"> {point}", "(a lower bound: some slower-arm runs never reached the threshold)"
    elif bound:
        point, ci = f"? {point}", "(unknown: some baseline runs never reached the threshold)"
    return f"{point} {ci}, n={int(r['n_value'])}/{int(r['n_baseline'])}", str(r["verdict"])


def unscored_cell(folder: Path, row: Row) -> tuple[str, str] | None:
    """A pair whose runs exist but were never scored on the training split (its final weights gone, say): the
    report says so in a note under table_delta, and the index must not read that as runs missing."""
    path = folder / "table_delta.md"
    pair = f"{row.axis} {row.value} against {row.baseline}" if row.baseline else f"{row.axis} {row.value} against "
    if row.measure not in (GAP_MEASURE, TRAIN_MEASURE) or not path.exists():
        return None  # other rows are missing for want of runs
    for line in path.read_text().splitlines():
        if line.startswith(pair) and " as the runs of " in line and UNSCORED in line:
            whose = line.split(" as the runs of ", 1)[1].split(f" {UNSCORED}", 1)[0]
            return (f"not scored: the runs of {whose} {UNSCORED} (`ablate-eval <run folder> --split train` "
                    "needs their final weights)", "—")
    return None


def values_cell(table: pd.DataFrame, row: Row) -> tuple[str, str]:
    """(ours, verdicts) for several values of one axis on one line, each as delta_cell writes it; a value the
    report has no row for says so, rather than dropping out of the line."""
    cells = [(v, delta_cell(table, replace(row, value=v, values=()))) for v in row.values]
    ours = "; ".join(f"{v} {got[0]}" if got else f"{v}: not run yet" for v, got in cells)
    verdicts = dict.fromkeys(got[1] for _, got in cells if got)  # in order, once each
    return ours, " / ".join(verdicts) or "—"


def speed_cell(table: pd.DataFrame) -> tuple[str, str] | None:
    """(ours, verdict) from a table_fig1_speed CSV: the fastest-lr row's ratio tanh/relu, judged by the report's
    own rule on the log scale against Figure 1's 6× (a lower bound when tanh never got there)."""
    rows = table[table["row"] == "measured"]
    fastest = rows[rows["lr"].astype(str).str.startswith("fastest")]
    if fastest.empty and len(rows) == 1:  # one lr: nothing was chosen
        fastest = rows
    if fastest.empty or "tanh_over_relu" not in rows:
        return None
    r = fastest.iloc[0]
    bound = str(r.get("tanh_over_relu_bound") or "")
    point = f"{'> ' if bound == 'lower bound' else ''}{r['tanh_over_relu']:.2f}×"
    finite = math.isfinite(r["tanh_over_relu_lo"])
    ci = f" [{r['tanh_over_relu_lo']:.2f}, {r['tanh_over_relu_hi']:.2f}]" if finite else ""
    n = (int(r["tanh_n"]), int(r["relu_n"]))
    claim = next(c for c in CLAIMS_OF_PAPER if c.measure == "speed" and c.value == {"model.activation": "tanh"})
    censored = {"lower bound": "value", "unknown": "baseline"}.get(bound, "")
    lo, hi = (math.log(r["tanh_over_relu_lo"]), math.log(r["tanh_over_relu_hi"])) if finite else (math.nan, math.nan)
    judged = verdict(lo, hi, n, claim, math.log(claim.delta), censored) if finite else "inconclusive (no interval)"
    lr = str(r["lr"]).removeprefix("fastest ").strip("()")
    held = fastest[fastest["lr"].astype(str).str.startswith("fastest, lrs held fixed")]
    if not finite and len(held) and math.isfinite(held.iloc[0]["tanh_over_relu_lo"]):  # said, never judged on
        h = held.iloc[0]
        ci = f" (lrs held fixed: [{h['tanh_over_relu_lo']:.2f}, {h['tanh_over_relu_hi']:.2f}])"
        n = (int(h["tanh_n"]), int(h["relu_n"]))  # the picked cells' seeds, which that interval draws on
    fewest = min(_fewest_seeds(rows, "tanh"), _fewest_seeds(rows, "relu")) if finite else min(n)
    drawn = f"; {fewest} seeds at some other lr the pick is redone over" if fewest < min(n) else ""
    return f"{point}{ci}, n={n[0]}/{n[1]} (lr {lr}{drawn})", judged


def _fewest_seeds(rows: pd.DataFrame, activation: str) -> int:
    """The fewest seeds of any lr cell the selection-aware interval redraws for `activation`: the cells where
    every run reached the threshold (all cells run, when none did), as speed.Arm.candidates picks them."""
    cells = rows[~rows["lr"].astype(str).str.startswith("fastest") & rows[f"{activation}_n"].gt(0)]
    reached = cells[cells[f"{activation}_reached"] == cells[f"{activation}_n"]]
    counts = (reached if len(reached) else cells)[f"{activation}_n"]
    return int(counts.min()) if len(counts) else 0


def budget(folder: Path) -> str:
    summary = folder / "runs_summary.csv"
    if not summary.exists():
        return "—"
    runs = pd.read_csv(summary)
    # A folder recorded as another's run (same_as; status duplicate) cost nothing: count each computation once.
    repeats = int((runs["status"] == "duplicate").sum())
    runs = runs[runs["status"] != "duplicate"]
    done = runs[runs["status"] == "completed"]
    hours = runs["wall_s"].fillna(0).sum() / 3600
    epochs = int(runs["epochs_logged"].fillna(0).sum())
    shared = f" (+{repeats} folders recording the same runs)" if repeats else ""
    return (f"{len(done)}/{len(runs)} runs completed{shared}, {epochs} epochs, {hours:.1f} h of 1-thread CPU "
            "(sum)")


def answer(entry: ClaimEntry, top: str) -> list[str]:
    """The entry's table lines; `top` is the repository root as seen from the page ("" or "../")."""
    folder = REPORTS / entry.report
    link = f"[{entry.report}]({top}reports/{entry.report}/index.md)"
    protocol = ", ".join(f"[{s}]({top}sweeps/{s}.yaml)" for s in entry.sweeps)
    if not (folder / "index.md").exists() or not entry.rows:
        command = entry.command or "; ".join(f"ablate-train -m +sweeps={s} {DATA}" for s in entry.sweeps)
        shown = command if "`" in command else f"`{command}`"  # a command with prose marks its own code
        return [f"| {entry.claim} | {entry.paper} | not run: {shown} | — | {protocol} | — |"]
    lines = []
    for row in entry.rows:
        path = folder / f"{row.table}.csv"
        got = None
        if path.exists():
            table = pd.read_csv(path, keep_default_na=False, na_values=[""])
            got = (speed_cell(table) if "speed" in row.table else values_cell(table, row) if row.values
                   else delta_cell(table, row))
        ours, verdict = got or unscored_cell(folder, row) or ("no such row yet (runs missing)", "—")
        label = f"{row.label}: " if row.label else ""
        lines.append(f"| {entry.claim} | {entry.paper} | {label}{ours} | {verdict} | {protocol}, {link} | "
                     f"{budget(folder)} |")
    return lines


def index_lines(top: str = "") -> list[str]:
    head = ["| claim | paper | ours (Δ = error without − with, or the slow/fast ratio; 95% CI; n seeds) | verdict "
            "| protocol, report | budget |", "|---|---|---|---|---|---|"]
    return head + [line for entry in CLAIMS for line in answer(entry, top)]


def notes_lines() -> list[str]:
    """The notes of the claims that have a report, as a list under the index table."""
    notes = [f"- {e.claim} — {e.note}." for e in CLAIMS if e.note and (REPORTS / e.report / "index.md").exists()]
    return ["Notes:", "", *notes] if notes else []


INTRO = ("Every claim of §3–§4, measured on CIFAR-10 under the paper's protocol (centered raw-RGB input, the layer "
         "files' initialisation and learning rates, no tuning toward the paper's numbers) on this project's 2-core CPU "
         "unless a row says otherwise. A CIFAR-10 verdict against an ImageNet effect is about its direction only. "
         "Verdicts are at each protocol's budget (20 epochs for the one-axis claims), not at convergence.")


def page() -> str:
    return "\n".join(["# Which of AlexNet's design choices hold up?", "", INTRO, "", *index_lines("../"), "",
                      *notes_lines(), ""])


def main() -> None:
    (REPORTS / "index.md").write_text(page())
    print("reports/index.md written")


if __name__ == "__main__":
    main()
