"""The claims index (reports/index.md) and README's results block are what reports/claims.py and
reports/sync_readme.py make from the committed reports: a stale copy fails here (re-run both scripts)."""

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _scripts():
    sys.path.insert(0, str(REPO / "reports"))
    try:
        import claims
        import sync_readme
    finally:
        sys.path.remove(str(REPO / "reports"))
    return claims, sync_readme


def test_claims_index_and_readme_results_are_up_to_date():
    claims, sync_readme = _scripts()
    assert (REPO / "reports" / "index.md").read_text() == claims.page(), "run python reports/claims.py"
    readme = (REPO / "README.md").read_text()
    committed = re.search(r"<!-- results:begin -->.*?<!-- results:end -->", readme, flags=re.S).group(0)
    assert committed == sync_readme.block(), "run python reports/sync_readme.py"


def test_a_measured_claims_note_is_shown_under_the_index_and_in_the_readme():
    claims, sync_readme = _scripts()
    noted = [e for e in claims.CLAIMS if e.note and (REPO / "reports" / e.report / "index.md").exists()]
    assert noted  # Figure 1's pick of each activation's fastest lr is read through its note
    page, block = claims.page(), sync_readme.block()
    for entry in noted:
        line = f"- {entry.claim} — {entry.note}."
        assert line in page.splitlines() and line in block.splitlines(), entry.claim


def test_every_claim_names_sweeps_that_exist_and_a_paper_number():
    claims, _ = _scripts()
    for entry in claims.CLAIMS:
        assert entry.paper and entry.claim
        for sweep in entry.sweeps:
            assert (REPO / "sweeps" / f"{sweep}.yaml").exists(), sweep


def test_a_speed_claim_without_its_selection_aware_interval_shows_the_fixed_lr_one_but_is_not_judged_on_it():
    import math

    import pandas as pd
    claims, _ = _scripts()
    nan = math.nan
    table = pd.DataFrame({"row": ["measured"] * 3, "lr": ["0.001", "fastest (relu 0.001, tanh 0.005)",
                                                           "fastest, lrs held fixed (relu 0.001, tanh 0.005)"],
                          "tanh_over_relu": [nan, 4.23, 4.23], "tanh_over_relu_lo": [nan, nan, 3.9],
                          "tanh_over_relu_hi": [nan, nan, 4.6], "tanh_over_relu_bound": ["", "", ""],
                          "tanh_n": [1, 1, 3], "relu_n": [3, 1, 3]})
    ours, judged = claims.speed_cell(table)
    assert ours == "4.23× (lrs held fixed: [3.90, 4.60]), n=3/3 (lr relu 0.001, tanh 0.005)"
    assert judged == "inconclusive (no interval)"


def test_a_speed_claim_says_when_its_interval_redraws_a_cell_with_fewer_seeds_than_the_picks():
    import pandas as pd
    claims, _ = _scripts()
    lrs = ["0.001", "0.002", "0.005", "fastest (relu 0.002, tanh 0.005)",
           "fastest, lrs held fixed (relu 0.002, tanh 0.005)"]
    table = pd.DataFrame({"row": ["measured"] * 5, "lr": lrs, "tanh_over_relu": [9.0, 5.0, 2.0, 4.3, 4.3],
                          "tanh_over_relu_lo": [8.0, 4.0, 1.0, 3.0, 3.4], "tanh_over_relu_hi": [10.0, 6.0, 3.0, 5.8, 5.5],
                          "tanh_over_relu_bound": [""] * 5,
                          "tanh_n": [1, 3, 3, 3, 3], "tanh_reached": [0, 2, 3, 3, 3],  # censored cells: not redrawn
                          "relu_n": [2, 3, 3, 3, 3], "relu_reached": [2, 3, 3, 3, 3]})
    ours, judged = claims.speed_cell(table)
    assert ours == ("4.30× [3.00, 5.80], n=3/3 (lr relu 0.002, tanh 0.005; 2 seeds at some other lr the pick is "
                    "redone over)")
    assert judged == "direction only"
    table.loc[0, "relu_n"] = table.loc[0, "relu_reached"] = 3
    assert claims.speed_cell(table)[0] == "4.30× [3.00, 5.80], n=3/3 (lr relu 0.002, tanh 0.005)"


def test_a_censored_speed_row_of_the_delta_table_is_shown_as_the_bound_it_is():
    import math

    import pandas as pd
    claims, _ = _scripts()
    row = claims.Row("table_delta", "model.activation", "tanh", "epochs to 40% train err (ratio)")
    table = pd.DataFrame({"row": ["measured"], "axis": ["model.activation"], "value": ["tanh"], "baseline": ["relu"],
                          "measure": [row.measure], "delta": [3.87], "delta_lo": [math.nan], "delta_hi": [math.nan],
                          "delta_bound": ["lower bound"], "n_value": [3], "n_baseline": [3],
                          "verdict": ["reproduced direction"]})
    ours, judged = claims.delta_cell(table, row)
    assert ours.startswith("> 3.87× (a lower bound") and ours.endswith("n=3/3") and judged == "reproduced direction"
    table[["delta_lo", "delta_hi", "delta_bound"]] = [[3.1, 4.9, ""]]
    assert claims.delta_cell(table, row)[0] == "3.87× [3.10, 4.90], n=3/3"


