"""ablate as a package: one version, report-only imports without torch, and a wheel that works from anywhere."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

import ablate
from tests.conftest import REPO


def python(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, **kwargs)


def test_reports_and_load_runs_never_import_torch():
    proc = python("import sys, ablate, ablate.report.__main__\n"
                  "ablate.load_runs; ablate.Config\n"
                  "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))", cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_one_version_for_the_package_and_both_commands():
    for module in ("ablate", "ablate.report"):
        proc = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True,
                              timeout=120, cwd=REPO)
        assert proc.returncode == 0 and proc.stdout.strip() == f"ablate {ablate.__version__}", proc.stderr
    assert 'version = { attr = "ablate.__version__" }' in (REPO / "pyproject.toml").read_text()


def _source_tree(dest):
    """What a build reads (pyproject.toml's files), copied: building in the checkout would leave build/ there."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("ablate", "conf", "sweeps"):
        shutil.copytree(REPO / name, dest / name, symlinks=True, ignore=skip)  # conf/sweeps stays a link
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, dest / name)
    return dest


@pytest.mark.slow
def test_the_wheel_runs_a_job_and_a_report_from_outside_the_checkout(tmp_path):
    """The built wheel, installed without dependencies into a folder of its own (they come from this environment:
    no second torch), from a folder that is not the checkout: configs, sweeps and the embedded data ship inside."""
    src, site, work = _source_tree(tmp_path / "src"), tmp_path / "site", tmp_path / "work"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run([*pip, "wheel", str(src), "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist")],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("ablate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"ablate/conf/train.yaml", "ablate/conf/sweeps/norm.yaml", "ablate/conf/__init__.py",
            "ablate/data/assets/cifar10_mini/train_cat.webp"} <= set(names)
    assert any(n.endswith("licenses/LICENSE") for n in names)
    installed = subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-3000:]
    work.mkdir()
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(site),
           "WANDB_MODE": "disabled"}

    def run(*args):
        return subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    where = run(sys.executable, "-c", "import ablate; print(ablate.__file__)")
    assert where.stdout.strip() == str(site / "ablate" / "__init__.py"), where.stderr  # the wheel, not the checkout
    assert run(str(site / "bin" / "ablate-train"), "--version").stdout.strip() == f"ablate {ablate.__version__}"
    sweep = run(str(site / "bin" / "ablate-train"), "+sweeps=norm", "--cfg", "job")
    assert sweep.returncode == 0 and "name: norm-${data.name}" in sweep.stdout, sweep.stderr[-3000:]
    job = run(str(site / "bin" / "ablate-train"), "name=wheel", "data=cifar10_mini", "trainer.epochs=1",
              "trainer.device=cpu", "trainer.threads=1")
    assert job.returncode == 0, job.stderr[-3000:]
    (folder,) = (work / "runs" / "wheel").iterdir()
    assert json.loads((folder / "summary.json").read_text())["status"] == "completed"
    assert "completed: 1 epoch(s)" in (folder / "train.log").read_text()
    scored = run(str(site / "bin" / "ablate-eval"), "runs/wheel", "--split", "train")
    assert scored.returncode == 0 and (folder / "evals" / "train.json").is_file(), scored.stderr[-3000:]
    report = run(str(site / "bin" / "ablate-report"), "runs/wheel", "--out", "report")
    assert report.returncode == 0, report.stderr[-3000:]
    assert (work / "report" / "index.md").is_file() and (work / "report" / "runs_summary.csv").is_file()
