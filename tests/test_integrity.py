"""A run folder never holds a result that is not what its config says: identity, one writer, crash-consistent
records. Each numbered case of the run-integrity issue is one test here (all failed on the code before it)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

import ablate
from ablate.claim import RunFolderError, RunLock
from ablate.fit import Trainer
from ablate.runfolder import TIMING_COLUMNS, RunFolder

REPO = Path(__file__).resolve().parent.parent


def cli(args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "ablate", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "WANDB_MODE": "disabled"})


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and p.name != ".lock"}


def interrupted(cfg, after_epochs: int = 1) -> None:
    """Run `cfg` and make it crash (as a kill would) after `after_epochs` epochs were checkpointed."""
    original = Trainer._end_epoch

    def end_then_die(self, *args):
        row = original(self, *args)
        if self.epoch > after_epochs:
            raise KeyboardInterrupt("simulated kill")
        return row
    Trainer._end_epoch = end_then_die
    try:
        with pytest.raises(KeyboardInterrupt):
            ablate.train(cfg)
    finally:
        Trainer._end_epoch = original


def metrics(folder) -> pd.DataFrame:
    return pd.read_csv(Path(folder) / "metrics.csv").drop(columns=list(TIMING_COLUMNS))


# 1. stale skip under another config --------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_refuses_to_skip_a_folder_completed_under_another_config(tmp_path):
    small = ["name=xp", "data.subset=100", "data.test_subset=50", "trainer.epochs=1", "trainer.progress=none",
             "trainer.device=cpu"]
    first = cli(small, tmp_path)
    assert first.returncode == 0, first.stderr
    folder = next((tmp_path / "runs" / "xp").iterdir())
    before = snapshot(folder)
    second = cli(["+experiment=fig1_demo", *small], tmp_path)
    assert second.returncode == 2, second.stdout + second.stderr
    assert "already completed" not in second.stdout
    assert "holds results of a different config" in second.stderr
    assert "data.name: 'synthetic' in the folder, 'cifar10_mini' now" in second.stderr
    assert "name=" in second.stderr  # a way out
    assert snapshot(folder) == before  # nothing written


def test_an_edited_default_is_not_skipped_as_done(make_config):
    ablate.train(make_config(["optim.lr=0.01"]))
    with pytest.raises(RunFolderError, match=r"optim.lr: 0.01 in the folder, 0.02 now"):
        ablate.train(make_config(["optim.lr=0.02"]))
    again = ablate.train(make_config(["optim.lr=0.01", "trainer.threads=1", "trainer.progress=line"]))
    assert again["status"] == "completed"  # bookkeeping keys may change: the same run, skipped


def test_a_run_made_before_a_key_existed_is_the_same_run_while_the_key_keeps_its_old_behaviour(make_config):
    from ablate.identity import ADDED_KEYS, fingerprint

    cfg = make_config([])
    ablate.train(cfg)
    path = Path(cfg.out_dir) / "config.yaml"
    new = yaml.safe_load(path.read_text())
    old = yaml.safe_load(path.read_text())
    for key in ADDED_KEYS:  # config.yaml as a version without these keys wrote it
        section, name = key.split(".")
        del old[section][name]
    path.write_text(yaml.safe_dump(old, sort_keys=False))
    assert fingerprint(old) == fingerprint(new)
    assert ablate.train(make_config([]))["status"] == "completed"  # skipped as done, not refused
    with pytest.raises(RunFolderError, match=r"model.layer_init_scale.conv1: .*made before this key existed.*2.0 now"):
        ablate.train(make_config(["+model.layer_init_scale.conv1=2.0"]))


# 2. resume under another config --------------------------------------------------------------------------------
def test_an_interrupted_run_is_not_resumed_under_another_config(make_config):
    cfg = make_config(["trainer.epochs=3"])
    interrupted(cfg, after_epochs=1)
    folder = Path(cfg.out_dir)
    before = snapshot(folder)
    other = make_config(["trainer.epochs=3", "data=cifar10_mini", "data.subset=200", "data.test_subset=100"])
    with pytest.raises(RunFolderError, match="data.name: 'synthetic' in the folder, 'cifar10_mini' now"):
        ablate.train(other)
    assert snapshot(folder) == before
    done = ablate.train(cfg)
    assert done["status"] == "completed" and done["resumes"] == 1
    assert list(metrics(folder)["epoch"]) == [1, 2, 3]
    assert yaml.safe_load((folder / "config.yaml").read_text())["data"]["name"] == "synthetic"


def test_the_checkpoint_s_own_config_is_checked_when_config_yaml_is_gone(make_config):
    cfg = make_config(["trainer.epochs=3"])
    interrupted(cfg, after_epochs=1)
    (Path(cfg.out_dir) / "config.yaml").unlink()
    summary = json.loads((Path(cfg.out_dir) / "summary.json").read_text())
    del summary["fingerprint"]
    (Path(cfg.out_dir) / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(RunFolderError, match="optim.lr: 0.01 in the folder, 0.05 now"):
        ablate.train(make_config(["trainer.epochs=3", "optim.lr=0.05"]))


def test_moving_data_root_to_other_data_is_refused_but_a_copy_is_accepted(make_config, tmp_path):
    from tests.test_data_cifar import write_batches, write_folder  # CIFAR-10's real formats, generated

    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    import shutil
    train_x, train_y, test_x, test_y = write_batches(a)  # the official python batches
    shutil.copytree(a, b)  # a copy elsewhere
    for split, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
        write_folder(c, split, x, y)  # the same images in another layout: another order, so other subsets
    common = ["data=cifar10", "data.subset=100", "data.test_subset=20", f"data.cache_dir={tmp_path / 'cache'}"]
    ablate.train(make_config([*common, f"data.root={a}"]))
    assert ablate.train(make_config([*common, f"data.root={b}"]))["status"] == "completed"  # skipped: same data
    with pytest.raises(RunFolderError, match="data content"):
        ablate.train(make_config([*common, f"data.root={c}"]))


# 3. two jobs, one folder ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_sweep_whose_jobs_share_a_folder_fails_before_any_job(tmp_path):
    proc = cli(["-m", "name=two", "data.root=A,B", "data.subset=100", "trainer.epochs=1", "trainer.device=cpu"],
               tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "would share the run folder" in proc.stderr and "data.root=A" in proc.stderr
    assert not list((tmp_path / "runs" / "two").glob("*/*"))  # no job was started


# 4. one writer -------------------------------------------------------------------------------------------------
def test_a_second_launcher_is_refused_naming_the_holder(make_config):
    cfg = make_config()
    lock = RunLock(Path(cfg.out_dir)).acquire()
    try:
        with pytest.raises(RunFolderError, match=rf"in use by another launch \(pid {os.getpid()} on "):
            ablate.train(cfg)
    finally:
        lock.release()
    assert not (Path(cfg.out_dir) / "summary.json").exists()  # the refused launcher wrote nothing
    assert ablate.train(cfg)["status"] == "completed"


def _race_child(cfg, code_file):
    torch.set_num_threads(1)
    try:
        ablate.train(cfg)
        code = "ran"
    except RunFolderError:
        code = "refused"
    Path(code_file).write_text(code)
    os._exit(0)


@pytest.mark.slow
def test_two_launchers_racing_on_one_folder_always_leave_one_clean_run(make_config, tmp_path):
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    ref = make_config(["trainer.epochs=2"], "ref")
    ablate.train(ref)
    outcomes = []
    for i in range(10):
        cfg = make_config(["trainer.epochs=2"], f"race{i}")
        procs = [ctx.Process(target=_race_child, args=(cfg, tmp_path / f"code{i}{k}")) for k in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        codes = sorted((tmp_path / f"code{i}{k}").read_text() for k in range(2))
        outcomes.append(tuple(codes))
        assert codes in (["ran", "refused"], ["ran", "ran"]), codes  # "ran" twice: the second found it done
        pd.testing.assert_frame_equal(metrics(cfg.out_dir), metrics(ref.out_dir))
        summary = json.loads((Path(cfg.out_dir) / "summary.json").read_text())
        assert summary["status"] == "completed" and "resumes" not in summary
        assert not list(Path(cfg.out_dir).rglob("*.tmp"))
    print(f"races: {len(outcomes)}, outcomes: {sorted(set(outcomes))}")


# 5. torn records ------------------------------------------------------------------------------------------------
def test_a_torn_metrics_line_is_dropped_and_reported_on_resume(make_config):
    ref = make_config(["trainer.epochs=3"], "ref")
    ablate.train(ref)
    cfg = make_config(["trainer.epochs=3"])
    interrupted(cfg, after_epochs=1)
    path = Path(cfg.out_dir) / "metrics.csv"
    path.write_text(path.read_text() + "2,8,0.01,2.30")  # epoch 2's row, cut mid-write
    done = ablate.train(cfg)
    pd.testing.assert_frame_equal(metrics(cfg.out_dir), metrics(ref.out_dir))
    assert any("torn last line" in r for r in done["repairs"])


def test_a_deleted_metrics_csv_is_rebuilt_from_the_checkpoint(make_config):
    ref = make_config(["trainer.epochs=3"], "ref")
    ablate.train(ref)
    cfg = make_config(["trainer.epochs=3"])
    interrupted(cfg, after_epochs=2)
    (Path(cfg.out_dir) / "metrics.csv").unlink()
    done = ablate.train(cfg)
    assert done["status"] == "completed" and any("metrics.csv missing" in r for r in done["repairs"])
    pd.testing.assert_frame_equal(metrics(cfg.out_dir), metrics(ref.out_dir))


@pytest.mark.parametrize("previous_copy", [True, False])
def test_an_invalid_summary_keeps_its_provenance(make_config, previous_copy):
    cfg = make_config(["trainer.epochs=3"])
    interrupted(cfg, after_epochs=1)
    folder = Path(cfg.out_dir)
    original = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text('{"status": "runn')  # cut mid-write by hand
    if not previous_copy:
        (folder / "summary.prev.json").unlink()
    done = ablate.train(cfg)
    assert done["status"] == "completed"
    for key in ("start_time", "git", "versions", "argv", "fingerprint"):
        assert done[key] == original[key], key
    assert "provenance_lost" not in done
    assert any("rebuilt from the checkpoint" in r for r in done.get("repairs", [])) != previous_copy


def test_a_reader_falls_back_to_the_previous_summary(make_config):
    cfg = make_config(["trainer.epochs=2"])
    ablate.train(cfg)
    run = RunFolder(cfg.out_dir)
    run.summary_path.write_text("{")
    with pytest.warns(UserWarning, match="using its previous copy"):
        assert run.read_summary(quiet=False)["epochs_completed"] == 2


# 6. set-up failures, names, classes ------------------------------------------------------------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_set_up_failure_is_recorded_as_failed_with_its_traceback(make_config):
    cfg = make_config(["trainer.device=cuda"])
    with pytest.raises(Exception):  # noqa: B017 - torch's error for a missing CUDA device
        ablate.train(cfg)
    summary = json.loads((Path(cfg.out_dir) / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"]
    assert "Traceback" in (Path(cfg.out_dir) / "traceback.txt").read_text()
    assert ablate.train(make_config(["trainer.device=cpu"]))["status"] == "completed"  # fixed: same folder


@pytest.mark.slow
@pytest.mark.parametrize("name", ["../../escape", "/abs", "a/../../b"])
def test_a_name_may_not_leave_runs(tmp_path, name):
    work = tmp_path / "work"
    work.mkdir()
    proc = cli([f"name={name}", "trainer.epochs=1", "data.subset=50"], work)
    assert proc.returncode != 0 and "must be a relative folder name inside runs/" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
    assert not (work / "runs").exists() or not any((work / "runs").rglob("summary.json"))


# the report refuses to double count ------------------------------------------------------------------------------
def _report(tmp_path, *paths):
    from ablate.report.command import main as report_main

    out = tmp_path / "report"
    assert report_main([*map(str, paths), "--out", str(out), "--format", "md,csv"]) == 0
    return out, (out / "index.md").read_text()


def test_the_same_config_and_seed_in_two_folders_counts_once(make_config, tmp_path):
    from ablate.report.inputs import load
    from ablate.report.runtable import per_run

    for run in ("a", "b"):  # b writes a default explicitly: another folder name, the same run
        ablate.train(make_config(["optim.lr=0.01"] if run == "b" else [], run))
    ablate.train(make_config(["seed=1"], "c"))
    one = per_run(load([tmp_path]), 0.25)
    assert sorted(one["status"]) == ["completed", "completed", "duplicate"]
    dup = one[one["status"] == "duplicate"].iloc[0]
    assert "duplicate of" in dup["problems"] and "counted once" in dup["problems"]
    _, page = _report(tmp_path, tmp_path / "a", tmp_path / "b", tmp_path / "c")
    assert "| all runs | 2 |" in page.replace("  ", " ")  # n = 2 seeds, not 3
    assert "1 recorded twice (counted once)" in page  # the error table says why n is 2


def test_repeated_epochs_are_kept_once_or_the_run_excluded(make_config, tmp_path):
    import shutil
    ablate.train(make_config(["trainer.epochs=2"], "clean"))
    for name, change in (("same", None), ("conflict", "0.123")):
        shutil.copytree(tmp_path / "clean", tmp_path / name)
        path = tmp_path / name / "metrics.csv"
        lines = path.read_text().splitlines()
        row = lines[2].split(",")
        if change:
            row[4] = change  # train_err differs: two writers disagreed
        path.write_text("\n".join([*lines, ",".join(row)]) + "\n")
        config = yaml.safe_load((tmp_path / name / "config.yaml").read_text())
        config["seed"] = {"same": 5, "conflict": 6}[name]
        (tmp_path / name / "config.yaml").write_text(yaml.safe_dump(config))
    from ablate.report.inputs import load
    from ablate.report.runtable import per_run
    one = per_run(load([tmp_path]), 0.25).set_index("seed")
    assert one.loc["5", "status"] == "completed" and "logged twice with the same values" in one.loc["5", "problems"]
    assert one.loc["5", "epochs_logged"] == 2
    assert one.loc["6", "status"] == "excluded" and "different values" in one.loc["6", "problems"]


def test_mathtext_labels_completed_runs_without_metrics_and_a_file_as_out(make_config, tmp_path):
    from ablate.report.command import main as report_main

    ablate.train(make_config(["model.activation=tanh"], "tanh"))
    ablate.train(make_config([], "relu"))
    config = yaml.safe_load((tmp_path / "tanh" / "config.yaml").read_text())
    config["model"]["activation"] = r"$\frac{a$"  # a value matplotlib would parse as (broken) mathtext
    (tmp_path / "tanh" / "config.yaml").write_text(yaml.safe_dump(config))
    ablate.train(make_config(["seed=2"], "lost"))
    (tmp_path / "lost" / "metrics.csv").unlink()
    out = tmp_path / "report"
    assert report_main([str(tmp_path / d) for d in ("tanh", "relu", "lost")] + ["--out", str(out)]) == 0
    page = (out / "index.md").read_text()
    assert "All runs completed" not in page and "completed but no epoch in metrics.csv" in page
    (tmp_path / "afile").write_text("x")
    assert report_main([str(tmp_path / "relu"), "--out", str(tmp_path / "afile")]) == 2


def test_a_sibling_that_completed_the_same_run_is_recorded_not_trained_again(make_config, tmp_path, caplog):
    caplog.set_level("INFO", logger="ablate")
    first = make_config(["model.norm=none"], "sweep/model.norm=none")  # the baseline cell of one sweep...
    ablate.train(first)
    reuse = "trainer.reuse_identical=true"  # the default outside tests
    same = make_config(["model.pool=overlap", reuse], "sweep/model.pool=overlap")  # ...is another's baseline
    summary = ablate.train(same)
    assert summary["same_as"] == "../model.norm=none" and summary["status"] == "completed"
    assert "not trained again" in caplog.text
    assert not (Path(same.out_dir) / "checkpoints").exists()
    pd.testing.assert_frame_equal(metrics(same.out_dir), metrics(first.out_dir))
    assert ablate.train(same)["same_as"]  # a re-launch finds it done
    other = make_config(["model.pool=nonoverlap", reuse], "sweep/model.pool=nonoverlap")
    assert "same_as" not in ablate.train(other)  # another run: trained
    fresh = make_config(["model.pool=overlap"], "sweep/again")
    assert "same_as" not in ablate.train(fresh)
    from ablate.report.inputs import load
    from ablate.report.runtable import per_run
    statuses = per_run(load([tmp_path / "sweep"]), 0.25)["status"].value_counts().to_dict()
    assert statuses == {"completed": 2, "duplicate": 2}  # same_as and the forced retrain: counted once


def test_only_keeps_one_axis_of_a_campaign_folder(make_config, tmp_path):
    from ablate.report.command import main as report_main
    for run, overrides in {"base": [], "base1": ["seed=1"], "lrn": ["model.norm=lrn"],
                           "nonoverlap": ["model.pool=nonoverlap"], "off": ["model.norm=lrn", "model.pool=nonoverlap"]
                           }.items():
        ablate.train(make_config(overrides, f"camp/{run}"))
    out = tmp_path / "pool"
    assert report_main([str(tmp_path / "camp"), "--only", "model.pool", "--out", str(out), "--format", "md,csv"]) == 0
    page = (out / "index.md").read_text()
    assert "3 runs" in page and "model.norm" not in page.split("## Provenance")[0]
    kept = set(pd.read_csv(out / "runs.csv")["run"])
    assert {Path(r).name for r in kept} == {"base", "base1", "nonoverlap"}  # the shared cell: norm=none
    assert report_main([str(tmp_path / "camp"), "--only", "model.nope", "--out", str(out)]) == 2


def test_a_layer_multiplier_of_one_is_the_layer_left_out():
    from ablate.identity import differences, fingerprint

    plain = {"model": {"name": "convnet4", "layer_init_scale": {}}, "optim": {"layer_lr_mult": {}}}
    ones = {"model": {"name": "convnet4", "layer_init_scale": {"conv1": 1}}, "optim": {"layer_lr_mult": {"conv1": 1.0}}}
    scaled = {"model": {"name": "convnet4", "layer_init_scale": {"conv1": 64.0}}, "optim": {"layer_lr_mult": {}}}
    assert fingerprint(ones) == fingerprint(plain) and differences(plain, ones) == []
    assert fingerprint(scaled) != fingerprint(plain)


def test_layer_decay_set_from_the_command_line_and_its_empty_default_is_the_old_none(make_config):
    from ablate.identity import differences, fingerprint

    cfg = make_config(["+model.layer_decay.conv1=0.1"])
    assert cfg.model.layer_decay == {"conv1": 0.1}
    new, old = make_config([]).to_dict(), make_config([]).to_dict()
    old["model"]["layer_decay"] = None  # config.yaml of a run made while the default was None
    assert new["model"]["layer_decay"] == {} and fingerprint(new) == fingerprint(old) and differences(old, new) == []


def test_a_run_killed_without_a_word_keeps_the_wall_time_it_had_spent(make_config):
    """wall_s is in summary.json after every epoch, not only at the end: a SIGKILL (simulated by reading the
    summary mid-run, as a killed run leaves it) loses at most the time since the last epoch."""
    cfg = make_config(["trainer.epochs=3"])
    original, seen = Trainer._end_epoch, []

    def end_then_read(self, *args):
        row = original(self, *args)
        seen.append(json.loads((Path(cfg.out_dir) / "summary.json").read_text()))
        return row
    Trainer._end_epoch = end_then_read
    try:
        ablate.train(cfg)
    finally:
        Trainer._end_epoch = original
    walls = [s["wall_s"] for s in seen]
    assert [s["status"] for s in seen] == ["running"] * 3 and 0 < walls[0] < walls[1] < walls[2]
    interrupted(cfg := make_config(["trainer.epochs=3"], "killed"), after_epochs=1)
    spent = json.loads((Path(cfg.out_dir) / "summary.json").read_text())["wall_s"]
    done = ablate.train(cfg)
    assert done["wall_s"] > spent > 0 and done["wall_s_before_resume"] == spent
