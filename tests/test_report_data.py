"""The report's data for pandas users and readers: run paths relative to the runs root (no machine in a committed
table), load_runs on one path or many, a one-row-per-run table, numeric table CSVs, links to wandb mirrors."""

from __future__ import annotations

from ablate.report.__main__ import main as report_main
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
