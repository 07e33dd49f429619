import json
import subprocess
import sys

import pandas as pd

import ablate
from ablate.report.collect import collect
from ablate.report.command import main as report_main
from tests.conftest import REPO


def test_report_builds_runs_csv_and_figure1_from_real_runs(make_config, tmp_path, capsys):
    for act in ["relu", "tanh"]:
        for seed in [0, 1]:
            ablate.train(make_config([f"model.activation={act}", f"seed={seed}", "trainer.epochs=2"],
                                     f"sweep/{act}-{seed}"))
    out = tmp_path / "report"
    assert report_main([str(tmp_path / "sweep"), "--out", str(out)]) == 0
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 8 and runs["run"].nunique() == 4
    assert set(runs["model.activation"]) == {"relu", "tanh"}
    assert {"epoch", "train_err", "seed", "optim.lr", "status"} <= set(runs.columns)
    for name in ["fig1_train_err.png", "fig1_train_err.pdf", "curves_model_activation.png"]:
        assert (out / name).stat().st_size > 1000
    index = (out / "index.md").read_text()
    assert "epochs to 25%: relu" in index and "| model.activation | tanh | relu | 2/2 | top-1 err" in index
    assert "data:image/png;base64," in (out / "index.html").read_text()


def test_unreadable_runs_are_skipped_with_one_warning_each(make_config, tmp_path, capsys):
    ablate.train(make_config([], "runs/good"))
    bad = tmp_path / "runs" / "bad"
    bad.mkdir(parents=True)
    (bad / "summary.json").write_text("{not json")
    runs = collect([tmp_path / "runs"])
    assert runs["run"].nunique() == 1
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "bad" in err


def test_diverged_run_is_kept_with_its_status(make_config, tmp_path):
    ablate.train(make_config(["optim.lr=1e6", "trainer.epochs=2"], "runs/nan"))
    runs = collect([tmp_path / "runs"])
    assert list(runs["status"].unique()) == ["diverged"]
    assert json.load(open(tmp_path / "runs/nan/summary.json"))["status"] == "diverged"


def test_cli_report_errors_cleanly_on_empty_input(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ablate.report", str(tmp_path), "--out", str(tmp_path / "o")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no run folders" in proc.stderr


def test_load_runs_is_the_library_entry_to_run_folders(make_config, tmp_path):
    ablate.train(make_config([], "runs/one"))
    runs = ablate.load_runs([tmp_path / "runs"])
    assert runs["run"].nunique() == 1 and "model.activation" in runs
