"""The report on hand-made run folders with known numbers: means, std, Δ, CI, verdicts, speed-up, outputs.

The sweep (CIFAR-10 family, final test errors in %):
  relu/lrn/overlap/2 towers (the baseline cell): top-1 31, 32, 33 (mean 32, std 1); top-5 5, 5, 5
  norm=none:        top-1 35, 36, 37 → Δ +4, Welch df 4, CI 4 ± t(.975, 4)·√(2/3) = [1.733, 6.267]; top-5 6, 6, 6
  pool=nonoverlap:  top-1 28, 29, 30 → Δ −3, CI [−5.267, −0.733] (opposite to the paper's +0.4)
  towers=1 with width 0.5 (one seed) → n < 2; towers and width move together, so this is §3.2's exact pair
  tanh:             top-1 40, 41, 42; training error crosses 25% at epochs 12.5, 13, 13.5 (mean 13)
  relu crosses 25% at epochs 2.5, 2.25, 1.75 (mean 2.1667) → speed-up 13 / 2.1667 = 6.0×
plus a diverged tanh run, a failed norm=none run, a truncated (killed) pool run, an unreadable folder and a
Hydra job folder with nothing but .hydra/.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ablate.report.collect import collect
from ablate.report.command import main as report_main
from ablate.report.design import Design
from ablate.report.runtable import per_run
from ablate.report.speed import fig1_arms, speedup
from ablate.report.stats import epochs_to, t_quantile, welch_ci
from ablate.report.tables import delta_table, ilsvrc_table, verdict
from ablate.runfolder import METRIC_COLUMNS

T4 = 2.7764451051977987  # t quantile (0.975, df=4), from printed tables


def config(seed=0, activation="relu", norm="lrn", pool="overlap", towers=2, width=1.0, lr=0.01):
    return {"name": "hand", "seed": seed, "out_dir": "x",
            "model": {"name": "convnet4", "activation": activation, "norm": norm, "pool": pool,
                      "towers": towers, "width": width, "scale_conv5": False},
            "data": {"name": "cifar10_mini", "augment": "none", "test_crops": 1},
            "optim": {"lr": lr, "weight_decay_style": "coupled"},
            "trainer": {"epochs": 15, "progress": "none", "threads": seed},  # threads: bookkeeping, ignored
            "logger": {"name": "csv", "project": f"p{seed}"}}


def write_run(folder: Path, cfg: dict, train_err: list[float], top1: float, top5: float,
              status: str = "completed", truncate: bool = False, val_offset: float = 0.0, **summary) -> Path:
    """A run folder as the trainer writes it; the last epoch has test errors top1/top5 (in %)."""
    folder.mkdir(parents=True)
    n = len(train_err)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    lines = [",".join(METRIC_COLUMNS)]
    for e, err in enumerate(train_err, 1):
        t1 = top1 / 100 + 0.01 * (n - e)  # improving to the final value at the last epoch
        t5 = top5 / 100 + 0.01 * (n - e)
        row = dict(epoch=e, step=10 * e, lr=cfg["optim"]["lr"], train_loss=1.0, train_err=err, val_loss=1.0,
                   val_top1_err=t1 + val_offset, val_top5_err=t5 + val_offset, test_loss=1.0, test_top1_err=t1, test_top5_err=t5,
                   epoch_s=1.0, images_per_s=100.0)
        lines.append(",".join(str(row[c]) for c in METRIC_COLUMNS))
    text = "\r\n".join(lines) + "\r\n"
    (folder / "metrics.csv").write_text(text[:-9] if truncate else text)
    (folder / "summary.json").write_text(json.dumps(
        {"status": status, "seed": cfg["seed"], "params": 1234, "world_size": 1, "wall_s": 1.0,
         "git": {"sha": "abc123def4567890", "dirty": False}, "versions": {"ablate": "0.1.0", "torch": "2.x"},
         "start_time": "2025-01-01T00:00:00+00:00", "end_time": "2025-01-01T01:00:00+00:00",
         "epochs_completed": n, **summary}))
    return folder


def linear(cross: float, epochs: int) -> list[float]:
    """Training error falling 5 points per epoch through 25% at epoch `cross`."""
    return [min(0.9, 0.25 + 0.05 * (cross - e)) for e in range(1, epochs + 1)]


RELU_ERR = [[0.6, 0.3, 0.2, 0.1], [0.5, 0.3, 0.1, 0.05], [0.4, 0.2, 0.1, 0.05]]  # cross 2.5, 2.25, 1.75


def make_sweep(root: Path) -> Path:
    for s in range(3):
        write_run(root / f"relu-{s}", config(s), RELU_ERR[s], 31 + s, 5)
        write_run(root / f"none-{s}", config(s, norm="none"), RELU_ERR[s], 35 + s, 6)
        write_run(root / f"nonoverlap-{s}", config(s, pool="nonoverlap"), RELU_ERR[s], 28 + s, 4)
        write_run(root / f"tanh-{s}", config(s, "tanh"), linear(12.5 + 0.5 * s, 15), 40 + s, 8)
    write_run(root / "towers1-0", config(0, towers=1, width=0.5), RELU_ERR[0], 33, 5)
    write_run(root / "tanh-3", config(3, "tanh"), [0.8, 0.7], 80, 50, status="diverged", diverged_step=57)
    write_run(root / "none-3", config(3, norm="none"), [0.5], 50, 20, status="failed", error="RuntimeError: boom")
    write_run(root / "nonoverlap-3", config(3, pool="nonoverlap"), RELU_ERR[0], 10, 1, status="running",
              truncate=True)
    (root / "garbage").mkdir()
    (root / "garbage" / "summary.json").write_text("{not json")
    (root / "hydra-only" / ".hydra").mkdir(parents=True)
    (root / "hydra-only" / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


@pytest.fixture
def sweep(tmp_path) -> Path:
    return make_sweep(tmp_path / "runs" / "hand")


def analysed(root: Path):
    one = per_run(collect([root]), 0.25)
    design = Design.of(one)
    return one, design, fig1_arms(one, design)


def test_t_quantile_matches_printed_tables():
    for df, t in [(1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228), (30, 2.042), (1e6, 1.960)]:
        assert t_quantile(0.975, df) == pytest.approx(t, abs=5e-4)
    assert t_quantile(0.975, 4) == pytest.approx(T4, rel=1e-9)
    assert t_quantile(0.025, 7) == pytest.approx(-t_quantile(0.975, 7))


def test_welch_ci_and_epochs_to_by_hand():
    delta, lo, hi = welch_ci([35, 36, 37], [31, 32, 33])
    half = T4 * math.sqrt(2 / 3)
    assert (delta, lo, hi) == pytest.approx((4, 4 - half, 4 + half))
    assert math.isnan(welch_ci([1.0], [2.0, 3.0])[1])
    delta, lo, hi = welch_ci([6.0, 6.0, 6.0], [5.0, 5.0, 5.0])  # no spread: no interval, never a zero-width one
    assert delta == 1 and math.isnan(lo) and math.isnan(hi)
    assert welch_ci([6.0, 6.0, 6.0], [5.0, 5.5, 6.0])[1] < 1  # one side varying is enough
    assert epochs_to([1, 2, 3], [0.6, 0.3, 0.2], 0.25) == pytest.approx(2.5)
    assert epochs_to([1, 2, 3], [0.2, 0.1, 0.1], 0.25) == 1  # already below at the first logged epoch
    assert math.isnan(epochs_to([1, 2], [0.9, 0.5], 0.25))


def test_collect_keeps_bad_runs_visible_with_one_warning_each(sweep, capsys):
    runs = collect([sweep])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5, err  # diverged, failed, truncated, garbage, hydra-only; completed runs are silent
    text = "\n".join(err)
    assert "tanh-3: status diverged at step 57" in text and "RuntimeError: boom" in text
    assert "nonoverlap-3: status running" in text and "truncated last line" in text
    assert re.search(r"garbage: skipped: unreadable summary.json", text) and "hydra-only: skipped" in text
    statuses = runs.groupby("run")["status"].first().value_counts().to_dict()
    assert statuses == {"completed": 13, "diverged": 1, "failed": 1, "running": 1}
    assert len(runs[runs["run"].str.endswith("nonoverlap-3")]) == 3  # 4 epochs written, the cut 4th dropped
    assert {"model.activation", "optim.weight_decay_style", "seed", "test_top1_err", "epoch"} <= set(runs)


def test_design_finds_axes_baselines_and_tied_keys(sweep):
    one, design, _ = analysed(sweep)
    keys = {a.key: a for a in design.axes}
    assert set(keys) == {"model.activation", "model.norm", "model.pool", "model.towers"}  # no seed/threads/logger
    assert keys["model.towers"].tied == ["model.width"] and keys["model.towers"].baseline == "2"
    assert [keys[k].baseline for k in ("model.activation", "model.norm", "model.pool")] == ["relu", "lrn", "overlap"]
    assert Design.of(one, {"model.norm": "none"}).axis("model.norm").values == ["none", "lrn"]


def _rows(table):
    return {(r[0].split(" ")[0], r[1], r[4]): r for r in table.rows}


def test_delta_table_by_hand(sweep):
    one, design, arms = analysed(sweep)
    rows = _rows(delta_table(one, design, arms))
    half = T4 * math.sqrt(2 / 3)
    none1 = rows[("model.norm", "none", "top-1 err (pts)")]
    assert none1[3] == "3/3" and none1[5] == f"+4.00 [{4 - half:+.2f}, {4 + half:+.2f}]"
    assert none1[6] == "+2.0" and none1[7] == "§3.3, cifar10" and none1[8] == "reproduced"
    none5 = rows[("model.norm", "none", "top-5 err (pts)")]  # 6, 6, 6 against 5, 5, 5
    assert none5[5] == "+1.00 [no spread]" and none5[8] == "inconclusive: no spread"
    assert none5[6] == "+1.2 (ImageNet; direction only here)"  # no CIFAR-10 top-5 number in the paper
    pool = rows[("model.pool", "nonoverlap", "top-1 err (pts)")]  # judged on direction: the +0.4 is ImageNet's
    assert pool[5] == f"-3.00 [{-3 - half:+.2f}, {-3 + half:+.2f}]" and pool[8] == "reversed"
    assert pool[6] == "+0.4 (ImageNet; direction only here)"
    towers = rows[("model.towers", "1", "top-1 err (pts)")]
    assert towers[7] == "§3.2, imagenet" and towers[8] == "inconclusive"  # the exact pair, one seed
    assert rows[("model.activation", "tanh", "top-1 err (pts)")][8] == "no claim"
    speed = rows[("model.activation", "tanh", "epochs to 25% train err (ratio)")]
    assert speed[5].startswith("6.00× [") and speed[6] == "6×" and speed[8] == "reproduced"


def test_verdict_rule_as_written():
    from ablate.report.paper import CLAIMS
    claim = CLAIMS[0]  # LRN: +1.4, sign +
    assert verdict(0.5, 2.0, (3, 3), claim, 1.4) == "reproduced"
    assert verdict(1.6, 2.0, (3, 3), claim, 1.4) == "reproduced"  # larger than the paper's effect
    assert verdict(0.2, 0.9, (3, 3), claim, 1.4) == "direction only"  # the paper's size is ruled out
    assert verdict(0.2, 0.9, (3, 3), claim, 1.4, censored="value") == "direction only"
    assert verdict(0.2, 0.9, (3, 3), claim, None, censored="value") == "reproduced"  # a direction alone: met
    assert verdict(-2.0, -0.5, (3, 3), claim, 1.4) == "not reproduced"
    assert verdict(-0.5, 1.0, (3, 3), claim, 1.4) == "not reproduced"  # contains 0, rules out +1.4
    assert verdict(-0.5, 2.0, (3, 3), claim, 1.4) == "inconclusive"
    assert verdict(0.5, 2.0, (1, 3), claim, 1.4) == "inconclusive"
    assert verdict(0.5, 2.0, (3, 3), None, None) == "no claim"
    assert verdict(0.5, 2.0, (3, 3), claim, 1.4, censored="baseline") == "inconclusive"
    assert verdict(-0.5, 1.0, (3, 3), claim, 1.4, censored="value") == "inconclusive"
    assert verdict(math.nan, math.nan, (3, 3), claim, 1.4) == "inconclusive: no spread"
    assert verdict(math.nan, math.nan, (1, 3), claim, 1.4) == "inconclusive"
    # another data set's effect size: the direction alone is judged
    assert verdict(0.2, 0.9, (3, 3), claim, 1.4, direction=True) == "reproduced direction"
    assert verdict(1.6, 2.0, (3, 3), claim, 1.4, direction=True) == "reproduced direction"
    assert verdict(-2.0, -0.5, (3, 3), claim, 1.4, direction=True) == "reversed"
    assert verdict(-0.5, 1.0, (3, 3), claim, 1.4, direction=True) == "inconclusive"  # not 'not reproduced'
    assert verdict(math.nan, math.nan, (3, 3), claim, 1.4, direction=True) == "inconclusive: no spread"
    assert verdict(0.2, 0.9, (3, 3), claim, 1.4, censored="value", direction=True) == "reproduced direction"


def test_ilsvrc_table_means_std_and_paper_rows(sweep):
    one, design, _ = analysed(sweep)
    table = ilsvrc_table(one, design)
    assert table.columns[:4] == ["Variant", "n", "Test crops", "Not counted"]
    by_name = {r[0]: r for r in table.rows}
    base = by_name["activation=relu, norm=lrn, pool=overlap, towers=2"]
    assert base[1] == "3" and base[4:8] == ["32.00 ± 1.00", "5.00 ± 0.00", "32.00 ± 1.00", "5.00 ± 0.00"]
    tanh = by_name["activation=tanh, norm=lrn, pool=overlap, towers=2"]
    assert tanh[1] == "3" and tanh[3] == "1 diverged" and tanh[4] == "41.00 ± 1.00"
    assert by_name["activation=relu, norm=none, pool=overlap, towers=2"][3] == "1 failed"
    assert by_name["activation=relu, norm=lrn, pool=overlap, towers=1"][4] == "33.00"  # n=1: no std
    refs = {r[0]: r for r in table.reference_rows}
    assert refs["CNN (Table 1, ILSVRC-2010 test)"][4:6] == ["37.5", "17.0"]
    assert refs["7 CNNs* (Table 2, ILSVRC-2012 test)"][5] == "15.3"
    assert refs["SIFT + FVs (Table 2, ILSVRC-2012 test)"][5] == "26.2"


def test_speedup_interpolates_and_reports_censored_runs(sweep, tmp_path):
    one, design, arms = analysed(sweep)
    speed = speedup(arms)
    assert [a.activation for a in arms] == ["relu", "tanh"] and len(arms[1].runs) == 3  # diverged one left out
    assert speed.fast.mean == pytest.approx((2.5 + 2.25 + 1.75) / 3) and speed.slow.mean == pytest.approx(13)
    assert speed.ratio == pytest.approx(6.0) and speed.kind == "exact"
    assert "relu 2.2 ± 0.4 (n=3), tanh 13.0 ± 0.5 (n=3) → 6.0×" in speed.text()
    slow = tmp_path / "slow"  # tanh never reaching 25% in 10 epochs: a lower bound, never dropped
    for s in range(2):
        write_run(slow / f"relu-{s}", config(s), RELU_ERR[s], 31, 5)
        write_run(slow / f"tanh-{s}", config(s, "tanh"), [0.8] * 10, 60, 20)
    one, design, arms = analysed(slow)
    speed = speedup(arms)
    assert speed.kind == "at_least" and "tanh > 10.0 (0/2 runs reached it)" in speed.text()
    assert "→ > 4.2×" in speed.text()


def test_fig1_picks_each_activations_fastest_lr(tmp_path):
    for s in range(2):
        write_run(tmp_path / f"relu-a{s}", config(s, lr=0.01), linear(4, 8), 30, 5)
        write_run(tmp_path / f"relu-b{s}", config(s, lr=0.05), linear(2, 8), 30, 5)
        write_run(tmp_path / f"tanh-a{s}", config(s, "tanh", lr=0.01), linear(6, 8), 30, 5)
        write_run(tmp_path / f"tanh-b{s}", config(s, "tanh", lr=0.05), [0.9] * 8, 30, 5)
    one, design, arms = analysed(tmp_path)
    assert [(a.activation, a.lr, a.lr_choices) for a in arms] == [("relu", "0.05", ["0.01", "0.05"]),
                                                                   ("tanh", "0.01", ["0.01", "0.05"])]
    assert "relu (lr 0.05) 2.0" in speedup(arms).text() and "→ 3.0×" in speedup(arms).text()


def _balanced(tex: str) -> bool:
    depth = 0
    for ch in re.sub(r"\\[{}]", "", tex):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def test_cli_writes_every_output(sweep, tmp_path, capsys):
    out = tmp_path / "report"
    assert report_main([str(sweep), "--out", str(out)]) == 0
    runs = pd.read_csv(out / "runs.csv")
    assert runs["run"].nunique() == 16 and "diverged" in set(runs["status"])
    for stem in ["fig1_train_err", "curves_model_norm", "final_model_pool", "curves_model_towers"]:
        for ext in ("png", "pdf"):
            assert (out / f"{stem}.{ext}").stat().st_size > 1000
    md = (out / "table_delta.md").read_text()
    assert "| model.norm | none | lrn | 3/3 | top-1 err (pts) | +4.00 [+1.73, +6.27] | +2.0 |" in md
    assert "Verdict rule." in md
    for name in ("table_delta", "table_ilsvrc", "table_fig1_speed"):
        tex = (out / f"{name}.tex").read_text()
        assert _balanced(tex) and tex.count(r"\toprule") == tex.count(r"\bottomrule") == 1
        assert tex.isascii(), "a sign pdflatex cannot set: map it in render._LATEX_SIGNS"
        body = re.sub(r"\\[_%&#$]", "", tex.split(r"\toprule")[1])
        assert not re.search(r"[_%#]", body), "unescaped LaTeX special character"
        rows = [ln for ln in body.splitlines() if ln.endswith(r"\\") and "multicolumn" not in ln]
        ncol = len(re.search(r"\\begin\{tabular\}\{(\w+)\}", tex).group(1))
        assert all(ln.count("&") - ln.count(r"\&") == ncol - 1 for ln in rows)
    page = (out / "index.html").read_text()
    assert page.count("data:image/png;base64,") >= 9 and "src=\"http" not in page and ".png\"" not in page
    index = (out / "index.md").read_text()
    assert "ablate-report" in index and "abc123def456" in index and "diverged at step 57" in index
    assert "![fig1_train_err](fig1_train_err.png)" in index


def test_cli_format_and_baseline_options(sweep, tmp_path, capsys):
    out = tmp_path / "md-only"
    assert report_main([str(sweep), "--out", str(out), "--format", "md,tex", "--baseline", "model.norm=none"]) == 0
    assert (out / "index.md").exists() and (out / "table_delta.tex").exists()
    assert not list(out.glob("*.png")) and not (out / "index.html").exists()
    assert "| model.norm | lrn | none | 3/3 | top-1 err (pts) | -4.00" in (out / "table_delta.md").read_text()
    capsys.readouterr()
    assert report_main([str(sweep), "--out", str(out), "--baseline", "model.nrom=lrn"]) == 2
    assert "no config key model.nrom" in capsys.readouterr().err
    assert report_main([str(sweep), "--out", str(out), "--baseline", "model.norm=bn"]) == 2
    assert "values in the runs: lrn, none" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        report_main([str(sweep), "--out", str(out), "--format", "docx"])


def test_degenerate_inputs_still_make_a_report(tmp_path, capsys):
    """A single run, and a sweep where every run failed before its first epoch: a report, no crash."""
    single = write_run(tmp_path / "one" / "run", config(0), RELU_ERR[0], 30, 5)
    assert report_main([str(single), "--out", str(tmp_path / "o1")]) == 0
    assert "| all runs | 1 |" in (tmp_path / "o1" / "table_ilsvrc.md").read_text()
    for act in ("relu", "tanh"):
        folder = write_run(tmp_path / "dead" / act, config(0, act), [], 0, 0, status="failed", error="OOM")
        (folder / "metrics.csv").write_text(",".join(METRIC_COLUMNS) + "\r\n")
    assert report_main([str(tmp_path / "dead"), "--out", str(tmp_path / "o2")]) == 0
    delta = (tmp_path / "o2" / "table_delta.md").read_text()
    assert "| model.activation | tanh | relu | 0/0 | top-1 err (pts) | — | — | — | no claim |" in delta
    assert "error: OOM" in (tmp_path / "o2" / "index.md").read_text()


def test_separate_validation_split_gets_its_own_columns_and_curves(tmp_path):
    for s in range(2):
        write_run(tmp_path / f"relu-{s}", config(s), RELU_ERR[s], 30 + s, 5, val_offset=0.02)
        write_run(tmp_path / f"tanh-{s}", config(s, "tanh"), RELU_ERR[s], 40 + s, 5, val_offset=0.02)
    out = tmp_path / "out"
    assert report_main([str(tmp_path), "--out", str(out), "--format", "md,png"]) == 0
    md = (out / "table_ilsvrc.md").read_text()
    assert "Top-1 final (val) | Top-5 final (val) | Top-1 best (val)" in md and "Top-1 final (test)" in md
    assert "| 2 | 1 | — | 32.50 ± 0.71 |" in md and "| 30.50 ± 0.71 |" in md  # val = test + 2 points
    assert (out / "curves_model_activation.png").stat().st_size > 1000


def test_config_keys_named_like_metrics_stay_config_keys(tmp_path):
    """trainer.stop_at_train_err ends in _err but is a config key, not a metric (a float axis would crash)."""
    from ablate.report.collect import collect
    from ablate.report.design import Design
    from ablate.report.runtable import per_run
    for name, lr, rows in [("a", 0.01, "1,10,0.01,1.0,0.5\n"), ("b", 0.02, "")]:
        run = tmp_path / name
        run.mkdir()
        (run / "config.yaml").write_text(f"seed: 0\noptim:\n  lr: {lr}\ntrainer:\n  stop_at_train_err: 0.25\n")
        (run / "summary.json").write_text('{"status": "completed"}')
        (run / "metrics.csv").write_text("epoch,step,lr,train_loss,train_err\n" + rows)
    one = per_run(collect([tmp_path]), 0.25)
    assert not any(c.startswith(("final_trainer", "best_trainer")) for c in one.columns)
    assert [a.key for a in Design.of(one).axes] == ["optim.lr"]


def test_at_epoch_compares_unfinished_runs_at_an_equal_budget(tmp_path):
    from ablate.report.collect import collect
    from ablate.report.command import cut_at_epoch
    for name, status, n in [("long", "running", 5), ("short", "preempted", 2), ("done", "completed", 3)]:
        run = tmp_path / name
        run.mkdir()
        (run / "config.yaml").write_text(f"seed: 0\nname: {name}\n")
        (run / "summary.json").write_text(f'{{"status": "{status}"}}')
        rows = "".join(f"{e},{e},0.1,1.0,{1 - e / 10}\\n" for e in range(1, n + 1))
        (run / "metrics.csv").write_text("epoch,step,lr,train_loss,train_err\n" + rows.replace("\\n", "\n"))
    cut = cut_at_epoch(collect([tmp_path]), 3)
    last = cut.groupby("run")["epoch"].max()
    status = cut.groupby("run")["status"].first()
    assert last.max() == 3 and status["long"] == "completed"  # runs named relative to the folder given
    assert status["done"] == "completed" and status["short"] == "preempted"


def test_table_builders_give_numbers_and_the_renderer_aligns_by_type(sweep):
    """Outside the label columns (config values such as towers=1 name a variant), a cell that reads as a number
    is one (or a Cell holding numbers); only the renderer formats, and it right-aligns the number columns."""
    from ablate.report.cells import is_number
    from ablate.report.render import Table
    from ablate.report.speed import speed_table
    from ablate.report.tables import status_table
    one, design, arms = analysed(sweep)
    for table in (ilsvrc_table(one, design), delta_table(one, design, arms), status_table(one, design),
                  speed_table(arms)):
        labels = [i for i, c in enumerate(table.columns) if c in ("Axis", "Value", "Baseline", "Variant", "lr")]
        for row in table.cells:
            for cell in (c for i, c in enumerate(row) if i not in labels):
                if isinstance(cell, str):
                    with pytest.raises(ValueError):
                        float(cell)
    table = Table("t", "caption", ["label", "count", "text", "empty"], [["a", 3, "12", None], ["b", 4, "x", None]])
    assert table.markdown().splitlines()[3] == "| --- | ---: | --- | --- |"
    assert table.frame()["count"].tolist() == [3, 4] and is_number(3.5) and not is_number(True)


def test_the_page_names_the_machines_a_cell_ran_on(tmp_path):
    write_run(tmp_path / "runs" / "a", config(seed=0), linear(3, 6), 30.0, 10.0, machine="CPU A")
    write_run(tmp_path / "runs" / "b", config(seed=1), linear(3, 6), 31.0, 10.0)  # from before the field
    assert report_main([str(tmp_path / "runs"), "--out", str(tmp_path / "rep"), "--format", "md,csv"]) == 0
    index = (tmp_path / "rep" / "index.md").read_text()
    assert "machines: CPU A (1 runs); unknown (not recorded) (1 runs) (one seed gives other bits" in index
    summary = pd.read_csv(tmp_path / "rep" / "runs_summary.csv").set_index("run")["machine"]
    assert summary["a"] == "CPU A" and summary.isna()["b"]


def test_a_held_out_validation_split_is_named_even_where_its_errors_equal_the_tests(tmp_path):
    """Runs stuck at chance have val = test = 90% to the digit: the configs' data.val_size, not the numbers, say
    whether validation was a separate split."""
    for s in range(2):
        cfg = config(s)
        cfg["data"]["val_size"] = 5000
        write_run(tmp_path / f"relu-{s}", cfg, RELU_ERR[s], 90, 50)
    out = tmp_path / "out"
    assert report_main([str(tmp_path), "--out", str(out), "--format", "md"]) == 0
    md = (out / "table_ilsvrc.md").read_text()
    assert "Top-1 final (val)" in md and "No separate validation split" not in md
