"""trainer.extend_shorter: a run whose only difference from a completed sibling is a longer budget continues
that sibling from its checkpoint, and computes exactly what a run trained whole at the longer budget computes."""

import json
from pathlib import Path

import pandas as pd
import pytest

import ablate
from ablate.registry import ConfigError
from ablate.runfolder import TIMING_COLUMNS

# A schedule with state (the lr falls every epoch), so a continuation that lost the scheduler would differ.
STEP = ["optim.schedule=step", "optim.step_size=1", "optim.step_gamma=0.5", "optim.lr=0.05"]
EXTEND = "trainer.extend_shorter=true"


def metrics(folder) -> pd.DataFrame:
    return pd.read_csv(Path(folder) / "metrics.csv").drop(columns=list(TIMING_COLUMNS))


def summary(folder) -> dict:
    return json.loads((Path(folder) / "summary.json").read_text())


def test_a_longer_budget_continues_the_shorter_run_and_computes_what_a_whole_run_computes(make_config, caplog):
    caplog.set_level("INFO", logger="ablate")
    short = make_config([*STEP, "trainer.epochs=2"], "sweep/trainer.epochs=2")
    ablate.train(short)
    before = (Path(short.out_dir) / "summary.json").read_text()
    long = make_config([*STEP, "trainer.epochs=4", EXTEND], "sweep/trainer.epochs=4")
    got = ablate.train(long)
    whole = make_config([*STEP, "trainer.epochs=4"], "whole/trainer.epochs=4")
    ablate.train(whole)
    pd.testing.assert_frame_equal(metrics(long.out_dir), metrics(whole.out_dir))  # bit for bit, lr included
    assert metrics(long.out_dir)["lr"].tolist() == [0.05, 0.025, 0.0125, 0.00625]
    timing = [pd.read_csv(Path(f) / "metrics.csv")["epoch_s"].tolist() for f in (short.out_dir, long.out_dir)]
    assert timing[1][:2] == timing[0]  # epochs 1-2 are the shorter run's own, not computed again
    assert got["status"] == "completed" and got["epochs_completed"] == 4
    origin = got["extended_from"]
    assert origin["run"] == "../trainer.epochs=2" and origin["epochs"] == 2 and origin["fingerprint"]
    assert got["fingerprint"] != origin["fingerprint"] and got["wall_s"] > origin["wall_s"]
    assert "continues" in caplog.text and (Path(long.out_dir) / "config.yaml").read_text().count("epochs: 4") == 1
    assert (Path(short.out_dir) / "summary.json").read_text() == before  # the shorter run is left as it was
    assert len(metrics(short.out_dir)) == 2
    assert ablate.train(long)["epochs_completed"] == 4  # a re-launch finds it done


def test_a_shorter_run_that_stopped_at_its_threshold_is_the_longer_run(make_config):
    stop = ["trainer.stop_at_train_err=0.99"]  # met after the first epoch
    short = make_config([*stop, "trainer.epochs=2"], "sweep/short")
    ablate.train(short)
    long = make_config([*stop, "trainer.epochs=5", EXTEND], "sweep/long")
    got = ablate.train(long)
    assert got["same_as"] == "../short" and got["epochs_completed"] == 1
    assert not (Path(long.out_dir) / "checkpoints").exists()
    pd.testing.assert_frame_equal(metrics(long.out_dir), metrics(short.out_dir))


def test_only_a_budget_difference_is_continued_and_only_when_asked(make_config):
    ablate.train(make_config([*STEP, "trainer.epochs=1"], "sweep/short"))
    other = ablate.train(make_config([*STEP, "trainer.epochs=2", "optim.lr=0.02", EXTEND], "sweep/other-lr"))
    assert "extended_from" not in other and other["epochs_completed"] == 2  # another lr: trained whole
    plain = ablate.train(make_config([*STEP, "trainer.epochs=2"], "sweep/not-asked"))
    assert "extended_from" not in plain


def test_a_shorter_run_without_a_checkpoint_leaves_the_longer_one_trained_whole(make_config, caplog):
    short = make_config(["trainer.epochs=1"], "sweep/short")
    ablate.train(short)
    for ckpt in (Path(short.out_dir) / "checkpoints").iterdir():
        ckpt.unlink()
    got = ablate.train(make_config(["trainer.epochs=2", EXTEND], "sweep/long"))
    assert "extended_from" not in got and got["epochs_completed"] == 2 and "no readable checkpoint" in caplog.text


def test_a_schedule_that_reads_the_budget_is_refused_before_any_work(make_config, tmp_path):
    with pytest.raises(ConfigError, match="trainer.extend_shorter=false"):
        make_config(["optim.schedule=cosine", EXTEND], "cosine")
    assert not (tmp_path / "cosine").exists()


def test_a_report_counts_a_continued_run_once_as_the_longer_run(make_config, tmp_path, capsys):
    from ablate.report.collect import collect
    from ablate.report.design import varying_keys
    from ablate.report.runtable import per_run
    ablate.train(make_config([*STEP, "trainer.epochs=1"], "sweep/trainer.epochs=1"))
    ablate.train(make_config([*STEP, "trainer.epochs=2", EXTEND], "sweep/trainer.epochs=2"))
    stop = ["trainer.stop_at_train_err=0.99"]  # the shorter run stopped at its threshold: recorded as the longer
    ablate.train(make_config([*stop, "trainer.epochs=2"], "stopped/trainer.epochs=2"))
    ablate.train(make_config([*stop, "trainer.epochs=3", EXTEND], "stopped/trainer.epochs=3"))
    for sweep, kept in (("sweep", "trainer.epochs=2"), ("stopped", "trainer.epochs=3")):
        one = per_run(collect(tmp_path / sweep))
        assert one["run"].tolist() == [kept] and "trainer.epochs" not in varying_keys(one)
        assert "reported as trainer.epochs" in capsys.readouterr().err
    longer = tmp_path / "sweep" / "trainer.epochs=2" / "summary.json"
    longer.write_text(json.dumps({**summary(longer.parent), "status": "running"}))  # not completed: both stay
    assert sorted(per_run(collect(tmp_path / "sweep"))["run"]) == ["trainer.epochs=1", "trainer.epochs=2"]
