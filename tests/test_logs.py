"""Logging: the run's story goes to Python logging (Hydra's job log under the CLI), a final status line for every
run, a console of its own for library use without logging, and progress that suits the terminal or a log file."""

import logging
import subprocess
import sys

import pytest

from ablate.logs import final_status
from ablate.progress import Progress
from tests.conftest import REPO


@pytest.mark.parametrize("summary,level,text", [
    ({"status": "completed", "epochs_completed": 3, "final": {"val_top1_err": 0.5}, "best": {"epoch": 2}},
     logging.INFO, "completed: 3 epoch(s)"),
    ({"status": "diverged", "diverged_step": 57, "diverged_epoch": 2}, logging.WARNING, "diverged at step 57"),
    ({"status": "failed", "error": "RuntimeError: boom"}, logging.ERROR, "failed: RuntimeError: boom"),
    ({"status": "preempted", "preempt_signal": "SIGTERM"}, logging.WARNING, "run the same command again to resume"),
])
def test_every_run_ends_with_one_status_line(summary, level, text, caplog):
    caplog.set_level(logging.INFO, logger="ablate")
    final_status(summary, "runs/x/job")
    assert [(r.levelno, text in r.getMessage()) for r in caplog.records] == [(level, True)]


def test_line_mode_logs_within_long_epochs_and_every_epoch(caplog):
    caplog.set_level(logging.INFO, logger="ablate")
    progress = Progress("line", epochs=2, steps_per_epoch=4, label="job-a", every_s=0.0)
    progress.start_epoch(1)
    for _ in range(4):
        progress.step(128)
    progress.end_epoch({"epoch": 1, "train_loss": 1.0, "train_err": 0.5, "val_top1_err": 0.4, "val_top5_err": 0.1,
                        "images_per_s": 100.0, "epoch_s": 5.0})
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5 and lines[0].startswith("[job-a] epoch 1/2 step 1/4 (25%)") and "ETA" in lines[0]
    assert lines[-1].startswith("[job-a] epoch 1/2 train_loss 1.0000")
    caplog.clear()
    quiet = Progress("line", epochs=1, steps_per_epoch=4, label="job-b")  # the default: every 30 s
    quiet.start_epoch(1)
    quiet.step(128)
    assert not caplog.records


def test_bars_are_labelled_by_job(capsys):
    progress = Progress("bar", epochs=3, steps_per_epoch=2, label="model.activation=tanh,seed=1")
    progress.start_epoch(2)
    progress.step(64)
    progress.close()
    assert "model.activation=tanh,seed=1 epoch 2/3" in capsys.readouterr().err


def test_library_use_without_logging_config_still_shows_the_run(tmp_path):
    """A script that configured no logging: the run's lines on stdout (not only warnings); none are doubled."""
    code = ("import ablate\n"
            "from tests.conftest import SMALL, compose_cfg\n"
            "from ablate.cli import to_config\n"
            f"ablate.train(to_config(compose_cfg(SMALL), out_dir={str(tmp_path / 'run')!r}))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("epoch 1/1 train_loss") == 1 and proc.stdout.count(": completed: 1 epoch(s)") == 1
