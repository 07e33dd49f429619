"""The report's data for pandas users and readers: run paths relative to the runs root (no machine in a committed
table), load_runs on one path or many, a one-row-per-run table, numeric table CSVs, links to wandb mirrors."""

from __future__ import annotations

import pandas as pd
import pytest

import ablate
from ablate import load_runs
from ablate.report.command import main as report_main
from tests.test_report_handmade import RELU_ERR, config, write_run


def test_report_links_runs_mirrored_to_wandb_from_their_folders(tmp_path, capsys):
    url = "https://wandb.ai/team/ablate/runs/abc123"
    write_run(tmp_path / "runs" / "a", config(0), RELU_ERR[0], 30, 5,
              wandb={"id": "abc123", "project": "ablate", "entity": "team", "mode": "online", "url": url})
    write_run(tmp_path / "runs" / "b", config(1), RELU_ERR[1], 31, 5)  # not mirrored
    assert report_main([str(tmp_path / "runs"), "--out", str(tmp_path / "rep"), "--format", "md,html"]) == 0
    page = (tmp_path / "rep" / "index.md").read_text()
    assert "Mirrored to wandb: 1 of 2 runs" in page and f"a: {url}" in page
    assert url in (tmp_path / "rep" / "index.html").read_text()
    write_run(tmp_path / "plain" / "c", config(0), RELU_ERR[0], 30, 5)
    assert report_main([str(tmp_path / "plain"), "--out", str(tmp_path / "rep2"), "--format", "md"]) == 0
    assert "wandb" not in (tmp_path / "rep2" / "index.md").read_text()


def make_report(tmp_path):
    from tests.test_report_handmade import make_sweep
    sweep = make_sweep(tmp_path / "runs" / "hand")
    out = tmp_path / "rep"
    assert report_main([str(sweep), "--out", str(out), "--format", "csv,md"]) == 0
    return sweep, out


def test_run_paths_are_relative_to_the_runs_root_and_old_tables_still_read(tmp_path, capsys):
    sweep, out = make_report(tmp_path)
    runs = pd.read_csv(out / "runs.csv")
    assert set(runs["run"]) >= {"relu-0", "tanh-3", "nonoverlap-3"} and (runs["out_dir"] == runs["run"]).all()
    for name in ("runs.csv", "runs_summary.csv", "table_delta.csv", "table_status.csv"):
        assert str(tmp_path) not in (out / name).read_text(), name  # no machine in a committed report
    assert "\n- tanh-3: diverged, diverged at step 57" in (out / "index.md").read_text()  # (its command line
    # says what was typed)
    # Several roots: names relative to the deepest folder they share.
    write_run(tmp_path / "runs" / "other" / "relu-0", config(0), RELU_ERR[0], 30, 5)
    both = load_runs([tmp_path / "runs" / "hand", tmp_path / "runs" / "other"])
    assert {"hand/relu-0", "other/relu-0"} <= set(both["run"])
    # A table written before: `run` as given to ablate-report, out_dir the trainer's absolute path.
    old = runs.assign(run="runs/hand/" + runs["run"], out_dir="/home/someone/ablate/runs/hand/" + runs["run"])
    (tmp_path / "old").mkdir()
    old.to_csv(tmp_path / "old" / "runs.csv", index=False)
    again = load_runs(tmp_path / "old" / "runs.csv")
    assert sorted(set(again["run"])) == sorted(set(runs["run"])) and (again["out_dir"] == again["run"]).all()
    capsys.readouterr()


