"""Faults inside sweeps, launchers, DDP and wandb: real processes, as users run them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import ablate
from tests.wandb_records import exit_code, history, of_type, run_record, settled, summary

SMALL = ["data.subset=200", "data.test_subset=50", "trainer.epochs=2", "trainer.batch_size=20",
         "trainer.device=cpu", "trainer.threads=1", "trainer.progress=line"]


def run(args, cwd, timeout=600, **env):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})


def statuses(sweep):
    return {p.parent.name: json.loads(p.read_text())["status"] for p in sweep.glob("*/summary.json")}


@pytest.mark.slow
def test_diverged_and_failed_jobs_do_not_stop_the_sweep(tmp_path):
    # lr=1e6 diverges; lr=0.01 completes; cifar10_mini with data.subset=99999 fails at run time (it has 4000).
    proc = run([sys.executable, "-m", "ablate", "-m", "name=faults", "optim.lr=0.01,1e6", *SMALL], tmp_path)
    assert proc.returncode == 0, proc.stderr  # diverged is a result, not a failure
    found = statuses(tmp_path / "runs" / "faults")
    assert sorted(found.values()) == ["completed", "diverged"]
    diverged = next(p for p in (tmp_path / "runs/faults").glob("*lr=1000000.0*/summary.json"))
    assert json.loads(diverged.read_text())["diverged_step"] >= 1
    proc = run([sys.executable, "-m", "ablate", "-m", "name=faults2", "data=cifar10_mini",
                "data.subset=99999,200", *SMALL[1:]],
               tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    found = statuses(tmp_path / "runs" / "faults2")
    assert sorted(found.values()) == ["completed", "failed"]
    failed_dir = next(d for d, s in found.items() if s == "failed")
    assert "data.subset=99999" in (tmp_path / "runs/faults2" / failed_dir / "traceback.txt").read_text()
    assert "failed" in proc.stdout and "2 jobs" in proc.stdout  # the status table


@pytest.mark.slow
def test_two_process_ddp_matches_one_process_at_the_same_global_batch(make_config):
    one = ablate.train(make_config(["trainer.epochs=2", "trainer.batch_size=40"], "one"))
    two = ablate.train(make_config(["trainer.epochs=2", "trainer.batch_size=40", "trainer.devices=2"], "two"))
    assert two["status"] == "completed" and two["world_size"] == 2
    for key in ["train_loss", "train_err", "val_loss", "val_top1_err", "val_top5_err"]:
        assert two["final"][key] == pytest.approx(one["final"][key], abs=1e-4), key


@pytest.mark.slow
def test_torchrun_launch_writes_one_run_folder(tmp_path):
    out = tmp_path / "tr"
    proc = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "ablate",
                *SMALL, f"hydra.run.dir={out}"], tmp_path, OMP_NUM_THREADS="1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["world_size"] == 2
    assert len(pd.read_csv(out / "metrics.csv")) == 2


@pytest.mark.slow
def test_submitit_local_sweep_runs_jobs_as_separate_processes(tmp_path):
    proc = run([sys.executable, "-m", "ablate", "-m", "hydra/launcher=ablate_submitit_local", "name=sub",
                "model.activation=relu,tanh", *SMALL], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = statuses(tmp_path / "runs" / "sub")
    assert sorted(found.values()) == ["completed", "completed"]
    assert list((tmp_path / "runs" / "sub" / ".submitit").iterdir())  # submitit's own job folders


@pytest.mark.slow
def test_wandb_offline_mirrors_the_metrics(tmp_path):
    out = tmp_path / "wb"
    proc = run([sys.executable, "-m", "ablate", "logger=wandb", *SMALL, f"hydra.run.dir={out}"], tmp_path,
               WANDB_MODE="offline", WANDB_API_KEY="")
    assert proc.returncode == 0, proc.stderr[-3000:]
    logs = list(out.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(logs) == 1
    rows = [r for r in history(logs[0]) if "train_err" in r]
    metrics = pd.read_csv(out / "metrics.csv")
    assert [float(r["train_err"]) for r in rows] == pytest.approx(metrics["train_err"].tolist())
    assert [int(r["step"]) for r in rows] == metrics["step"].tolist()
    folder = json.loads((out / "summary.json").read_text())
    assert folder["status"] == "completed" and folder["wandb"]["mode"] == "offline"
    assert folder["wandb"]["id"] in logs[0].name and folder["wandb"]["project"] == "ablate"
    head, end = run_record(logs[0]), summary(logs[0])
    assert head.job_type == "train" and head.project == "ablate"
    assert list(head.tags) == ["data.subset=200", "data.test_subset=50", "trainer.batch_size=20", "trainer.epochs=2"]
    assert exit_code(logs[0]) == 0 and json.loads(end["status"]) == "completed"
    assert json.loads(end["best_val_top1_err"]) == pytest.approx(folder["best"]["val_top1_err"])
    assert json.loads(end["params"]) == folder["params"] and json.loads(end["git_sha"]) == folder["git"]["sha"]


@pytest.mark.slow
def test_wandb_sweep_runs_carry_tags_notes_and_their_outcome(tmp_path):
    """Figure 1's sweep file, shrunk: a diverged job ends its wandb run with exit code 1 and its step."""
    proc = run([sys.executable, "-m", "ablate", "-m", "+sweeps=fig1_relu_vs_tanh", "logger=wandb", "name=wb",
                "model.activation=relu", "optim.lr=0.01,1e6", "seed=0", "data=synthetic",
                "trainer.stop_at_train_err=null", "trainer.check_every=1", *SMALL], tmp_path,
               WANDB_MODE="offline", WANDB_API_KEY="")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for folder in (tmp_path / "runs" / "wb").glob("*/summary.json"):
        done = json.loads(folder.read_text())
        log = next(folder.parent.glob("wandb/offline-run-*/run-*.wandb"))
        head, end = run_record(log), summary(log)
        assert head.notes.startswith("Figure 1 (§3.1): ReLU vs tanh") and "Report:" in head.notes
        assert "sweeps=fig1_relu_vs_tanh" in head.tags and "model.activation=relu" in head.tags
        assert json.loads(end["status"]) == done["status"]
        if done["status"] == "diverged":
            assert exit_code(log) == 1 and json.loads(end["diverged_step"]) == done["diverged_step"] >= 1
        else:
            assert done["status"] == "completed" and exit_code(log) == 0


