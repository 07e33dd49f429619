"""Checkpoints and resume: kill -9 mid-epoch and SIGTERM preemption resume bit-identically; corrupt fallback."""

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from ablate import checkpoint

TIMING = ["epoch_s", "images_per_s"]  # wall-clock columns can never match between two runs
ARGS = ["data.subset=600", "data.test_subset=100", "trainer.epochs=3", "trainer.batch_size=20",
        "trainer.device=cpu", "trainer.threads=1", "trainer.ckpt_every=5", "trainer.check_every=1",
        "trainer.progress=line", "model.activation=tanh", "trainer.reuse_identical=false",
        # dropout and random crops/flips make the run depend on every RNG the checkpoint must restore
        "model.regularizer=dropout", "data.augment=crop_flip"]


def start(run_dir: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ablate", *ARGS, *extra, f"hydra.run.dir={run_dir}"],
                            cwd=run_dir.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_step(run_dir: Path, proc: subprocess.Popen, min_step: int, timeout: float = 120) -> None:
    """Wait until a mid-epoch checkpoint past `min_step` exists (epoch 2 under way)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        last = run_dir / "checkpoints" / "last.pt"
        if last.exists():
            try:
                state = torch.load(last, weights_only=True)
                if state["step"] >= min_step and state["batch"] > 0:
                    return
            except Exception:
                pass
        time.sleep(0.05)
    raise TimeoutError("no checkpoint appeared")


def reference(tmp_path: Path) -> tuple[pd.DataFrame, dict]:
    ref = tmp_path / "ref"
    proc = start(ref)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    return pd.read_csv(ref / "metrics.csv"), torch.load(ref / "checkpoints" / "last.pt", weights_only=True)


def assert_same_run(run_dir: Path, ref_metrics: pd.DataFrame, ref_state: dict) -> None:
    metrics = pd.read_csv(run_dir / "metrics.csv")
    pd.testing.assert_frame_equal(metrics.drop(columns=TIMING), ref_metrics.drop(columns=TIMING), check_exact=True)
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    for name, tensor in ref_state["model"].items():
        assert torch.equal(state["model"][name], tensor), name
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["resumes"] == 1


@pytest.mark.slow
def test_kill_9_mid_epoch_then_rerun_is_bit_identical(tmp_path):
    ref_metrics, ref_state = reference(tmp_path)
    run_dir = tmp_path / "killed"
    proc = start(run_dir)
    wait_for_step(run_dir, proc, min_step=40)  # 30 steps per epoch: inside epoch 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "running"
    again = start(run_dir)
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0 and "resuming" in out, out
    assert_same_run(run_dir, ref_metrics, ref_state)


@pytest.mark.slow
def test_sigterm_checkpoints_marks_preempted_and_resumes(tmp_path):
    ref_metrics, ref_state = reference(tmp_path)
    run_dir = tmp_path / "preempted"
    proc = start(run_dir)
    wait_for_step(run_dir, proc, min_step=35)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGTERM  # checkpointed, then let the signal terminate it
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "preempted" and summary["preempt_signal"] == "SIGTERM"
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert state["batch"] > 0  # checkpointed at a step boundary inside the epoch
    again = start(run_dir)
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    assert_same_run(run_dir, ref_metrics, ref_state)


def test_checkpoint_is_plain_and_keeps_two(tmp_path):
    checkpoint.save(tmp_path, {"step": 1, "w": torch.ones(2), "rng": checkpoint.rng_state()})
    checkpoint.save(tmp_path, {"step": 2, "w": torch.ones(2), "rng": checkpoint.rng_state()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "previous.pt"]
    assert checkpoint.load_latest(tmp_path)["step"] == 2


def test_corrupt_checkpoint_falls_back_to_the_previous_one(tmp_path):
    checkpoint.save(tmp_path, {"step": 1})
    checkpoint.save(tmp_path, {"step": 2})
    last = tmp_path / "last.pt"
    last.write_bytes(last.read_bytes()[: len(last.read_bytes()) // 2])  # truncated, as by a full disk
    with pytest.warns(UserWarning, match="unreadable"):
        assert checkpoint.load_latest(tmp_path)["step"] == 1


def test_rng_state_round_trips(tmp_path):
    import random

    import numpy as np
    checkpoint.save(tmp_path, {"rng": checkpoint.rng_state()})
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    checkpoint.set_rng_state(checkpoint.load_latest(tmp_path)["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


def test_corrupt_last_checkpoint_resumes_from_previous(make_config, caplog):
    import ablate
    caplog.set_level(logging.INFO, logger="ablate")
    cfg = make_config(["trainer.epochs=2"])
    ablate.train(cfg)
    folder = Path(cfg.out_dir)
    (folder / "checkpoints" / "last.pt").write_bytes(b"garbage")
    summary = json.loads((folder / "summary.json").read_text())
    summary["status"] = "failed"  # as if it had crashed in its last epoch
    (folder / "summary.json").write_text(json.dumps(summary))
    with pytest.warns(UserWarning, match="unreadable"):
        resumed = ablate.train(cfg)
    assert resumed["status"] == "completed" and resumed["resumes"] == 1
    assert len(pd.read_csv(folder / "metrics.csv")) == 2
    assert "resuming" in caplog.text


def test_summary_names_the_machine_and_a_resume_elsewhere_adds_it(make_config):
    import ablate
    from ablate.runfolder import machine
    cfg = make_config(["trainer.epochs=2"])
    ablate.train(cfg)
    folder = Path(cfg.out_dir)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["machine"] == machine("cpu") and summary["machine"]
    summary.update(status="preempted", machine="Other CPU")  # as if stopped on another machine
    (folder / "summary.json").write_text(json.dumps(summary))
    resumed = ablate.train(cfg)
    assert resumed["resumes"] == 1 and resumed["machine"] == f"Other CPU then {machine('cpu')}"
    again = {**json.loads((folder / "summary.json").read_text()), "status": "preempted"}
    (folder / "summary.json").write_text(json.dumps(again))
    assert ablate.train(cfg)["machine"] == f"Other CPU then {machine('cpu')}"  # the same machine is named once


def test_a_resume_under_another_commit_is_recorded_and_the_report_names_both(make_config, monkeypatch, tmp_path):
    import ablate
    from ablate import runfolder
    from ablate.report.collect import collect
    from ablate.report.page import provenance
    from ablate.report.runtable import per_run
    cfg = make_config(["trainer.epochs=2"])
    ablate.train(cfg)
    folder = Path(cfg.out_dir)
    first = json.loads((folder / "summary.json").read_text())
    assert "resumed_under" not in first
    other = {"sha": "f" * 40, "dirty": False}
    monkeypatch.setattr(runfolder, "git_state", lambda: other)  # as if the code moved on between the two attempts
    for _ in range(2):  # the second resume, under the same commit as the first, adds nothing
        (folder / "summary.json").write_text(json.dumps({**json.loads((folder / "summary.json").read_text()),
                                                         "status": "preempted"}))
        resumed = ablate.train(cfg)
        assert resumed["git"] == first["git"]  # the first attempt's, as before
        assert [(h["git"], h["after_epoch"]) for h in resumed["resumed_under"]] == [(other, 2)]
        assert "versions" not in resumed["resumed_under"][0]  # unchanged, so not repeated
    runs = per_run(collect([folder]))
    assert runs["git_resumed"].iloc[0] == "f" * 40
    git_table = next(b.content for b in provenance(runs, "cmd") if getattr(b.content, "name", "") == "git")
    assert [row[0] for row in git_table.cells] == [f"{str(first['git']['sha'])[:12]} then ffffffffffff"]
