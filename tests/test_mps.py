"""Packing sweep jobs through CUDA MPS (ablate/mps.py), with a fake nvidia-cuda-mps-control on PATH: when a
daemon is started, its own folders and environment, that it is stopped and cleaned up (also when the launcher
dies), and the errors that name the fix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from omegaconf import OmegaConf

from ablate import mps
from ablate.cli import PackJobs
from ablate.registry import ConfigError
from tests.conftest import compose_cfg

FAKE = textwrap.dedent("""\
    #!/bin/sh
    # A stand-in for nvidia-cuda-mps-control: each call appends a line to $FAKE_MPS_RECORD.
    pipe="$CUDA_MPS_PIPE_DIRECTORY"
    if [ "$1" = "-d" ]; then
      [ -n "$FAKE_MPS_FAIL" ] && { echo "fake: cannot open the GPU" >&2; exit 1; }
      echo "start $pipe $CUDA_MPS_LOG_DIRECTORY" >> "$FAKE_MPS_RECORD"; touch "$pipe/alive"; exit 0
    fi
    read cmd
    echo "$cmd $pipe" >> "$FAKE_MPS_RECORD"
    [ -e "$pipe/alive" ] || exit 1
    [ "$cmd" = quit ] && rm -f "$pipe/alive"
    exit 0
""")


@pytest.fixture
def fake_mps(tmp_path, monkeypatch):
    """PATH holds the fake daemon; returns the record file. The environment is restored after the test."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / mps.BINARY
    tool.write_text(FAKE)
    tool.chmod(0o755)
    record = tmp_path / "record.txt"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_MPS_RECORD", str(record))
    for key in mps.ENV:
        monkeypatch.delenv(key, raising=False)
    return record


def _calls(record) -> list[str]:
    return [line.split()[0] for line in record.read_text().splitlines()] if record.exists() else []


def test_daemon_gets_its_own_folders_and_is_stopped_and_cleaned_up(fake_mps):
    daemon = mps.MpsDaemon()
    daemon.start()
    root, env = daemon.root, dict(daemon.env)
    assert root.is_dir() and all(os.environ[k] == v for k, v in env.items())
    assert fake_mps.read_text().split()[1:3] == [env["CUDA_MPS_PIPE_DIRECTORY"], env["CUDA_MPS_LOG_DIRECTORY"]]
    assert len(env["CUDA_MPS_PIPE_DIRECTORY"]) < 100  # a Unix socket lives there
    daemon.stop()
    assert _calls(fake_mps)[0] == "start" and "get_server_list" in _calls(fake_mps) and "quit" in _calls(fake_mps)
    assert _calls(fake_mps)[-1] == "get_server_list"  # stop waited until the daemon no longer answered
    assert not root.exists() and not any(k in os.environ for k in mps.ENV)
    daemon.stop()  # a second stop (atexit after the sweep's end) does nothing


def test_missing_binary_is_one_error_naming_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="nvidia-cuda-mps-control on PATH.*trainer.pack=timeslice"):
        mps.MpsDaemon().start()


def test_a_daemon_that_cannot_start_is_an_error_and_leaves_nothing(fake_mps, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_MPS_FAIL", "1")
    before = set(os.listdir(os.environ.get("TMPDIR", "/tmp")))
    with pytest.raises(ConfigError, match="cannot open the GPU.*trainer.pack=timeslice"):
        mps.MpsDaemon().start()
    after = set(os.listdir(os.environ.get("TMPDIR", "/tmp")))
    assert not [name for name in after - before if name.startswith("ablate-mps-")]
    assert not any(k in os.environ for k in mps.ENV)


JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"


def _config(launcher: str = JOBLIB, **trainer) -> OmegaConf:
    t = {"jobs_per_gpu": 4, "device": "auto", "pack": "auto", **trainer}
    return OmegaConf.create({"trainer": t, "hydra": {"launcher": {"_target_": launcher}}})


@pytest.mark.parametrize("trainer,gpus,mode", [
    ({}, 1, "mps-if-available"),
    ({"pack": "mps"}, 2, "mps"),
    ({"pack": "timeslice"}, 1, "timeslice"),
    ({"jobs_per_gpu": 1}, 1, "timeslice"),
    ({}, 0, "timeslice"),
    ({"device": "cpu"}, 1, "timeslice"),
    ({"launcher": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}, 1, "timeslice"),
    ({"launcher": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"}, 1, "timeslice"),
    ({"launcher": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher", "pack": "mps"}, 1, "mps"),
])
def test_a_daemon_is_started_only_where_it_can_help(trainer, gpus, mode, monkeypatch):
    for key in mps.ENV:
        monkeypatch.delenv(key, raising=False)
    assert mps.pack_mode(_config(**trainer), gpus) == mode
    monkeypatch.setenv("CUDA_MPS_PIPE_DIRECTORY", "/somewhere")
    assert mps.pack_mode(_config(**trainer), gpus) == ("existing" if mode != "timeslice" else mode)


def test_the_callback_runs_the_daemon_for_a_packed_multirun(fake_mps, monkeypatch, capsys):
    """The real composed config (conf/train.yaml registers the callback), a GPU pretended."""
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    config = compose_cfg(["hydra/launcher=joblib", "trainer.jobs_per_gpu=4"], return_hydra_config=True)
    assert config.hydra.callbacks.pack_jobs._target_ == "ablate.cli.PackJobs"
    callback = PackJobs()
    callback.on_multirun_start(config)
    assert os.environ["CUDA_MPS_PIPE_DIRECTORY"].startswith(str(callback.packer.daemon.root))
    assert "packing 4 jobs per GPU through an MPS daemon" in capsys.readouterr().out
    callback.on_multirun_end(config)
    assert "quit" in _calls(fake_mps) and "CUDA_MPS_PIPE_DIRECTORY" not in os.environ


def test_auto_without_the_binary_time_slices_and_says_so(monkeypatch, tmp_path, capsys):
    import torch

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    packer = mps.SweepPacker()
    packer.start(_config())
    assert packer.daemon is None and "time-slicing" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        packer.start(_config(pack="mps"))
    assert exit_.value.code == 2 and "trainer.pack=timeslice" in capsys.readouterr().err


LAUNCHER = textwrap.dedent("""
    import os, sys, time
    from ablate import mps
    daemon = mps.MpsDaemon()
    daemon.start()
    print(daemon.root, flush=True)
    time.sleep(60)
""")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_launcher_that_dies_still_gets_its_daemon_stopped(fake_mps, sig):
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER], stdout=subprocess.PIPE, text=True)
    root = proc.stdout.readline().strip()
    assert root and os.path.isdir(root)
    proc.send_signal(sig)
    proc.wait(10)
    deadline = time.monotonic() + 20
    while os.path.isdir(root) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not os.path.isdir(root) and "quit" in _calls(fake_mps)
