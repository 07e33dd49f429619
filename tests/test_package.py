"""ablate as a package: one version, report-only imports without torch, and a wheel that works from anywhere."""

import subprocess
import sys

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
