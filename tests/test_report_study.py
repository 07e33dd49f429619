"""`ablate-report --by KEY`: Figure 1 per factor value, the epochs grid of every cell, activation statistics."""

import pandas as pd
import pytest

import ablate
from ablate.report.__main__ import main as report_main


@pytest.mark.slow
def test_a_protocol_study_report_per_input_scale(make_config, tmp_path):
    for normalize in ("paper", "standard"):
        for act in ("relu", "tanh"):
            for lr in ("0.01", "0.001"):
                for seed in (0, 1):
                    overrides = [f"data.normalize={normalize}", f"model.activation={act}", f"optim.lr={lr}",
                                 f"seed={seed}", "trainer.epochs=3", "trainer.activation_stats=true",
                                 "model.init=paper"]
                    ablate.train(make_config(overrides, f"study/{normalize}-{act}-{lr}-{seed}"))
    out = tmp_path / "report"
    assert report_main([str(tmp_path / "study"), "--by", "data.normalize", "--out", str(out),
                        "--format", "md,csv,png"]) == 0
    page = (out / "index.md").read_text()
    for normalize in ("paper", "standard"):
        assert f"Figure 1 at data.normalize={normalize}" in page
        assert (out / f"fig1_train_err_data_normalize_{normalize}.png").exists()
        assert (out / f"table_fig1_speed_data_normalize_{normalize}.md").exists()
    grid = pd.read_csv(out / "table_epochs_grid.csv")
    assert len(grid[grid["row"] == "measured"]) == 4  # 2 inputs × 2 activations, one column per lr
    assert list(grid.columns[:2]) == ["data_normalize", "activation"]
    assert {"lr_0.001", "lr_0.001_n", "lr_0.01", "lr_0.01_std", "lr_0.01_diverged"} <= set(grid.columns)
    assert ((grid["lr_0.01_n"] + grid["lr_0.01_diverged"]) == 2).all()  # every seed counted once
    assert (out / "activation_stats.png").exists() and "activation statistics" in page
    assert report_main([str(tmp_path / "study"), "--by", "data.nope", "--out", str(out)]) == 2


def test_an_extra_arm_gets_its_own_grid_rows_and_stays_out_of_the_baseline_figure(make_config, tmp_path):
    """A study folder also holding an arm (here conv1's init × 2 for tanh, as fig1_study_decompose adds): its runs
    are never averaged into the baseline cells, and Figure 1 compares the runs without the key (its default)."""
    for act, arm in (("relu", []), ("tanh", []), ("tanh", ["+model.layer_init_scale.conv1=2"])):
        for seed in (0, 1):
            overrides = [f"model.activation={act}", f"seed={seed}", "trainer.epochs=2", "model.init=paper",
                         "trainer.activation_stats=true", *arm]
            ablate.train(make_config(overrides, f"study/{act}-{len(arm)}-{seed}"))
    out = tmp_path / "report"
    assert report_main([str(tmp_path / "study"), "--by", "data.normalize", "--out", str(out),
                        "--format", "md,csv,png"]) == 0
    grid = pd.read_csv(out / "table_epochs_grid.csv", keep_default_na=False)
    grid = grid[grid["row"] == "measured"]
    arm = "model_layer_init_scale_conv1"
    assert [tuple(r) for r in grid[[arm, "activation"]].itertuples(index=False)] == [
        ("unset", "relu"), ("unset", "tanh"), ("2", "tanh")]
    assert grid["lr_0.01_n"].tolist() == [2, 2, 2]  # no cell holds another arm's runs
    speed = pd.read_csv(next(out.glob("table_fig1_speed_*.csv")))
    fastest = speed[speed["row"] == "measured"].iloc[-1]
    assert (fastest["relu_n"], fastest["tanh_n"]) == (2, 2)  # the baseline's two tanh runs, not four
    arms = pd.read_csv(out / "table_fig1_speed_arms.csv", keep_default_na=False)
    arms = arms[arms["row"] == "measured"].set_index(arm)
    assert list(arms.index) == ["unset", "2"]
    assert (arms.loc["unset", "relu_n"], arms.loc["unset", "tanh_n"]) == (2, 2)
    assert arms.loc["unset", "runs"] == "this arm's runs"
    assert arms.loc["2", "runs"] == "relu: baseline arm's runs"  # the arm ran tanh only
    assert arms.loc["2", "tanh_over_relu"] != "" and arms.loc["2", "tanh_n"] == 2
    assert (out / "activation_stats_arms.png").exists()  # the statistics of each arm's own runs