def test_load_runs_takes_one_path_or_many_folders_or_tables(tmp_path, capsys):
    sweep, out = make_report(tmp_path)
    one = ablate.load_runs(str(sweep))  # one string: one path, not its characters
    assert one["run"].nunique() == 16 and set(one["status"]) >= {"completed", "diverged", "failed"}
    assert ablate.load_runs(sweep).equals(one) and ablate.load_runs([str(sweep)]).equals(one)
    table = ablate.load_runs(out / "runs.csv")
    assert sorted(table["run"].unique()) == sorted(one["run"].unique())
    # A different sweep whose jobs share names with the table's: told apart by input, not refused, not merged.
    write_run(tmp_path / "rerun" / "relu-0", config(0), RELU_ERR[0], 30, 5, start_time="2026-01-01T00:00:00+00:00")
    mixed = ablate.load_runs([out / "runs.csv", tmp_path / "rerun"])
    assert {"rep/relu-0", "rerun/relu-0"} <= set(mixed["run"])
    capsys.readouterr()


def test_runs_summary_has_one_row_per_run_with_numbers(tmp_path, capsys):
    _, out = make_report(tmp_path)
    runs, summary = pd.read_csv(out / "runs.csv"), pd.read_csv(out / "runs_summary.csv")
    assert len(summary) == runs["run"].nunique() == summary["run"].nunique()
    relu0 = summary.set_index("run").loc["relu-0"]
    assert relu0["status"] == "completed" and relu0["final_test_top1_err"] == pytest.approx(0.31)
    assert relu0["epochs_to_threshold"] == pytest.approx(2.5) and relu0["optim.lr"] == 0.01
    for col in ("optim.lr", "seed", "final_test_top1_err", "best_val_top1_err", "epochs_logged"):
        assert pd.api.types.is_numeric_dtype(summary[col]), col


def test_table_csvs_hold_numbers_and_the_page_their_text(tmp_path, capsys):
    _, out = make_report(tmp_path)
    delta = pd.read_csv(out / "table_delta.csv")
    row = delta[(delta["axis"] == "model.norm") & (delta["measure"] == "top-1 err (pts)")].iloc[0]
    assert (row["delta"], row["delta_lo"], row["delta_hi"]) == pytest.approx((4.0, 1.733, 6.267), abs=1e-3)
    assert (row["n_value"], row["n_baseline"], row["paper_delta"]) == (3, 3, 2.0)
    assert "| +4.00 [+1.73, +6.27] | +2.0 |" in (out / "table_delta.md").read_text()  # one renderer: the text
    ilsvrc = pd.read_csv(out / "table_ilsvrc.csv")
    measured = ilsvrc[ilsvrc["row"] == "measured"]
    for col in ("n", "top1_final_test", "top1_final_test_std", "top5_best_test"):
        assert pd.api.types.is_numeric_dtype(measured[col]), col
    speed = pd.read_csv(out / "table_fig1_speed.csv")
    assert pd.api.types.is_numeric_dtype(speed["tanh_over_relu"]) and "tanh_over_relu_lo" in speed
    for name in ("table_delta.csv", "table_ilsvrc.csv", "table_fig1_speed.csv", "table_status.csv"):
        text = (out / name).read_text()
        assert "±" not in text and "×" not in text and " [" not in text, name


def test_a_folder_of_links_to_chosen_runs_is_read_and_an_input_without_runs_is_said(tmp_path, capsys):
    """Picking runs for a report by linking them into a folder of their own: each linked run is read and named by
    its link (not by where it really lives); a loop of links is entered once; an input that holds no run folder
    gets a warning rather than silently adding nothing."""
    write_run(tmp_path / "campaign" / "relu-0", config(0), RELU_ERR[0], 30, 5)
    write_run(tmp_path / "campaign" / "relu-1", config(1), RELU_ERR[1], 31, 5)
    picked = tmp_path / "picked"
    picked.mkdir()
    (picked / "relu-0").symlink_to(tmp_path / "campaign" / "relu-0", target_is_directory=True)
    (picked / "loop").symlink_to(picked, target_is_directory=True)
    runs = load_runs(picked)
    assert set(runs["run"]) == {"relu-0"} and set(runs["out_dir"]) == {"relu-0"}
    (tmp_path / "empty").mkdir()
    capsys.readouterr()
    assert set(load_runs([picked, tmp_path / "empty"])["run"]) == {"picked/relu-0"}
    assert "empty: no run folder in it" in capsys.readouterr().err
