"""What follows from the specs is checked in up to date: the README's and docs/axes.md's axes and models tables,
the --help text, the every-value sweep lists and the wandb sweep files (`python -m ablate.generated` rewrites them)."""

import subprocess
import sys

import pytest

from ablate import generated
from tests.conftest import REPO


def test_generated_files_are_up_to_date():
    stale = [str(p.relative_to(REPO)) for p in generated.stale()]
    assert not stale, f"stale, rewrite them with `python -m ablate.generated`: {stale}"


@pytest.mark.parametrize("axis", generated.SHOWN, ids=lambda a: a.axis)
def test_every_value_and_option_is_documented_in_the_tables_and_help(axis):
    readme, docs = (REPO / "README.md").read_text(), (REPO / "docs" / "axes.md").read_text()
    for spec in axis.specs():
        for text in (readme, docs):
            assert f"`{spec.name}`" in text.split("<!-- axes:begin -->")[1].split("<!-- axes:end -->")[0]
        assert spec.name in generated.help_text()
        for key in spec.keys:
            assert f"`{axis.section}.{key}`" in generated.axes_table()


def test_every_value_sweeps_list_every_value_and_the_rest_of_the_file_is_kept():
    text = "hydra:\n  sweeper:\n    params:\n      model.norm: lrn  # every value (generated)\n      seed: 0,1\n"
    assert generated.sweep_text(text) == text.replace("lrn  #", f"{','.join(generated.NORMS.names())}  #")
    grid = (REPO / "sweeps" / "grid.yaml").read_text()
    assert "cells × 3 seeds" in grid and generated.sweep_text(grid) == grid


def test_help_lists_every_axis_value():
    proc = subprocess.run([sys.executable, "-m", "ablate", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    for axis in generated.SHOWN:
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(f"{axis.axis}: "))
        assert [v.rstrip("*") for v in line.split(": ", 1)[1].split(", ")] == axis.names()
