"""`ablate-report RUN_OR_SWEEP_DIR... --out DIR`: run folders → runs.csv and the paper's figures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ablate.report.collect import collect
from ablate.report.figures import figure1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ablate-report", description=__doc__)
    parser.add_argument("paths", nargs="+", help="run folders or folders holding them (searched at any depth)")
    parser.add_argument("--out", required=True, type=Path, help="folder for runs.csv and the figures")
    args = parser.parse_args(argv)
    runs = collect(args.paths)
    if runs.empty:
        print(f"ablate-report: error: no run folders (with summary.json or metrics.csv) under {args.paths}",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "runs.csv", index=False)
    written = [args.out / "runs.csv"]
    if "model.activation" in runs and "train_err" in runs:
        written += figure1(runs, args.out)
    for path in written:
        print(f"ablate-report: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
