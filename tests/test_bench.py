"""The benchmark scripts run end to end and write their reports (tiny sizes; the numbers are not checked)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def run_script(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ, WANDB_MODE="disabled", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_cpu_bench_quick_writes_every_section(tmp_path):
    out = tmp_path / "cpu.md"
    run_script([str(REPO / "bench" / "cpu.py"), "--quick", "--out", str(out)], tmp_path)
    report = out.read_text()
    for heading in ("## Goals", "## 1. Harness overhead", "## 2. End-to-end epoch on CIFAR-10",
                    "## 3. Peak memory", "## 4. Start-up"):
        assert heading in report
    results = json.loads(out.with_suffix(".json").read_text())
    assert results["quick"] is True
    ratio = results["overhead"]["ratio"]
    assert len(ratio["values"]) == 2 and 0 < ratio["min"] <= ratio["median"] <= ratio["max"]
    assert "harness overhead ≤ 1.05×" in report
    if "skipped" in results:  # no CIFAR-10 on this machine: the three data sections say so
        assert report.count("skipped: no CIFAR-10") == 3
    else:
        assert results["e2e"]["train"]["images"] == 3 * 128
        assert results["runs"]["peak_rss_mib"]["median"] > 100
        first = results["runs"]["first_step_s"]["median"]
        assert 0 < results["runs"]["bar_s"]["median"] <= first < results["runs"]["wall_s"]["median"]
        assert "peak RSS ≤ 2 GiB" in report


def test_gpu_bench_cpu_mode_runs_every_section(tmp_path):
    out = tmp_path / "gpu.md"
    run_script([str(REPO / "bench" / "gpu_bench.py"), "--cpu", "--out", str(out)], tmp_path)
    report = out.read_text()
    results = json.loads(out.with_suffix(".json").read_text())
    sections = results["sections"]
    failed = {name: r["error"] for name, r in sections.items() if "error" in r}
    assert not failed, failed
    assert set(sections) == {"fig1", "alexnet", "lrn", "packed_sweep", "fig1_compiled"}
    assert sections["fig1_compiled"]["skipped"]  # inductor compile is GPU only
    for heading in ("## Fig-1 net (convnet4), eager", "## Paper AlexNet", "## LRN: eager vs compiled",
                    "## Packed sweep"):
        assert heading in report
    assert sections["alexnet"]["counted_forward_gmac"] == pytest.approx(0.72, abs=0.01)
    assert sections["packed_sweep"]["packed_runs_per_hour"] > 0
    assert "MFU" in report


def test_lrn_bench_quick_times_every_shape(tmp_path):
    out = tmp_path / "lrn.md"
    run_script([str(REPO / "bench" / "lrn.py"), "--quick", "--repeats", "2", "--iters", "1", "--out", str(out)],
               tmp_path)
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["shape"] for r in rows][0] == "convnet4 conv1" and len(rows) == 5
    assert all(len(r["torch_ms"]["values"]) == 2 and r["ablate_ms"]["median"] > 0 for r in rows)
    assert "| AlexNet conv1 (two towers) | 2×96×55×55 |" in out.read_text()