@pytest.mark.slow
def test_wandb_preempted_run_is_marked_resumable(make_config, monkeypatch):
    import signal as signals

    import ablate.fit as fit
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = make_config(["logger=wandb", "trainer.epochs=2", "trainer.check_every=1"])
    real_evaluate = fit.evaluate

    def preempt_after_epoch_1(*args, **kwargs):
        signals.raise_signal(signals.SIGTERM)  # ablate's handler only sets a flag: the run stops at the next step
        return real_evaluate(*args, **kwargs)
    monkeypatch.setattr(fit, "evaluate", preempt_after_epoch_1)
    done = ablate.train(cfg)
    assert done["status"] == "preempted" and done["preempt_signal"] == "SIGTERM"
    log = next(Path(cfg.out_dir).glob("wandb/offline-run-*/run-*.wandb"))
    tail = settled(lambda: (of_type(log, "preempting"), exit_code(log)), lambda got: bool(got[0]) and got[1] is not None)
    assert tail[0] and tail[1] == 128 + signals.SIGTERM
    assert json.loads(summary(log)["status"]) == "preempted"


@pytest.mark.slow
def test_wandb_resumed_run_continues_the_same_wandb_run(make_config, monkeypatch):
    import ablate.fit as fit
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = make_config(["logger=wandb", "trainer.epochs=2"])
    real_evaluate, calls = fit.evaluate, []

    def fail_in_epoch_2(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:  # epoch 1 evaluated (and checkpointed); epoch 2 crashes
            raise RuntimeError("injected crash")
        return real_evaluate(*args, **kwargs)
    monkeypatch.setattr(fit, "evaluate", fail_in_epoch_2)
    with pytest.raises(RuntimeError):
        ablate.train(cfg)
    monkeypatch.setattr(fit, "evaluate", real_evaluate)
    summary = ablate.train(cfg)
    assert summary["status"] == "completed" and summary["resumes"] == 1
    logs = sorted(Path(cfg.out_dir).glob("wandb/offline-run-*/run-*.wandb"))
    assert len(logs) == 2 and logs[0].name == logs[1].name  # same run id, continued
    steps = settled(lambda: [int(r["step"]) for log in logs for r in history(log) if "train_err" in r],
                    lambda got: len(got) == 2)
    assert steps == [4, 8]  # one global step: epoch 1 (4 steps) in the first, epoch 2 in the resumed run
    assert [exit_code(log) for log in logs] == [1, 0]  # the crashed attempt failed, the resumed one completed
