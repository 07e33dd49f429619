"""The Hydra app end to end, as real subprocesses: a single run and a multirun into deterministic folders."""

import json
import math
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO

SMALL = ["data.subset=100", "data.test_subset=50", "trainer.epochs=1", "trainer.batch_size=50",
         "trainer.device=cpu"]


def run_cli(args, cwd):
    return subprocess.run([sys.executable, "-m", "ablate", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_multirun_writes_one_folder_per_job_named_from_overrides(tmp_path):
    proc = run_cli(["-m", "name=t", "model.activation=relu,tanh", *SMALL], tmp_path)
    assert proc.returncode == 0, proc.stderr
    folders = sorted(p.name for p in (tmp_path / "runs" / "t").iterdir() if p.is_dir() and p.name[0] != ".")
    assert len(folders) == 2 and all(f.startswith("data.subset=100") for f in folders)
    assert any("model.activation=tanh" in f for f in folders)
    for f in folders:
        summary = json.loads((tmp_path / "runs" / "t" / f / "summary.json").read_text())
        assert summary["status"] == "completed"
    # Re-launching the same sweep finds the same folders and skips the completed jobs.
    again = run_cli(["-m", "name=t", "model.activation=relu,tanh", *SMALL], tmp_path)
    assert again.returncode == 0 and again.stdout.count("already completed") == 2
    report = subprocess.run([sys.executable, "-m", "ablate.report", str(tmp_path / "runs"), "--out",
                             str(tmp_path / "rep")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    assert pd.read_csv(tmp_path / "rep" / "runs.csv")["run"].nunique() == 2


def test_launcher_configs_compose_without_hydras_same_name_deprecation(tmp_path):
    launchers = sorted(p.stem for p in (REPO / "conf" / "hydra" / "launcher").glob("*.yaml"))
    assert launchers == ["ablate_joblib", "ablate_submitit_local", "ablate_submitit_slurm"]
    for name in launchers:
        proc = run_cli([f"hydra/launcher={name}", "--cfg", "hydra", "-p", "hydra.launcher"], tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "hydra_plugins.hydra_" in proc.stdout and "same name" not in proc.stderr, (name, proc.stderr)
    # The check can fail: a launcher config named like the plugin's schema brings the warning back.
    (tmp_path / "own" / "hydra" / "launcher").mkdir(parents=True)
    (tmp_path / "own" / "hydra" / "launcher" / "joblib.yaml").write_text("n_jobs: 2\n")
    proc = run_cli(["hydra/launcher=joblib", "--config-dir", str(tmp_path / "own"), "--cfg", "hydra"], tmp_path)
    assert "same name" in proc.stderr


def test_an_invalid_swept_value_fails_before_any_job_starts(tmp_path):
    proc = run_cli(["-m", "name=bad", "model.activation=relu,tanhh", "seed=0,1", *SMALL], tmp_path)
    assert proc.returncode == 2
    assert "model.activation='tanhh' is not a known value; choose one of: sigmoid, tanh, relu" in proc.stderr
    assert "No job was started" in proc.stderr and not (tmp_path / "runs" / "bad").exists()
    proc = run_cli(["-m", "name=bad", "model=convnet4,nonet", *SMALL], tmp_path)  # a config group option
    assert proc.returncode == 2 and "Could not find 'model/nonet'" in proc.stderr
    assert not (tmp_path / "runs" / "bad").exists()


def test_big_sweeps_check_every_swept_value_once():
    from ablate.cli import CHECK_EVERY_JOB_UP_TO, jobs_to_check
    from tests.test_sweeps import header, jobs

    grid = jobs("grid")
    picked = jobs_to_check(grid)
    runs = re.search(r"= ([\d,]+) runs\)", header("grid")).group(1)  # the count its header states (generated)
    assert len(grid) == int(runs.replace(",", "")) > 1000 and len(picked) < 30
    assert {o for job in picked for o in job} == {o for job in grid for o in job}  # every value in some check
    small = grid[:CHECK_EVERY_JOB_UP_TO]
    assert jobs_to_check(small) == small  # small sweeps: every job


def test_objective_is_the_float_an_optimizing_sweeper_reads():
    from ablate.runfolder import objective_value

    done = {"status": "completed", "final": {"val_top1_err": 0.3, "epoch": 7}, "best": {"val_top1_err": 0.25}}
    assert objective_value(done, "val_top1_err") == 0.3 and objective_value(done, "best.val_top1_err") == 0.25
    assert objective_value(done, "epoch") == 7.0 and isinstance(objective_value(done, "epoch"), float)
    assert objective_value({"status": "diverged", "final": {"val_top1_err": 0.9}}, "val_top1_err") == math.inf
    assert math.isnan(objective_value({"status": "failed", "final": {}}, "val_top1_err"))
    assert math.isnan(objective_value({**done, "status": "preempted"}, "val_top1_err"))


def test_optuna_sweeper_gets_the_objective_of_each_run(tmp_path):
    """README's Optuna example shrunk: Figure 1's sweep file, one activation, lr searched on a log scale."""
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="pip install 'ablate[optuna]'")
    proc = run_cli(["-m", "+sweeps=fig1_relu_vs_tanh", "hydra/sweeper=optuna", "name=opt", "model.activation=relu",
                    "seed=0", "optim.lr=tag(log, interval(0.001, 0.1))", "trainer.objective=train_loss",
                    "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.seed=0", "data=synthetic",
                    "trainer.stop_at_train_err=null", *SMALL], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = tmp_path / "runs" / "opt"
    summaries = [json.loads(p.read_text()) for p in sweep.glob("*/summary.json")]
    assert len(summaries) == 2 and {s["status"] for s in summaries} == {"completed"}
    folders = [p.parent.name for p in sweep.glob("*/summary.json")]
    assert all("model.activation=relu" in f and "seed=0" in f and "optim.lr=0.0" in f for f in folders)
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())["best_value"]
    assert best == min(s["final"]["train_loss"] for s in summaries)


def test_cfg_job_resolve_shows_the_run_folder_the_run_then_writes_with_its_log(tmp_path):
    args = ["name=shown", "model.activation=tanh", *SMALL]
    proc = run_cli([*args, "--cfg", "job", "--resolve"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    shown = yaml.safe_load(proc.stdout)["out_dir"]
    assert shown.startswith("runs/shown/") and "model.activation=tanh" in shown
    assert run_cli(args, tmp_path).returncode == 0
    assert (tmp_path / shown / "summary.json").is_file()
    assert yaml.safe_load((tmp_path / shown / "config.yaml").read_text())["out_dir"] == str(tmp_path / shown)
    story = (tmp_path / shown / "train.log").read_text()  # Hydra's job log: the run's story, not 0 bytes
    for line in ("convnet4 on synthetic (100 training images)", "epoch 1/1 train_loss", ": completed: 1 epoch(s)"):
        assert line in story, story


def test_jobs_side_by_side_log_lines_instead_of_drawing_bars(make_config):
    from omegaconf import OmegaConf

    from ablate.cli import _parallel_jobs_log_lines

    for target, progress, expected in [("hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
                                        "auto", "line"),
                                       ("hydra._internal.core_plugins.basic_launcher.BasicLauncher", "auto", "auto"),
                                       ("hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
                                        "bar", "bar")]:
        cfg = make_config([f"trainer.progress={progress}"])
        _parallel_jobs_log_lines(cfg, OmegaConf.create({"launcher": {"_target_": target}}))
        assert cfg.trainer.progress == expected
