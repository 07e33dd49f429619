"""Score a finished run's final weights again on a split, in eval mode: `ablate-eval RUNS... --split train`.

Why: the train_err a run logs is measured while it trains, on augmented images with its regularizer active, so it
is not the error the final network makes on its training images. §4.2's claim ("without dropout, substantial
overfitting") is about that gap; comparing logged train_err across regularizers would credit dropout with its own
noise. This scores the newest checkpoint (which must be the end of the run's last logged epoch) the way the
trainer scores validation: no augmentation, centre crop, `data.test_crops` views, dropout off. The training
split is the run's own (its validation hold-out carved with its seed).

Each result goes to <run>/evals/<split>.json with the epoch it scores and the data identity; nothing the trainer
wrote is touched. Reports pick it up as eval_<split>_* columns (ablate.report.collect).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ablate import checkpoint
from ablate.atomic import atomic_write
from ablate.config import from_dict
from ablate.data import build_data
from ablate.engine import evaluate
from ablate.models import build_model
from ablate.provenance import machine, versions
from ablate.report.collect import find_runs
from ablate.runfolder import Status, now_iso, read_json, read_metric_rows

SPLITS = ("train", "val", "test")


class NotEvaluable(Exception):
    """This folder cannot be scored (yet); the message says why."""


def evaluate_run(folder: Path, split: str = "train", data_root: str | None = None, device: str = "cpu",
                 batch_size: int | None = None) -> dict[str, Any]:
    """Score `folder`'s final weights on `split` and write evals/<split>.json; returns what was written."""
    folder = Path(folder)
    summary = read_json(folder / "summary.json") or {}
    if summary.get("status") != Status.COMPLETED:
        raise NotEvaluable(f"status {summary.get('status', 'unknown')}: only a completed run has final weights")
    # A folder recorded as the same run as a sibling (trainer.reuse_identical) has that sibling's weights.
    weights = (folder / summary["same_as"]).resolve() if summary.get("same_as") else folder
    state = checkpoint.load_latest(weights / "checkpoints")
    if state is None or "config" not in state:
        raise NotEvaluable("no readable checkpoint holding its config (checkpoints/last.pt)")
    epoch = state["epoch"] - 1
    logged = read_metric_rows(folder, 10**9)
    last = int(float(logged[-1]["epoch"])) if logged else None
    if state["batch"] != 0 or epoch != last:
        raise NotEvaluable(f"the checkpoint is at epoch {state['epoch']}, batch {state['batch']}, not at the end "
                           f"of the last logged epoch ({last})")
    cfg = from_dict(state["config"])
    if data_root is not None:
        cfg.data.root = data_root
    data = build_data(cfg.data, cfg.seed, torch.device(device), cfg.trainer.batch_size,
                      batch_size or cfg.trainer.eval_batch_size)
    identity = (summary.get("data") or {}).get("identity")
    if identity and identity != data.info["identity"]:
        raise NotEvaluable(f"data.root holds other data ({data.info['identity']}) than the run trained on "
                           f"({identity}); give --data-root")
    source = data.eval_source(split)
    if source is None:
        raise NotEvaluable(f"the run has no {split} split (data.val_size=0 scores validation on test)")
    model = build_model(cfg.model, data.num_classes, data.image_size).to(device)
    model.load_state_dict(state["model"])
    start = time.perf_counter()
    scores = evaluate(model, source)
    record = {"split": split, "epoch": epoch, **scores, "weights": summary.get("same_as") or ".",
              "images": data.info.get(f"{split}_images"),
              "views": "eval: no augmentation, centre crop, dropout off, data.test_crops views",
              "test_crops": cfg.data.test_crops, "data_identity": data.info["identity"], "device": device,
              "seconds": round(time.perf_counter() - start, 1), "time": now_iso(), "versions": versions(),
              "machine": machine(device)}
    (folder / "evals").mkdir(exist_ok=True)
    atomic_write(folder / "evals" / f"{split}.json", json.dumps(record, indent=2) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ablate-eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders, or folders holding them at any depth")
    parser.add_argument("--split", choices=SPLITS, default="train", help="split to score (default: train)")
    parser.add_argument("--data-root", default=None, help="where the data is now, when it moved since training")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--batch-size", type=int, default=None, help="images per step (default: the run's "
                        "trainer.eval_batch_size)")
    parser.add_argument("--force", action="store_true", help="score again runs that already have evals/<split>.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as training does by default: speed only (trainer.flush_denormal)
    # The report's own walk (any depth); a folder without summary.json has no status to check.
    folders = [f for f in find_runs(args.runs) if (f / "summary.json").exists()]
    if not folders:
        print(f"ablate-eval: error: no run folder (summary.json) under {', '.join(map(str, args.runs))}",
              file=sys.stderr)
        return 2
    skipped = 0
    for folder in folders:
        if (folder / "evals" / f"{args.split}.json").exists() and not args.force:
            print(f"{folder}: evals/{args.split}.json exists (--force scores it again)")
            continue
        try:
            r = evaluate_run(folder, args.split, args.data_root, args.device, args.batch_size)
        except NotEvaluable as err:
            print(f"{folder}: skipped: {err}", file=sys.stderr)
            skipped += 1
            continue
        print(f"{folder}: epoch {r['epoch']} {args.split} top-1 {r['top1_err']:.4f} top-5 {r['top5_err']:.4f} "
              f"({r['images']} images, {r['seconds']} s)")
    return 1 if skipped == len(folders) else 0


if __name__ == "__main__":
    sys.exit(main())
