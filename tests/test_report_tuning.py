"""`ablate-report --tune KEY`: each variant at its own best value of KEY, picked on validation error (§5's weight
decay: coupled and decoupled at three strengths each, none at none), and §5's training-error claim."""

import json
import shutil

import pandas as pd
import pytest
import yaml

from ablate.report.command import main as report_main
from tests.test_report_handmade import config, linear, write_run

# (style, λ) -> (val top-1 %, test top-1 %, train top-1 % in eval mode): decoupled is best at another λ than coupled,
# and the test error alone would pick another λ for coupled (5e-4) than validation does (5e-3).
CELLS = {("coupled", 5e-4): (26.0, 24.0, 10.0), ("coupled", 5e-3): (25.0, 25.0, 11.0),
         ("coupled", 5e-2): (30.0, 30.0, 20.0), ("decoupled", 5e-4): (29.0, 29.0, 14.0),
         ("decoupled", 5e-3): (27.0, 27.0, 12.0), ("decoupled", 5e-2): (28.0, 28.0, 13.0),
         ("none", 0.0): (28.0, 28.0, 16.0)}


def make_decay_sweep(root, val_split=True):
    for (style, decay), (val, test, train) in CELLS.items():
        for seed in range(3):
            cfg = config(seed=seed)
            cfg["optim"].update(weight_decay_style=style, weight_decay=decay)
            folder = write_run(root / f"{style}_{decay:g}_s{seed}", cfg, linear(3, 6), test + 0.3 * seed, 10.0,
                               val_offset=(val - test) / 100 if val_split else 0.0)
            (folder / "evals").mkdir()
            (folder / "evals" / "train.json").write_text(json.dumps(
                {"split": "train", "epoch": 6, "loss": 1.0, "top1_err": (train + 0.2 * seed) / 100, "top5_err": 0.01}))
    return root


def _delta(out):
    table = pd.read_csv(out / "table_delta.csv", dtype=str)
    return {(r["value"], r["measure"]): r for _, r in table.iterrows()}


def test_each_variant_is_compared_at_its_own_pick_on_validation(tmp_path, capsys):
    runs, out = make_decay_sweep(tmp_path / "runs"), tmp_path / "rep"
    assert report_main([str(runs), "--tune", "optim.weight_decay", "--out", str(out), "--format", "md,csv"]) == 0
    tuning = pd.read_csv(out / "table_tuning.csv", dtype=str)
    picked = {(r["group"], r["value"]) for _, r in tuning[tuning["picked"] == "picked"].iterrows()}
    assert picked == {("weight_decay_style=coupled", "0.005"), ("weight_decay_style=decoupled", "0.005"),
                      ("weight_decay_style=none", "0")}
    assert len(tuning) == 7 and set(tuning["n"]) == {"3"}
    # how fast each value trains is shown beside the error that picks it: the runs' own epochs to 25%
    summary = pd.read_csv(out / "runs_summary.csv")
    coupled = summary[summary["run"].str.startswith("coupled_0.005")]["epochs_to_threshold"]
    cell = tuning[(tuning["group"] == "weight_decay_style=coupled") & (tuning["value"] == "0.005")].iloc[0]
    assert coupled.notna().all() and float(cell["epochs"]) == pytest.approx(coupled.mean())
    assert "Epochs to 25% train err" in (out / "table_tuning.md").read_text()
    rows = _delta(out)
    # coupled at 5e-3 (test 25.0 + seed spread) against none (28.0) and decoupled at 5e-3 (27.0): +3 and +2 points
    assert float(rows[("none", "top-1 err (pts)")]["delta"]) == pytest.approx(3.0)
    assert float(rows[("decoupled", "top-1 err (pts)")]["delta"]) == pytest.approx(2.0)
    train = rows[("none", "train top-1 err (pts)")]
    assert float(train["delta"]) == pytest.approx(5.0) and train["verdict"] == "reproduced direction" and train["source"] == "§5, imagenet"
    assert ("decoupled", "train top-1 err (pts)") not in rows  # no claim about it: no row
    assert set(pd.read_csv(out / "runs.csv")["run"].str[:4]) == {"coup", "deco", "none"}  # every run recorded
    assert len(pd.read_csv(out / "runs_summary.csv")) == 21
    index = (out / "index.md").read_text()
    assert "at its own picked value (optim.weight_decay: each variant at its own best value" in index
    assert "picked on validation top-1" in index


