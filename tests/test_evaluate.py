"""`ablate-eval`: a finished run's final weights scored again on its training split, in eval mode."""

import json

import pytest
import torch

import ablate
from ablate.data import build_data
from ablate.engine import evaluate
from ablate.evaluate import main as eval_main
from ablate.models import build_model
from ablate.provenance import machine


def test_train_split_scored_in_eval_mode_is_the_final_weights_on_the_runs_own_training_images(make_config, tmp_path):
    cfg = make_config(["data.val_size=40", "model.regularizer=dropout", "data.augment=crop_flip"], "run")
    ablate.train(cfg)
    assert eval_main([str(tmp_path / "run")]) == 0
    record = json.loads((tmp_path / "run" / "evals" / "train.json").read_text())
    assert record["split"] == "train" and record["epoch"] == 1 and record["images"] == 160  # 200 less the 40 held out
    assert record["machine"] == machine("cpu")
    # The same numbers from the weights in last.pt on the training split as validation sees a split.
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    data = build_data(cfg.data, cfg.seed, torch.device("cpu"), 50, 100)
    model = build_model(cfg.model, data.num_classes, data.image_size)
    model.load_state_dict(state["model"])
    expected = evaluate(model, data.eval_source("train"))
    assert record["top1_err"] == pytest.approx(expected["top1_err"]) and record["loss"] == pytest.approx(expected["loss"])
    # A second call leaves the record alone unless --force.
    before = (tmp_path / "run" / "evals" / "train.json").read_text()
    assert eval_main([str(tmp_path)]) == 0 and (tmp_path / "run" / "evals" / "train.json").read_text() == before


def test_a_run_that_is_not_finished_or_has_no_such_split_is_skipped_with_the_reason(make_config, tmp_path, capsys):
    ablate.train(make_config(["data.val_size=0"], "noval"))
    assert eval_main([str(tmp_path / "noval"), "--split", "val"]) == 1
    assert "no val split" in capsys.readouterr().err
    summary = tmp_path / "noval" / "summary.json"
    summary.write_text(summary.read_text().replace('"status": "completed"', '"status": "running"'))
    assert eval_main([str(tmp_path / "noval")]) == 1
    assert "status running" in capsys.readouterr().err
    assert not (tmp_path / "noval" / "evals" / "train.json").exists()
    assert eval_main([str(tmp_path / "nowhere")]) == 2


def test_a_folder_recorded_as_a_siblings_run_is_scored_with_the_siblings_weights(make_config, tmp_path):
    """Sweeps sharing a baseline cell record it once and point the other folder at it (same_as); that folder has
    no checkpoint of its own, and the report may keep either folder of the pair, so both get the score."""
    ablate.train(make_config(["trainer.reuse_identical=true"], "sweep/a"))
    ablate.train(make_config(["trainer.reuse_identical=true"], "sweep/b"))
    assert json.loads((tmp_path / "sweep" / "b" / "summary.json").read_text())["same_as"] == "../a"
    assert eval_main([str(tmp_path / "sweep")]) == 0
    a, b = (json.loads((tmp_path / "sweep" / x / "evals" / "train.json").read_text()) for x in "ab")
    assert b["weights"] == "../a" and a["weights"] == "." and a["top1_err"] == b["top1_err"]
