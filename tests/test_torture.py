"""Crash torture: a run killed with SIGKILL at random moments, again and again, and re-launched after each kill,
ends bit-identical (weights and metrics, timing aside) to a run that was never interrupted.

The runs are forked from the test process (no interpreter start-up per launch), so dozens of launches take
seconds. Renames are slowed a little in the children, so that kills land inside checkpoint, summary and metrics
writes often; a temp file left behind after a kill shows one did.
"""

import json
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

import ablate
from ablate.runfolder import METRIC_COLUMNS, TIMING_COLUMNS

ARGS = ["data.subset=800", "data.test_subset=100", "trainer.epochs=4", "trainer.batch_size=20",
        "trainer.ckpt_every=2", "trainer.check_every=1", "model.activation=tanh",
        # dropout and random crops/flips: every RNG the checkpoint holds decides the numbers
        "model.regularizer=dropout", "data.augment=crop_flip", "trainer.activation_stats=true"]
KILLS = 30


def _child(cfg, slow: bool) -> None:
    torch.set_num_threads(1)
    if slow:
        replace = os.replace

        def slow_replace(src, dst):
            time.sleep(0.002)
            replace(src, dst)
            time.sleep(0.002)
        os.replace = slow_replace
    try:
        ablate.train(cfg)
    finally:
        os._exit(0)


def _wait_for_checkpoints(path: Path, proc, count: int) -> None:
    """Until `proc` has replaced `path` `count` more times (each atomic save is a new inode)."""
    def inode():
        try:
            return path.stat().st_ino
        except FileNotFoundError:
            return None
    seen, last = 0, inode()
    while seen < count and proc.is_alive():
        now = inode()
        if now is not None and now != last:
            seen, last = seen + 1, now
        time.sleep(0.001)


def _launch(ctx, cfg, slow=True):
    proc = ctx.Process(target=_child, args=(cfg, slow))
    proc.start()
    return proc


@pytest.mark.slow
def test_random_sigkills_end_bit_identical_to_an_uninterrupted_run(make_config):
    ctx = multiprocessing.get_context("fork")
    ref = make_config(ARGS, "ref")
    t0 = time.perf_counter()
    proc = _launch(ctx, ref, slow=True)
    while proc.is_alive() and not (Path(ref.out_dir) / "checkpoints" / "last.pt").exists():
        time.sleep(0.002)
    first = time.perf_counter() - t0  # set-up until the first checkpoint
    proc.join(300)
    full = time.perf_counter() - t0
    # A third of the launches die at a random moment of set-up (loading, restoring, the first writes); the rest
    # after 0-2 new checkpoints plus a random part of a step: the run advances a few steps per launch, is still
    # unfinished after KILLS kills, and the kills fall anywhere in a step, writes included.
    step = (full - first) / 160
    cfg = make_config(ARGS, "tortured")
    folder = Path(cfg.out_dir)
    rng = random.Random(0)
    kills, mid_write, lives = 0, 0, 0
    while kills < KILLS:
        proc = _launch(ctx, cfg)
        lives += 1
        if rng.random() < 1 / 3:
            proc.join(rng.uniform(0, first))
        else:
            _wait_for_checkpoints(folder / "checkpoints" / "last.pt", proc, rng.randint(0, 2))
            proc.join(rng.uniform(0, 2 * step))
        assert proc.is_alive(), "the run finished before it was killed KILLS times"
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        kills += 1
        mid_write += bool(list(folder.rglob("*.tmp")))
    final = _launch(ctx, cfg)
    final.join(300)
    assert final.exitcode == 0

    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "completed", summary
    text = (folder / "metrics.csv").read_text()
    width = len(text.splitlines()[0].split(","))
    assert width > len(METRIC_COLUMNS) and text.endswith("\n")  # activation statistics are columns too
    assert all(line.count(",") == width - 1 for line in text.splitlines())
    got, want = (pd.read_csv(Path(c.out_dir) / "metrics.csv").drop(columns=list(TIMING_COLUMNS))
                 for c in (cfg, ref))
    assert list(got["epoch"]) == [1, 2, 3, 4]  # no duplicate, missing or torn rows
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    a, b = (torch.load(Path(c.out_dir) / "checkpoints" / "last.pt", weights_only=True)["model"] for c in (cfg, ref))
    assert all(torch.equal(a[k], b[k]) for k in b)
    assert not list(folder.rglob("*.tmp"))
    assert kills == KILLS and summary.get("resumes", 0) >= 10
    print(f"torture: {kills} SIGKILLs over {lives + 1} launches ({mid_write} landed mid-write, temp file left); "
          f"{summary.get('resumes', 0)} resumes; uninterrupted run {full:.2f}s; result bit-identical")
