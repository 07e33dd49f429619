"""Claims judged on their exact pair, and an effect size judged only on the data set it was measured on.

The towers 2×2 design (§3.2: two towers at full width against one tower with half the kernels), top-1 / top-5
final test errors in %, 3 seeds per cell:
  towers=2, width=1   (the paper's net)        30, 31, 32 / 5, 6, 7
  towers=1, width=0.5 (the paper's comparison)  34, 35, 36 / 9, 10, 11 → the claim's pair: Δ +4 / +4
  towers=2, width=0.5                           40, 41, 42 / 9, 9, 9
  towers=1, width=1                             20, 21, 22 / 3, 3, 3
plus, with model.norm=none (off the baseline slice), the pair again at 50–52 and 10–12: never in the claim row.
Every other pairing of cells gives another Δ, so a row that says +4.00 used exactly the pair.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ablate.report.collect import collect
from ablate.report.design import Design
from ablate.report.runtable import per_run
from ablate.report.speed import fig1_arms
from ablate.report.tables import delta_table
from tests.test_report_handmade import RELU_ERR, T4, config, write_run

HALF = T4 * math.sqrt(2 / 3)  # Welch half-width for two 3-seed cells with std 1
DIRECTION_VERDICTS = {"reproduced direction", "reversed", "inconclusive", "inconclusive: no spread"}


def _cell(root: Path, towers: int, width: float, top1: int, top5: list[int], norm: str = "lrn",
          data: str = "cifar10_mini") -> None:
    for s in range(3):
        cfg = config(s, norm=norm, towers=towers, width=width)
        cfg["data"]["name"] = data
        write_run(root / f"t{towers}-w{width}-{norm}-{s}", cfg, RELU_ERR[s], top1 + s, top5[s])


def towers_design(root: Path, data: str = "cifar10_mini") -> Path:
    _cell(root, 2, 1.0, 30, [5, 6, 7], data=data)
    _cell(root, 1, 0.5, 34, [9, 10, 11], data=data)
    _cell(root, 2, 0.5, 40, [9, 9, 9], data=data)
    _cell(root, 1, 1.0, 20, [3, 3, 3], data=data)
    _cell(root, 2, 1.0, 10, [1, 1, 1], norm="none", data=data)
    _cell(root, 1, 0.5, 50, [20, 20, 20], norm="none", data=data)
    return root


def _table(root: Path):
    one = per_run(collect([root]), 0.25)
    design = Design.of(one)
    return delta_table(one, design, fig1_arms(one, design))


def _rows(table) -> dict[tuple[str, str, str], list[str]]:
    return {(r[0], r[1], r[4]): r for r in table.rows}


def test_towers_claim_is_judged_on_its_exact_pair_in_the_baseline_slice(tmp_path):
    table = _table(towers_design(tmp_path / "towers"))
    rows = _rows(table)
    keys, value = "model.towers, model.width, model.scale_conv5", "towers=1, width=0.5, scale_conv5=false"
    top1, top5 = rows[(keys, value, "top-1 err (pts)")], rows[(keys, value, "top-5 err (pts)")]
    assert top1[2] == "towers=2, width=1, scale_conv5=false" and top1[3] == "3/3"  # norm=none runs left out
    assert top1[5] == f"+4.00 [{4 - HALF:+.2f}, {4 + HALF:+.2f}]" and top5[5] == top1[5]
    assert top1[6] == "+1.7 (ImageNet; direction only here)" and top1[7] == "§3.2, imagenet"
    assert top1[8] == top5[8] == "reproduced direction"
    # The one-axis rows keep their design (width at the paper's 1, towers at 2) and are not the claim.
    assert rows[("model.towers", "1", "top-1 err (pts)")][5].startswith("-10.00 [")
    assert rows[("model.width", "0.5", "top-1 err (pts)")][5].startswith("+10.00 [")
    assert all(rows[(axis, v, "top-1 err (pts)")][8] == "no claim"
               for axis, v in [("model.towers", "1"), ("model.width", "0.5")])
    assert sum(r[7] == "§3.2, imagenet" for r in table.rows) == 2
    assert any("compare a claim's exact pair" in note for note in table.notes)


def test_towers_claim_on_imagenet_runs_gets_the_full_rule(tmp_path):
    rows = _rows(_table(towers_design(tmp_path / "towers", data="imagenet")))
    keys, value = "model.towers, model.width, model.scale_conv5", "towers=1, width=0.5, scale_conv5=false"
    top1 = rows[(keys, value, "top-1 err (pts)")]
    assert top1[6] == "+1.7" and top1[8] == "reproduced"  # [+1.73, +6.27] reaches past the paper's 1.7


def test_a_tied_towers_width_axis_carries_the_claim_once(tmp_path):
    root = tmp_path / "tied"
    _cell(root, 2, 1.0, 30, [5, 6, 7])
    _cell(root, 1, 0.5, 34, [9, 10, 11])
    table = _table(root)
    assert [r[0] for r in table.rows] == ["model.towers (with model.width)"] * 2  # no extra claim rows
    assert [r[8] for r in table.rows] == ["reproduced direction"] * 2 and table.rows[0][5].startswith("+4.00")


def test_the_towers_claim_holds_for_a_net_scaled_down_as_a_whole(tmp_path):
    """§3.2 on a quarter-width net (a CPU's towers claim): 2 towers at 0.25 against 1 tower at 0.125 is the pair; as a
    2×2 design the claim row finds it at that scale, and one tower at the same width is still no claim."""
    tied = tmp_path / "tied"
    _cell(tied, 2, 0.25, 30, [5, 6, 7])
    _cell(tied, 1, 0.125, 34, [9, 10, 11])
    table = _table(tied)
    assert [r[0] for r in table.rows] == ["model.towers (with model.width)"] * 2
    assert [r[8] for r in table.rows] == ["reproduced direction"] * 2 and table.rows[0][7] == "§3.2, imagenet"
    grid = tmp_path / "grid"
    for towers, width, top1 in [(2, 0.25, 30), (1, 0.125, 34), (2, 0.125, 40), (1, 0.25, 20)]:
        _cell(grid, towers, width, top1, [5, 6, 7])
    rows = _rows(_table(grid))
    keys = "model.towers, model.width, model.scale_conv5"
    top1 = rows[(keys, "towers=1, width=0.125, scale_conv5=false", "top-1 err (pts)")]
    assert top1[2] == "towers=2, width=0.25, scale_conv5=false" and top1[5].startswith("+4.00 [")
    assert rows[("model.towers", "1", "top-1 err (pts)")][8] == "no claim"  # same width: not the paper's pair


def test_towers_at_full_width_is_not_the_papers_pair(tmp_path):
    root = tmp_path / "full"
    _cell(root, 2, 1.0, 30, [5, 6, 7])
    _cell(root, 1, 1.0, 20, [3, 3, 3])
    table = _table(root)
    assert [r[8] for r in table.rows] == ["no claim", "no claim"]
    assert any(note.startswith("§3.2 (towers=1, width=0.5, scale_conv5=false against towers=2, width=1, "
                               "scale_conv5=false): that pair is not among these runs") for note in table.notes)


def _assert_direction_only(rows: list[list[str]]) -> None:
    for row in rows:
        if row[7].endswith("imagenet"):
            assert row[8] in DIRECTION_VERDICTS and "ImageNet" in row[6], row


def test_no_cifar_verdict_row_cites_an_imagenet_size(tmp_path):
    from tests.test_report_handmade import make_sweep
    for root in (towers_design(tmp_path / "towers"), make_sweep(tmp_path / "sweep")):
        table = _table(root)
        assert any(r[7].endswith("imagenet") for r in table.rows)
        _assert_direction_only(table.rows)


def test_no_committed_cifar_report_judges_an_imagenet_size():
    """The committed reports (all CIFAR-10) as regenerated: their ImageNet rows are judged on direction only."""
    reports = sorted((Path(__file__).parents[1] / "reports").glob("*/table_delta.csv"))
    assert len(reports) >= 6
    for path in reports:
        delta = pd.read_csv(path, dtype=str, keep_default_na=False)
        imagenet = delta[(delta["row"] == "measured") & delta["source"].str.endswith("imagenet")]
        assert set(imagenet["verdict"]) <= DIRECTION_VERDICTS, path
        assert set(imagenet["paper_delta_direction_only_from"]) <= {"ImageNet"}, path


def _with_eval(folder: Path, top1: float, epoch: int = 4) -> None:
    (folder / "evals").mkdir()
    (folder / "evals" / "train.json").write_text(json.dumps({"split": "train", "epoch": epoch, "loss": 1.0,
                                                             "top1_err": top1 / 100, "top5_err": 0.01}))


def test_the_overfitting_claim_is_judged_on_the_train_test_gap_of_the_final_weights(tmp_path):
    """§4.2 as the paper words it: without dropout, test error rises above training error by more. Test top-1
    30, 31, 32 (dropout) and 31, 32, 33 (none); training error in eval mode 25, 25, 25 and 10, 11, 12: gaps 5, 6, 7
    and 21, 21, 21, Δ = +15. A run whose score is of an earlier epoch (it went on since) is left out."""
    root = tmp_path / "reg"
    for s in range(3):
        for reg, top1, train in (("dropout", 30, 25), ("none", 31, 10 + s)):
            cfg = config(s)
            cfg["model"]["regularizer"] = reg
            _with_eval(write_run(root / f"{reg}-{s}", cfg, RELU_ERR[s], top1 + s, 5), train)
    cfg = config(3)
    cfg["model"]["regularizer"] = "none"
    _with_eval(write_run(root / "none-3", cfg, RELU_ERR[0], 90, 5), 0, epoch=2)
    rows = _rows(_table(root))
    gap = rows[("model.regularizer", "none", "train-test gap (pts)")]
    assert gap[3] == "3/3" and gap[5].startswith("+15.00 [") and gap[7] == "§4.2, imagenet"
    assert gap[8] == "reproduced direction"
    assert rows[("model.regularizer", "none", "top-1 err (pts)")][3] == "4/3"  # the stale score's run still counts here
    # A value none of whose runs was scored gets no gap row (rather than an empty one).
    for s in range(3):
        cfg = config(s)
        cfg["model"]["regularizer"] = "dropconnect"
        write_run(root / f"dropconnect-{s}", cfg, RELU_ERR[s], 30 + s, 5)
    table = _table(root)
    rows = _rows(table)
    assert ("model.regularizer", "dropconnect", "top-1 err (pts)") in rows
    assert ("model.regularizer", "dropconnect", "train-test gap (pts)") not in rows
    # ... and the table says why, since its baseline's runs were scored.
    why = [note for note in table.notes if "no train-test gap row" in note]
    assert len(why) == 1 and "dropconnect against dropout" in why[0] and "dropconnect (3 completed)" in why[0]
    assert "ablate-eval <run folder> --split train" in why[0]


def _scored_arms(root, section: str, key: str, arms: tuple[tuple[str, bool], ...]) -> None:
    """Three seeds of each (value, scored) arm of one axis; a scored arm's runs get a training-split score."""
    for s in range(3):
        for value, scored in arms:
            cfg = config(s)
            cfg[section][key] = value
            run = write_run(root / f"{value}-{s}", cfg, RELU_ERR[s], 30 + s, 5)
            if scored:
                _with_eval(run, 25)


def test_a_claimed_gap_that_cannot_be_measured_says_which_runs_lack_the_score(tmp_path):
    """§4.2's pair (none against dropout) with the dropout runs scored and the none runs not: no gap row, and one note
    that names none's runs and the command that scores them. The same for §4.1's pair as a claim row (none against
    crop_flip, off the axis baseline crop_flip_pca). A pair that no claim is about and whose runs are all unscored
    (the pool axis) says nothing: there is no gap a reader would look for."""
    root = tmp_path / "reg"
    _scored_arms(root, "model", "regularizer", (("dropout", True), ("none", False)))
    for s in range(3):
        cfg = config(s)
        cfg["model"]["pool"] = "nonoverlap"
        write_run(root / f"pool-{s}", cfg, RELU_ERR[s], 31 + s, 5)
    table = _table(root)
    assert ("model.regularizer", "none", "top-1 err (pts)") in _rows(table)
    assert ("model.regularizer", "none", "train-test gap (pts)") not in _rows(table)
    why = [note for note in table.notes if "no train-test gap row" in note]
    assert len(why) == 1 and "none against dropout" in why[0] and "none (3 completed)" in why[0]

    root = tmp_path / "aug"
    _scored_arms(root, "data", "augment", (("crop_flip_pca", True), ("crop_flip", True), ("none", False)))
    table = _table(root)
    assert not any(r[4] == "train-test gap (pts)" and "none" in r[1] for r in table.rows)
    why = [note for note in table.notes if "no train-test gap row" in note]
    assert any("augment=none against augment=crop_flip" in note and "augment=none (3 completed)" in note
               for note in why), why


def test_an_unscored_training_error_claim_names_the_rows_it_would_be_judged_on(tmp_path):
    """§5's pair (no weight decay against coupled) is judged on the final weights' training error: with the coupled
    runs scored and the none runs not, the note names that row as well as the gap row."""
    root = tmp_path / "wd"
    _scored_arms(root, "optim", "weight_decay_style", (("coupled", True), ("none", False)))
    table = _table(root)
    assert not any(r[4] in ("train-test gap (pts)", "train top-1 err (pts)") for r in table.rows)
    why = [note for note in table.notes if "none against coupled" in note]
    assert len(why) == 1 and "no train-test gap or train top-1 err row" in why[0] and "none (3 completed)" in why[0]


def test_a_claim_row_carries_its_gap_too(tmp_path):
    """§4.1's crops claim (none against crop_flip) compared off the axis baseline (the paper's crop_flip_pca) is a
    claim row; with scored runs it gets the gap row that judges the overfitting."""
    root = tmp_path / "aug"
    for s in range(3):
        for augment, top1, train in (("crop_flip_pca", 30, 26), ("crop_flip", 30, 25), ("none", 28, 15 + s)):
            cfg = config(s)
            cfg["data"]["augment"] = augment
            _with_eval(write_run(root / f"{augment}-{s}", cfg, RELU_ERR[s], top1 + s, 5), train)
    table = _table(root)
    gap = _rows(table)[("data.augment", "augment=none", "train-test gap (pts)")]
    assert gap[2] == "augment=crop_flip" and gap[5].startswith("+7.00 [") and gap[8] == "reproduced direction"
    assert sum("train-test gap:" in note for note in table.notes) == 1
