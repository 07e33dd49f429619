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
