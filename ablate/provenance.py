"""What computed a result: the code (git SHA, dirty flag), the library versions and the processor. Run folders,
ablate-eval's scores and the benchmark reports all record it the same way."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any


def git_state() -> dict[str, Any]:
    """The SHA and dirty flag of the checkout the ablate code runs from (None outside a git checkout)."""
    where = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None
    sha = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"sha": sha, "dirty": bool(dirty) if sha else None}


def versions() -> dict[str, str]:
    import torch
    import torchvision

    import ablate
    return {"python": platform.python_version(), "torch": str(torch.__version__),
            "torchvision": str(torchvision.__version__), "ablate": ablate.__version__}


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux; what platform knows elsewhere)."""
    try:
        with open("/proc/cpuinfo") as info:
            named = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), None)
    except OSError:
        named = None
    return named or platform.processor() or platform.machine() or "unknown CPU"


def machine(device: str | None = None) -> str:
    """The processor that computed the numbers: the CPU's model, and the GPU's on CUDA. The same code and seed
    give the same bits on one processor model but not across models (other kernels, other rounding), so a cell
    whose seeds ran on several machines is told apart from a rerun that disagrees."""
    cpu, device = cpu_model(), str(device or "")
    if device.startswith("cuda"):
        import torch
        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(torch.device(device))} (host {cpu})"
    return f"Apple MPS (host {cpu})" if device.startswith("mps") else cpu
