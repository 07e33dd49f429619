import csv
import json
import logging

import pandas as pd
import pytest
import yaml

import ablate
from ablate.runfolder import METRIC_COLUMNS


def test_one_epoch_writes_the_run_folder_contract(make_config):
    cfg = make_config(["trainer.epochs=2"])
    summary = ablate.train(cfg)
    run = cfg.out_dir
    config = yaml.safe_load(open(f"{run}/config.yaml"))
    assert config["model"]["activation"] == "relu" and config["seed"] == 0
    rows = list(csv.DictReader(open(f"{run}/metrics.csv")))
    assert len(rows) == 2 and list(rows[0]) == METRIC_COLUMNS
    for row in rows:
        for key in ["train_err", "val_top1_err", "val_top5_err", "test_top1_err"]:
            assert 0.0 <= float(row[key]) <= 1.0
        assert float(row["images_per_s"]) > 0 and float(row["epoch_s"]) > 0
    assert int(rows[1]["step"]) == 2 * int(rows[0]["step"]) == 8
    on_disk = json.load(open(f"{run}/summary.json"))
    assert on_disk == json.loads(json.dumps(summary, default=str))
    assert on_disk["status"] == "completed" and on_disk["epochs_completed"] == 2
    assert on_disk["params"] == sum(p.numel() for p in ablate.models.build_model(cfg.model, 10, 32).parameters())
    for key in ["seed", "world_size", "wall_s", "git", "versions", "start_time", "end_time", "final", "best"]:
        assert key in on_disk, key
    assert set(on_disk["versions"]) >= {"python", "torch", "torchvision"}
    assert on_disk["final"]["epoch"] == 2 and on_disk["best"]["val_top1_err"] <= on_disk["final"]["val_top1_err"]


def test_same_seed_same_metrics_different_seed_differs(make_config):
    cfgs = [make_config(["seed=3", "trainer.epochs=2"], "a"), make_config(["seed=3", "trainer.epochs=2"], "b"),
            make_config(["seed=4", "trainer.epochs=2"], "c")]
    for cfg in cfgs:
        ablate.train(cfg)
    a, b, c = (pd.read_csv(f"{cfg.out_dir}/metrics.csv") for cfg in cfgs)
    cols = ["train_loss", "train_err", "val_loss", "val_top1_err", "val_top5_err"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert not a["train_loss"].equals(c["train_loss"])


def test_training_learns_the_synthetic_task(make_config):
    summary = ablate.train(make_config(["data.subset=1000", "trainer.epochs=4"]))
    assert summary["final"]["val_top1_err"] < 0.5  # chance is 0.9


def test_completed_run_is_not_trained_again(make_config, caplog):
    caplog.set_level(logging.INFO, logger="ablate")
    cfg = make_config()
    first = ablate.train(cfg)
    second = ablate.train(cfg)
    assert second["start_time"] == first["start_time"]
    assert "already completed" in caplog.text


def test_diverged_run_ends_normally_with_its_step(make_config, caplog):
    summary = ablate.train(make_config(["optim.lr=1e6", "trainer.epochs=3"]))
    said = [r for r in caplog.records if "diverged at step" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING  # a run that diverged says so
    assert summary["status"] == "diverged"
    assert summary["diverged_step"] >= 1


def test_exception_marks_the_run_failed_and_keeps_the_traceback(make_config, monkeypatch):
    import ablate.fit

    def boom(*args, **kwargs):
        raise RuntimeError("injected")
    cfg = make_config()
    monkeypatch.setattr(ablate.fit, "evaluate", boom)  # the trainer's evaluation fails in epoch 1
    with pytest.raises(RuntimeError):
        ablate.train(cfg)
    summary = json.load(open(f"{cfg.out_dir}/summary.json"))
    assert summary["status"] == "failed" and "injected" in summary["error"]
    assert "injected" in open(f"{cfg.out_dir}/traceback.txt").read()


def test_stop_at_train_err_ends_the_run_early_as_completed(make_config):
    summary = ablate.train(make_config(["data.subset=1000", "trainer.epochs=8", "trainer.stop_at_train_err=0.5"]))
    assert summary["status"] == "completed" and summary["epochs_completed"] < 8
    assert summary["final"]["train_err"] <= 0.5 and "stop_at_train_err" in summary["stopped_early"]


@pytest.mark.parametrize("flush", [True, False])
def test_trainer_flush_denormal_sets_cpu_subnormals_to_zero_and_leaves_the_run_identity_alone(make_config, flush):
    import torch

    from ablate.identity import fingerprint
    cfg = make_config([f"trainer.flush_denormal={str(flush).lower()}", "trainer.epochs=1"])
    try:
        torch.set_flush_denormal(not flush)
        assert ablate.train(cfg)["status"] == "completed"
        tiny = (torch.tensor([1e-30]) * 1e-9).item()  # 1e-39: a float32 subnormal, unless flushed
        assert (tiny == 0.0) == flush
    finally:
        torch.set_flush_denormal(False)
    # speed only (bookkeeping): the same run either way, so a folder made with one value resumes under the other
    other = make_config([f"trainer.flush_denormal={str(not flush).lower()}", "trainer.epochs=1"])
    assert fingerprint(cfg.to_dict()) == fingerprint(other.to_dict())
