"""`ablate-report PATH... --out DIR` (also `python -m ablate.report`): run folders → runs.csv, the paper's
figures and tables, and a report page.

Reads run folders, or the runs.csv of an earlier report (the same report from either). Writes DIR/runs.csv (one
row per run per epoch) and DIR/runs_summary.csv (one row per run), as .parquet too with pyarrow (the `parquet`
extra), Figure 1 and per-axis figures,
the ILSVRC-style error table, the ablation Δ table with verdicts, and DIR/index.md + a self-contained
DIR/index.html.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import shlex
import sys
from pathlib import Path

import pandas as pd

from ablate import __version__
from ablate.report import figures, page, study, tables, tuning
from ablate.report.collect import warn
from ablate.report.design import Design, commonest, varying_keys
from ablate.report.inputs import InputError, load
from ablate.report.page import Block
from ablate.report.paper import FIG1_THRESHOLD, PAPER
from ablate.report.render import Table
from ablate.report.runtable import per_run, run_table
from ablate.report.speed import fig1_arms, speed_table, speedup, threshold

FORMATS = ("md", "html", "tex", "csv", "png", "pdf")


def _formats(text: str) -> tuple[str, ...]:
    chosen = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown format(s) {unknown}; choose from {', '.join(FORMATS)}")
    return chosen


def _baseline(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f"{text!r}: write it as key=value, e.g. model.norm=lrn")
    return key.strip(), value.strip()


def _threshold(text: str) -> float:
    """A training error as a fraction in (0, 1), also written as a percentage ("40%")."""
    try:
        value = float(text.removesuffix("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a training error between 0 and 1 (or 0% and 100%), e.g. "
                                         "0.40 or 40%; Figure 1's is 0.25")
    return value


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ablate-report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ablate {__version__}")
    parser.add_argument("paths", nargs="+", help="run folders or folders holding them (searched at any depth), "
                                                 "or runs.csv files written by an earlier ablate-report")
    parser.add_argument("--out", required=True, type=Path, help="folder for the report")
    parser.add_argument("--format", type=_formats, default=FORMATS, metavar="LIST",
                        help=f"comma-separated outputs among {','.join(FORMATS)} (default: all)")
    parser.add_argument("--baseline", type=_baseline, action="append", default=[], metavar="KEY=VALUE",
                        help="the baseline value of an axis for the Δ table (repeatable); defaults: the paper's "
                             "choices (relu, lrn, overlap, dropout, coupled, 2 towers), else the commonest value")
    parser.add_argument("--by", metavar="KEY", default=None,
                        help="a protocol study: Figure 1's analysis once per value of KEY (e.g. data.normalize), "
                             "the epochs-to-25%% grid of every cell, and the activation statistics per layer")
    parser.add_argument("--only", action="append", default=[], metavar="KEY",
                        help="keep the runs that vary KEY (repeatable) with every other axis at its baseline: one "
                             "claim's report from a campaign folder that holds several one-axis sweeps")
    parser.add_argument("--tune", metavar="KEY", default=None,
                        help="compare every variant at its own best value of KEY (e.g. optim.weight_decay), picked "
                             "on validation top-1 error; needs a validation split apart from test")
    parser.add_argument("--at-epoch", type=int, default=None, metavar="N",
                        help="compare runs at epoch N: metrics after N are dropped and every run that reached N "
                             "counts as complete at N (an equal-budget view of an unfinished sweep)")
    parser.add_argument("--speed-threshold", type=_threshold, default=FIG1_THRESHOLD, metavar="ERR",
                        help="count epochs to this training error (fraction or %%) instead of Figure 1's 25%%, "
                             "where a budget ends above 25%%; speed rows are then judged on direction only")
    return parser.parse_args(argv)


def cut_at_epoch(runs: pd.DataFrame, epoch: int) -> pd.DataFrame:
    """Runs as if each had stopped after `epoch`: later rows dropped; runs that reached it count as complete."""
    runs = runs[~(runs["epoch"] > epoch)].copy()
    reached = runs.groupby("run")["epoch"].transform("max") >= epoch
    runs.loc[reached, "status"] = "completed"
    runs.loc[~reached & (runs["status"] == "completed"), "status"] = "stopped before"
    return runs


def check_baselines(table: pd.DataFrame, baselines: dict[str, str]) -> str | None:
    """An error message naming the fix, or None."""
    axes = varying_keys(table)
    for key, value in baselines.items():
        if key not in table:
            return f"--baseline {key}={value}: no config key {key} in the runs; swept keys: {', '.join(axes)}"
        if value not in set(table[key]):
            return (f"--baseline {key}={value}: no run has {key}={value}; "
                    f"values in the runs: {', '.join(sorted(set(table[key])))}")
    return None


def write_runs(runs: pd.DataFrame, one: pd.DataFrame, out: Path) -> list[Path]:
    """runs.csv (per run and epoch) and runs_summary.csv (per run), and their .parquet when pyarrow is there."""
    written = []
    for stem, table in (("runs", runs), ("runs_summary", run_table(runs, one))):
        table.to_csv(out / f"{stem}.csv", index=False)
        written.append(out / f"{stem}.csv")
        if importlib.util.find_spec("pyarrow"):
            try:
                table.to_parquet(out / f"{stem}.parquet", index=False)
                written.append(out / f"{stem}.parquet")
            except (ValueError, TypeError, ImportError) as err:  # mixed-type columns pyarrow cannot store
                warn(f"{stem}.parquet not written ({type(err).__name__}: {err})")
    return written


def build(runs: pd.DataFrame, one: pd.DataFrame, design: Design, out: Path, fmt: tuple[str, ...],
          command: str, by: str | None = None, baselines: dict[str, str] | None = None,
          tuned: Table | None = None) -> list[Block]:
    arms = fig1_arms(one, design)
    speed = speedup(arms)
    splits = tables.splits(one)
    axes_text = "; ".join(f"{a.title}: {', '.join(a.values)} (baseline {a.baseline}, {a.note})"
                          for a in design.axes) or "none (a single variant)"
    blocks = [Block("h1", "ablate report"),
              Block("p", f"Re-running the design comparisons of {PAPER}. {one['run'].nunique()} runs; "
                         f"axes (config keys that vary, seed aside): {axes_text}.")]
    if by:
        blocks += study.by_blocks(runs, one, by, baselines or {}, out, fmt)
    elif len(arms) >= 2:  # Figure 1 compares activations; with one there is nothing to compare
        blocks += [Block("h2", f"Figure 1: ReLU vs tanh, epochs to {threshold(arms):.0%} training error"),
                   Block("figure", figures.figure1(runs, arms, speed, out, fmt)),
                   Block("table", speed_table(arms))]
    if tuned is not None:
        blocks += [Block("h2", "Tuning: each variant at its own best value"), Block("table", tuned),
                   Block("p", f"Every variant below is at its own picked value ({tuned.caption}).")]
    blocks += [Block("h2", "Ablation verdicts"), Block("table", tables.delta_table(one, design, arms)),
               Block("h2", "Errors per variant"), Block("table", tables.ilsvrc_table(one, design))]
    if design.axes and not tables.completed(one).empty:
        blocks.append(Block("h2", "Per axis"))
        for axis in design.axes:
            blocks += [Block("figure", figures.axis_curves(runs, one, design, axis, splits, out, fmt)),
                       Block("figure", figures.axis_final(one, design, axis, splits[-1], out, fmt))]
    blocks += [Block("h2", "Runs"), Block("table", tables.status_table(one, design)), *page.problem_runs(one)]
    return blocks + page.provenance(one, command)


def only(one: pd.DataFrame, runs: pd.DataFrame, keys: list[str], baselines: dict[str, str]
         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """--only: the runs varying `keys` with every other axis at the campaign's shared cell, which every one-axis
    sweep holds (their commonest value)."""
    design = Design.of(one, baselines)
    unknown = [k for k in keys if design.axis(k) is None]
    if unknown:
        raise InputError(f"--only {', '.join(unknown)}: not an axis of these runs; axes: "
                         f"{', '.join(a.key for a in design.axes) or 'none'}")
    keys = [design.axis(k).key for k in keys]
    shared = {a.key: commonest(one[a.key]) for a in design.axes if a.key not in keys and a.key not in baselines}
    keep = set(Design.of(one, {**baselines, **shared}).at_baseline(one, free=tuple(keys))["run"])
    return runs[runs["run"].isin(keep)], one[one["run"].isin(keep)]


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    command = "ablate-report " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.out.exists() and not args.out.is_dir():
        print(f"ablate-report: error: --out {args.out} is a file; name a folder for the report (it is created "
              "if missing)", file=sys.stderr)
        return 2
    try:
        runs = load(args.paths)
        if runs.empty:
            raise InputError(f"no run folders (with summary.json, metrics.csv or config.yaml) or runs.csv under "
                             f"{args.paths}")
        if args.at_epoch is not None:
            runs = cut_at_epoch(runs, args.at_epoch)
            command += f"  (compared at epoch {args.at_epoch}: statuses are as of that epoch)"
        one = per_run(runs, args.speed_threshold)
        baselines = dict(args.baseline)
        problem = check_baselines(one, baselines)
        if problem:
            raise InputError(problem)
        if args.only:
            runs, one = only(one, runs, args.only, baselines)
            command += f"  (runs varying {', '.join(args.only)} with every other axis at its baseline)"
        if args.by and args.by not in one:
            raise InputError(f"--by {args.by}: no config key {args.by} in the runs")
        design, tuned = Design.of(one, baselines), None
        if args.tune:
            tuned_one, tuned = tuning.tune(one, design, args.tune)
    except (InputError, tuning.TuneError) as err:
        print(f"ablate-report: error: {err}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    written = write_runs(runs, one, args.out)  # every run, at its own values: the record the tables come from
    if tuned is not None:
        runs, one = runs[runs["run"].isin(set(tuned_one["run"]))], tuned_one
        command += f"  (each variant at its own best {args.tune}, picked on validation top-1)"
        design = Design.of(one, baselines)
    blocks = build(runs, one, design, args.out, args.format, command, args.by, baselines, tuned)
    for block in blocks:
        if block.kind == "table" and block.content.name.startswith("table_"):
            written += block.content.write(args.out, args.format)
        elif block.kind == "figure":
            written += block.content.files
    written += page.write_page(blocks, args.out, args.format, "ablate report")
    for path in written:
        print(f"ablate-report: wrote {path}")
    return 0