def test_tune_refuses_without_a_validation_split_and_names_the_fix(tmp_path, capsys):
    runs = make_decay_sweep(tmp_path / "runs", val_split=False)
    assert report_main([str(runs), "--tune", "optim.weight_decay", "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    assert "no validation split apart from test" in err and "data.val_size > 0" in err
    assert not (tmp_path / "rep").exists()  # refused before any work
    assert report_main([str(runs), "--tune", "optim.lr", "--out", str(tmp_path / "rep")]) == 2
    assert "not an axis of these runs" in capsys.readouterr().err


def test_in_a_campaign_folder_only_and_tune_keep_the_decay_runs_and_the_shared_cell(tmp_path, capsys):
    """The claims folder also holds the shared cell (the layer file's per-layer decay, λ = 0) and other claims'
    arms; `--only model.layer_decay` names the axis of its entries (model.layer_decay.conv1, ...)."""
    runs = make_decay_sweep(tmp_path / "runs")
    for folder in runs.iterdir():  # the sweep switches the per-layer values off
        cfg = yaml.safe_load((folder / "config.yaml").read_text())
        cfg["model"]["layer_decay"] = None
        (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    for seed in range(3):
        for norm in ("lrn", "none"):  # the shared cell, and another claim's arm
            cfg = config(seed=seed, norm=norm)
            cfg["model"]["layer_decay"] = {"conv1": 0.004, "fc10": 0.03}
            cfg["optim"].update(weight_decay=0.0)
            write_run(runs / f"shared_{norm}_s{seed}", cfg, linear(3, 6), 26.0 + seed, 10.0, val_offset=0.01)
    out = tmp_path / "rep"
    assert report_main([str(runs), "--only", "optim.weight_decay_style", "--only", "optim.weight_decay", "--only",
                        "model.layer_decay", "--tune", "optim.weight_decay", "--out", str(out), "--format", "csv"]) == 0
    tuning = pd.read_csv(out / "table_tuning.csv", dtype=str)
    assert len(tuning) == 8 and tuning["group"].str.contains("norm").sum() == 0  # norm=none left out by --only
    rows = _delta(out)
    assert float(rows[("none", "top-1 err (pts)")]["delta"]) == pytest.approx(3.0)  # at layer_decay unset
    assert ("0.004", "top-1 err (pts)") in rows  # the layer file's per-layer decay against the tuned global λ


def test_a_value_where_a_seed_diverged_is_not_picked_and_the_table_says_why(tmp_path):
    """decoupled 5e-2 gets the best validation error of its style on two seeds, but its third seed diverged: the
    pick stays at 5e-3, and the tuning table counts the diverged run and the run recorded twice (a table where
    every run is counted has no such column)."""
    runs = make_decay_sweep(tmp_path / "runs")
    for seed in (0, 1):
        cfg = yaml.safe_load((runs / f"decoupled_0.05_s{seed}" / "config.yaml").read_text())
        write_run(runs / f"decoupled_0.05_best_s{seed}", {**cfg, "seed": seed + 10}, linear(3, 6), 20.0, 10.0,
                  val_offset=0.0)
    cfg = {**yaml.safe_load((runs / "decoupled_0.05_s2" / "config.yaml").read_text()), "seed": 12}
    write_run(runs / "decoupled_0.05_nan", cfg, [0.9], 90.0, 50.0, status="diverged", diverged_step=7)
    shutil.copytree(runs / "coupled_0.005_s0", runs / "coupled_0.005_s0_again")  # one run recorded twice
    out = tmp_path / "rep"
    assert report_main([str(runs), "--tune", "optim.weight_decay", "--out", str(out), "--format", "md,csv"]) == 0
    tuning = pd.read_csv(out / "table_tuning.csv", dtype=str, keep_default_na=False)
    rows = {(r["group"], r["value"]): r for _, r in tuning.iterrows()}
    unstable = rows[("weight_decay_style=decoupled", "0.05")]
    assert unstable["n"] == "5" and unstable["not_counted"] == "1 diverged" and unstable["picked"] == ""
    assert float(unstable["val_top1"]) < float(rows[("weight_decay_style=decoupled", "0.005")]["val_top1"])
    assert rows[("weight_decay_style=decoupled", "0.005")]["picked"] == "picked"
    assert rows[("weight_decay_style=coupled", "0.005")]["not_counted"] == "1 recorded twice (counted once)"
    assert rows[("weight_decay_style=coupled", "0.005")]["n"] == "3" and rows[("weight_decay_style=none", "0")]["not_counted"] == "—"
    assert "A value at which any seed diverged is not picked" in (out / "table_tuning.md").read_text()
    # where every run completed, no column
    clean = make_decay_sweep(tmp_path / "clean")
    assert report_main([str(clean), "--tune", "optim.weight_decay", "--out", str(tmp_path / "rep2"),
                        "--format", "csv"]) == 0
    assert "not_counted" not in pd.read_csv(tmp_path / "rep2" / "table_tuning.csv").columns