def test_readme_takes_each_provenance_item_whole():
    _, sync_readme = _scripts()
    text = "# Provenance\n\n- Status: **partial**: seed 0 done,\n  seeds 1-2 queued.\n- Runs: one line.\n\n  not an item\n"
    assert sync_readme.bullets(text) == ["- Status: **partial**: seed 0 done, seeds 1-2 queued.", "- Runs: one line."]


def test_several_arms_on_one_line_each_read_from_its_own_row_and_a_missing_one_said_not_run():
    import pandas as pd
    claims, _ = _scripts()
    table = pd.DataFrame({"row": ["measured"] * 3, "axis": ["model.activation"] * 3,
                          "value": ["leaky_relu", "gelu", "gelu"], "baseline": ["relu"] * 3,
                          "measure": ["top-1 err (pts)", "top-1 err (pts)", "top-5 err (pts)"],
                          "delta": [0.29, -1.5, 9.0], "delta_lo": [-2.66, -2.0, 8.0], "delta_hi": [3.24, -1.0, 10.0],
                          "delta_bound": ["", "", ""], "n_value": [3, 2, 2], "n_baseline": [3, 3, 3],
                          "verdict": ["no claim"] * 3})
    row = claims.Row("table_delta", "model.activation", values=("leaky_relu", "elu", "gelu"))
    ours, verdicts = claims.values_cell(table, row)
    assert ours == ("leaky_relu +0.29 pts [-2.66, +3.24], n=3/3; elu: not run yet; "
                    "gelu -1.50 pts [-2.00, -1.00], n=2/3")
    assert verdicts == "no claim"


def test_a_speed_ratio_without_censored_runs_is_shown_as_measured():
    import io

    import pandas as pd
    claims, _ = _scripts()
    csv = ("axis,value,baseline,n_value,n_baseline,measure,delta,delta_lo,delta_hi,delta_bound,verdict,row\n"
           "model.activation,elu,relu,3,3,epochs to 40% train err (ratio),0.75,0.6,0.9,,no claim,measured\n")
    table = pd.read_csv(io.StringIO(csv), keep_default_na=False, na_values=[""])  # as answer() reads the report
    row = claims.Row("table_delta", "model.activation", "elu", "epochs to 40% train err (ratio)")
    assert claims.delta_cell(table, row) == ("0.75× [0.60, 0.90], n=3/3", "no claim")


def test_a_claim_row_falls_back_to_the_name_the_report_gives_when_only_its_pair_ran():
    import pandas as pd
    claims, _ = _scripts()
    table = pd.DataFrame({"row": ["measured"], "axis": ["model.towers (with model.width)"], "value": ["1"],
                          "baseline": ["2"], "measure": ["top-1 err (pts)"], "delta": [2.0], "delta_lo": [1.0],
                          "delta_hi": [3.0], "delta_bound": [""], "n_value": [3], "n_baseline": [3],
                          "verdict": ["reproduced direction"]})
    grid = claims.Row("table_delta", "model.towers, model.width", "towers=1, width=0.125")
    assert claims.delta_cell(table, grid) is None
    pair = claims.Row("table_delta", "model.towers (with model.width)", "1")
    got = claims.delta_cell(table, claims.replace(grid, fallback=pair))
    assert got == ("+2.00 pts [+1.00, +3.00], n=3/3", "reproduced direction")


def test_a_pair_the_report_could_not_score_is_said_unscored_not_missing(tmp_path):
    """The report's note for a pair whose runs lack training-split scores (tables._unscored_note, worded as the
    report writes it) reaches the index as 'not scored', naming whose runs; other pairs keep 'runs missing'."""
    import pandas as pd

    from ablate.report.tables import _unscored_note
    claims, _ = _scripts()
    runs = {"status": ["completed"] * 3, "epochs_logged": [20] * 3}
    scored = pd.DataFrame({**runs, "eval_train_top1_err": [0.2, 0.21, 0.22]})
    bare = pd.DataFrame({**runs, "eval_train_top1_err": [None] * 3})
    (note,) = _unscored_note(("model.regularizer", "none", "dropout"), bare, scored, claimed=True)
    (tmp_path / "table_delta.md").write_text(f"| a | table |\n\n{note}\n")
    row = claims.Row("table_delta", "model.regularizer", "none", "train-test gap (pts)")
    ours, verdict = claims.unscored_cell(tmp_path, row)
    assert ours.startswith("not scored: the runs of none (3 completed) have no training-split score")
    assert verdict == "—"
    assert claims.unscored_cell(tmp_path, claims.replace(row, value="dropconnect")) is None
    assert claims.unscored_cell(tmp_path, claims.replace(row, baseline="none")) is None
    assert claims.unscored_cell(tmp_path, claims.replace(row, measure="top-1 err (pts)")) is None