def test_an_arm_whose_runs_all_diverged_says_so_instead_of_borrowing_the_baseline(make_config, tmp_path):
    """An arm that ran relu with no completed run (here: diverged) shows '1 diverged' in its relu entry and no
    ratio; the baseline arm's relu numbers stand in only for an activation an arm never ran."""
    runs = [("relu", "0.01", []), ("tanh", "0.01", []),
            ("relu", "1e6", ["+optim.layer_lr_mult.conv1=4"]), ("tanh", "0.01", ["+optim.layer_lr_mult.conv1=4"])]
    for act, lr, arm in runs:
        overrides = [f"model.activation={act}", f"optim.lr={lr}", "trainer.epochs=1", "model.init=paper", *arm]
        ablate.train(make_config(overrides, f"study/{act}-{lr}-{len(arm)}"))
    out = tmp_path / "report"
    assert report_main([str(tmp_path / "study"), "--by", "data.normalize", "--out", str(out), "--format",
                        "md,csv"]) == 0
    arms = pd.read_csv(out / "table_fig1_speed_arms.csv", keep_default_na=False)
    arms = arms[arms["row"] == "measured"].set_index("optim_layer_lr_mult_conv1")
    assert arms.loc["4", "relu"] == "" and arms.loc["4", "relu_n"] == 0 and arms.loc["4", "relu_diverged"] == "1"
    assert arms.loc["4", "tanh_n"] == 1 and arms.loc["4", "tanh_over_relu"] == ""
    assert arms.loc["4", "runs"] == "relu: no completed run"
    assert arms.loc["unset", "relu_n"] == 1 and arms.loc["unset", "runs"] == "this arm's runs"
    assert "| 1 diverged |" in (out / "table_fig1_speed_arms.md").read_text()


def test_an_arm_of_a_key_every_run_records_borrows_relu_from_the_arm_at_its_baseline(make_config, tmp_path):
    """The LeCun-tanh arm (model.tanh_a=1.7159, tanh_b=2/3) runs tanh only; plain runs record tanh_a=1, tanh_b=1
    (not unset), and their arm is still the baseline whose relu the LeCun row borrows, listed first."""
    for act, arm in (("relu", []), ("tanh", []), ("tanh", ["model.tanh_a=1.7159", "model.tanh_b=0.6667"])):
        for seed in (0, 1):
            overrides = [f"model.activation={act}", f"seed={seed}", "trainer.epochs=2", "model.init=paper", *arm]
            ablate.train(make_config(overrides, f"study/{act}-{len(arm)}-{seed}"))
    out = tmp_path / "report"
    assert report_main([str(tmp_path / "study"), "--by", "data.normalize", "--out", str(out), "--format", "csv"]) == 0
    arms = pd.read_csv(out / "table_fig1_speed_arms.csv", keep_default_na=False, dtype=str)
    arms = arms[arms["row"] == "measured"].set_index("model_tanh_a")
    assert list(arms.index) == ["1", "1.7159"]  # the baseline arm first
    assert arms.loc["1", "runs"] == "this arm's runs"
    assert arms.loc["1.7159", "runs"] == "relu: baseline arm's runs"
    assert arms.loc["1.7159", "relu"] == arms.loc["1", "relu"] and arms.loc["1.7159", "tanh_over_relu"] != ""
    grid = pd.read_csv(out / "table_epochs_grid.csv", keep_default_na=False, dtype=str)
    grid = grid[grid["row"] == "measured"]
    assert [tuple(r) for r in grid[["model_tanh_a", "activation"]].itertuples(index=False)] == [
        ("1", "relu"), ("1", "tanh"), ("1.7159", "tanh")]


def test_an_arm_whose_neighbouring_lr_has_one_seed_still_shows_the_interval_of_its_picked_cells(tmp_path):
    """The interval that redoes the lr pick needs n >= 2 at every lr that reached the threshold; with a neighbour
    at one seed the row says 'n < 2' there, and 'lrs held fixed' gives the plain interval of the two picked cells
    (n = 3 each), as the per-input speed tables do."""
    from ablate.report.collect import collect
    from ablate.report.runtable import per_run
    from ablate.report.study import arm_speed_table
    from tests.test_report_handmade import config, linear, write_run
    cells = {("relu", 0.01): [3.7, 4.1, 4.3], ("tanh", 0.01): [7.6, 8.1, 8.4], ("tanh", 0.02): [9.0]}
    for (act, lr), crossings in cells.items():
        for s, cross in enumerate(crossings):
            cfg = config(s, act, lr=lr)
            cfg["data"]["normalize"] = "paper"
            write_run(tmp_path / f"{act}-{lr}-{s}", cfg, linear(cross, 12), 30, 5)
    table, _ = arm_speed_table(per_run(collect([tmp_path]), 0.25), "data.normalize", {})
    row = dict(zip(table.columns, table.cells[0], strict=True))
    assert row["tanh lr"] == "0.01" and row["tanh / relu [95% CI]"].text().endswith("[n < 2]")
    held = row["lrs held fixed"]
    assert held.lo < 8.03 / 4.03 < held.hi and held.text() == f"{held.ratio:.2f}× [{held.lo:.2f}, {held.hi:.2f}]"
