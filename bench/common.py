"""What the benchmark scripts share: repeat statistics, machine description, the CIFAR-10 root, markdown."""

from __future__ import annotations

import datetime
import os
import platform
import socket
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ablate.provenance import cpu_model, git_state

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Stat:
    """Repeated measurements of one quantity: median and range."""
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def lo(self) -> float:
        return min(self.values)

    @property
    def hi(self) -> float:
        return max(self.values)

    def fmt(self, digits: int = 3, scale: float = 1.0) -> str:
        return f"{self.median * scale:,.{digits}f} ({self.lo * scale:,.{digits}f}–{self.hi * scale:,.{digits}f})"

    def to_dict(self) -> dict:
        return {"median": self.median, "min": self.lo, "max": self.hi, "values": self.values}


def default_cifar_root() -> Path:
    """`shared/data/cifar10` in the nearest folder above the checkout that has one (worktrees sit deeper)."""
    for parent in REPO.parents:
        candidate = parent / "shared" / "data" / "cifar10"
        if (candidate / "train").is_dir():
            return candidate
    return REPO.parent / "shared" / "data" / "cifar10"


def machine_name() -> str:
    """The host name when it says something, else the core count ('2core')."""
    host = socket.gethostname().split(".")[0]
    generic = (host in ("", "localhost", "vm", "ubuntu", "debian")
               or len(host) >= 12 and all(c in "0123456789abcdef" for c in host))  # a container id
    return f"{os.cpu_count()}core" if generic else host


def today() -> str:
    return datetime.date.today().isoformat()


def git_sha() -> str:
    """The short SHA of the code measured, "+dirty" when it had uncommitted changes."""
    git = git_state()
    return "?" if not git["sha"] else git["sha"][:7] + ("+dirty" if git["dirty"] else "")


def machine_lines(threads: int) -> list[str]:
    import torch
    import torchvision

    mem = ""
    try:
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    load = os.getloadavg()
    return [f"- Machine: `{machine_name()}`, {cpu_model()}, {os.cpu_count()} CPU cores visible{mem}",
            f"- Versions: Python {platform.python_version()}, torch {torch.__version__}, torchvision "
            f"{torchvision.__version__}, ablate at git {git_sha()}",
            f"- torch intra-op threads: {threads}; load average at the start (1/5/15 min): "
            f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
            f"- Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`"]


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    align = ["---"] + ["---:"] * (len(header) - 1)
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |",
            *["| " + " | ".join(str(c) for c in row) + " |" for row in rows]]


def goal_line(name: str, met: bool, detail: str) -> str:
    return f"- **{name}: {'met' if met else 'MISSED'}** — {detail}"


def time_fwd_bwd(fn, x, grad, repeats: int, iters: int, warmup: int = 1, autocast=None) -> Stat:
    """Milliseconds per forward + backward of `fn(x)` (optionally under autocast to that dtype):
    `repeats` timings of `iters` calls each, after `warmup` calls."""
    import contextlib

    import torch

    def step():
        ctx = torch.autocast(x.device.type, dtype=autocast) if autocast else contextlib.nullcontext()
        with ctx:
            y = fn(x)
        torch.autograd.grad(y, x, grad.to(y.dtype))

    def sync():
        if x.is_cuda:
            torch.cuda.synchronize(x.device)

    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        sync()
        times.append((time.perf_counter() - t0) / iters * 1e3)
    return Stat(times)
