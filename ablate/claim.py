"""One writer per run folder, and the decision to start, resume or skip it.

`claim(out_dir, config)` is entered before any work:
1. it takes the folder's lock: `flock` on `.lock`, exclusive and non-blocking, held until the run ends and
   released by the OS however the process dies (kill -9 included; flock works on local disks and on NFSv4).
   A second launcher gets one error naming the holder (pid, host, start time, command);
2. if the folder already holds results (a checkpoint or logged epochs), it checks that they are this run's:
   the stored config must agree with `config` on every identity key (`ablate.identity`), else one error
   names the keys that differ and the ways out;
3. it says whether the run is already final (completed or diverged), in which case it is skipped.
Nothing is written to the folder by a launcher that is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablate.identity import differences, differences_text, fingerprint
from ablate.registry import ConfigError
from ablate.runfolder import FINAL, RunFolder, Status, now_iso

try:
    import fcntl
except ImportError:  # not on POSIX: no lock (documented)
    fcntl = None


class RunFolderError(ConfigError):
    """The run folder cannot be used by this launch (in use, or holding another config's results)."""


class RunLock:
    def __init__(self, folder: Path):
        self.path = Path(folder) / ".lock"
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = self._read(fd)
            os.close(fd)
            raise RunFolderError(
                f"{self.path.parent} is in use by another launch ({holder}); only one process may write a run "
                "folder. Wait for it to finish (or stop it), or run this one under another name (name=...)"
            ) from None
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": now_iso(), "argv": sys.argv}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        self.fd = fd
        return self

    @staticmethod
    def _read(fd: int) -> str:
        try:
            holder = json.loads(os.pread(fd, 65536, 0) or b"{}")
        except (OSError, ValueError):
            holder = {}
        if not holder:
            return "holder details not written yet"
        return (f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}: "
                f"{' '.join(map(str, holder.get('argv') or []))}")

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


@dataclass
class Claim:
    run: RunFolder
    previous: dict[str, Any] | None  # the summary found in the folder, if any
    done: bool  # already completed or diverged: nothing to do
    same_as: Path | None = None  # a sibling folder that completed this very run (see identical_sibling)
    extend_from: Path | None = None  # a sibling that completed this run with fewer epochs (see shorter_sibling)


def mismatch_error(folder: Path, what: str, detail: str) -> RunFolderError:
    return RunFolderError(
        f"{folder} holds results of a different {what}, so this run was neither resumed nor skipped:\n{detail}\n"
        "Nothing was run or written. Ways out: run this config under another name (name=...), move that folder "
        "away (its numbers belong to its config.yaml), or set the keys above back to the folder's values.")


def check_config(run: RunFolder, config: dict[str, Any], stored: dict[str, Any] | None,
                 previous: dict[str, Any] | None) -> None:
    """Raise when the folder's results were computed under another config than `config`."""
    if stored is not None:
        rows = differences(stored, config)
        if rows:
            raise mismatch_error(run.path, "config", differences_text(rows))
    elif previous and previous.get("fingerprint") and previous["fingerprint"] != fingerprint(config):
        raise mismatch_error(run.path, "config", "  (config.yaml is unreadable; summary.json's fingerprint "
                                                 f"{previous['fingerprint']} differs from {fingerprint(config)})")


def check_data(run: RunFolder, previous: dict[str, Any] | None, identity: str | None) -> None:
    """Raise when the folder's results were computed on other data than `identity` (data.root may move)."""
    before = ((previous or {}).get("data") or {}).get("identity")
    if before and identity and before != identity:
        raise mismatch_error(run.path, "data set",
                             f"  data content {before} in the folder, {identity} at data.root now")


def identical_sibling(folder: Path, config: dict[str, Any]) -> Path | None:
    """A completed folder beside `folder` (in the same runs/<name>/) holding the very same run: the same
    identity (`ablate.identity.fingerprint`) and the same data.root. Sweeps that share a baseline cell under
    different override names (model.pool=overlap is model.norm=none when both are the defaults) compute it once.
    """
    want = fingerprint(config)
    root = (config.get("data") or {}).get("root")
    for summary_path in sorted(folder.parent.glob("*/summary.json")):
        other = RunFolder(summary_path.parent)
        if other.path == folder:
            continue
        summary = other.read_summary()
        if not summary or summary.get("status") != Status.COMPLETED or summary.get("fingerprint") != want:
            continue
        if summary.get("same_as") is None and ((other.read_config() or {}).get("data") or {}).get("root") == root:
            return other.path
    return None


def shorter_sibling(folder: Path, config: dict[str, Any]) -> tuple[Path, bool] | None:
    """A completed folder beside `folder` holding this run cut at a smaller trainer.epochs (every other identity
    key and data.root the same), and whether it stopped early at trainer.stop_at_train_err (then it is this very
    run: a longer budget would have stopped at the same epoch). The longest such sibling; the caller checks that
    the schedule does not read the budget."""
    root = (config.get("data") or {}).get("root")
    want = (config.get("trainer") or {}).get("epochs")
    best: tuple[int, Path, bool] | None = None
    for summary_path in sorted(folder.parent.glob("*/summary.json")):
        other = RunFolder(summary_path.parent)
        summary, stored = other.read_summary(), other.read_config()
        if (other.path == folder or not summary or not stored or summary.get("status") != Status.COMPLETED
                or summary.get("same_as") is not None or (stored.get("data") or {}).get("root") != root):
            continue
        rows = differences(stored, config)
        if [key for key, _, _ in rows] != ["trainer.epochs"] or not rows[0][1] < want:
            continue
        early = bool(summary.get("stopped_early"))
        if not early and summary.get("epochs_completed") != rows[0][1]:
            continue  # did not run out its own budget: nothing to continue from
        if best is None or rows[0][1] > best[0]:
            best = (rows[0][1], other.path, early)
    return (best[1], best[2]) if best else None


@contextlib.contextmanager
def claim(out_dir: str, config: dict[str, Any], lock: bool = True,
          data_identity: Callable[[], str | None] | None = None, reuse: bool = False,
          extend: bool = False) -> Iterator[Claim]:
    """Lock `out_dir` (if `lock`), check that what it holds is this run's, and say whether it is done; with
    `reuse`, a fresh folder also learns whether a sibling already completed the same run; with `extend`, whether
    one completed it with fewer epochs (`same_as` when that one stopped early at its threshold, else
    `extend_from`)."""
    run = RunFolder(out_dir)
    held = RunLock(run.path).acquire() if lock else None
    try:
        previous = run.read_summary(quiet=False)
        if run.has_results() or (previous and previous.get("status") in FINAL):
            stored = run.read_config()
            check_config(run, config, stored, previous)
        done = bool(previous and previous.get("status") in FINAL)
        if not done and reuse and not run.has_results():
            got = identical_sibling(run.path, config)
            if got is not None:
                yield Claim(run, previous, False, got)
                return
        if not done and extend and not run.has_results():
            shorter = shorter_sibling(run.path, config)
            if shorter is not None:
                path, early = shorter
                yield Claim(run, previous, False, path if early else None, None if early else path)
                return
        if done and data_identity is not None:  # a resumed run's data is checked once it is loaded
            moved = ((run.read_config() or {}).get("data") or {}).get("root") != config.get("data", {}).get("root")
            if moved:
                check_data(run, previous, data_identity())
        yield Claim(run, previous, done)
    finally:
        if held is not None:
            held.release()
