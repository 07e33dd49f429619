"""`ablate-report` reads the runs.csv an earlier report wrote: the same report from the table as from the folders."""

from __future__ import annotations

from ablate.report.command import main as report_main
from tests.test_report_handmade import make_sweep

TABLES = ("table_delta.csv", "table_ilsvrc.csv", "table_fig1_speed.csv", "table_status.csv", "runs.csv")


def _page(path) -> list[str]:
    """index.md without the lines that name when and from what it was made."""
    lines = path.read_text().splitlines()
    made = lines.index("Made by:")
    return [ln for i, ln in enumerate(lines) if not ln.startswith("- generated") and i not in (made + 2, made + 3)]


def test_report_from_its_runs_csv_is_the_report_from_the_folders(tmp_path, capsys):
    sweep = make_sweep(tmp_path / "runs" / "hand")  # bad runs and unreadable folders included
    first, second = tmp_path / "from_folders", tmp_path / "from_table"
    assert report_main([str(sweep), "--out", str(first), "--format", "md,csv"]) == 0
    capsys.readouterr()
    assert report_main([str(first / "runs.csv"), "--out", str(second), "--format", "md,csv"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning") == 3 and "from " in err  # diverged, failed, running: one line each, as before
    for name in TABLES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert _page(first / "index.md") == _page(second / "index.md")
    assert "runs.csv --out" in (second / "index.md").read_text()


def test_at_epoch_on_a_runs_csv_matches_at_epoch_on_the_folders(tmp_path, capsys):
    sweep = make_sweep(tmp_path / "runs" / "hand")
    first, second = tmp_path / "a", tmp_path / "b"
    assert report_main([str(sweep), "--out", str(first), "--format", "csv", "--at-epoch", "3"]) == 0
    whole = tmp_path / "whole"
    assert report_main([str(sweep), "--out", str(whole), "--format", "csv"]) == 0
    assert report_main([str(whole / "runs.csv"), "--out", str(second), "--format", "csv", "--at-epoch", "3"]) == 0
    for name in TABLES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_a_csv_that_is_not_a_runs_table_is_one_clear_error(tmp_path, capsys):
    other = tmp_path / "scores.csv"
    other.write_text("model,top1\nalexnet,40.7\n")
    assert report_main([str(other), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a runs.csv written by ablate-report (no column run, status, epoch)" in err[0]


def test_the_same_run_from_a_table_and_its_folder_is_refused(tmp_path, capsys):
    sweep = make_sweep(tmp_path / "runs" / "hand")
    out = tmp_path / "o"
    assert report_main([str(sweep), "--out", str(out), "--format", "csv"]) == 0
    capsys.readouterr()
    assert report_main([str(out / "runs.csv"), str(sweep), "--out", str(tmp_path / "o2")]) == 2
    assert "is in more than one input" in capsys.readouterr().err
