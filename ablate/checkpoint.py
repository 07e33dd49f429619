"""Checkpoints that survive kill -9: written atomically, the last two kept, loaded with `weights_only=True`.

A checkpoint holds plain containers only (tensors, numbers, strings, lists, dicts): model, optimizer,
scheduler and grad-scaler state, the position in the data order (epoch, batch), the epoch's running metric
sums, and every RNG state (python, numpy, torch, cuda), so a resumed run continues bit for bit.
"""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ablate.atomic import atomic_write

LAST, PREVIOUS = "last.pt", "previous.pt"


def rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": list(random.getstate()[1]), "python_version": random.getstate()[0],
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached": float(cached)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate((state["python_version"], tuple(state["python"]), None))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(folder: Path, state: dict[str, Any]) -> Path:
    """Write `last.pt` atomically (temp file, fsync, rename), keeping the one before as `previous.pt`.

    The newest complete checkpoint is `last.pt` or, while a new one is written (or after a crash mid-write),
    `previous.pt`: `load_latest` reads whichever it finds first."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / LAST).exists():
        os.replace(folder / LAST, folder / PREVIOUS)
    atomic_write(folder / LAST, lambda f: torch.save(state, f), fsync=True)
    return folder / LAST


def load_latest(folder: Path, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
    """The newest readable checkpoint; a corrupt or truncated one is skipped with a warning."""
    for name in (LAST, PREVIOUS):
        path = folder / name
        if not path.exists():
            continue
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # truncated zip, bad pickle, wrong magic: all mean "unusable"
            warnings.warn(f"checkpoint {path} is unreadable ({type(err).__name__}: {err}); trying an older one",
                          stacklevel=2)
    return None


def copy_as(source: Path, folder: Path, config: dict[str, Any], summary: dict[str, Any]) -> bool:
    """The newest readable checkpoint in `source`, saved into `folder` as a checkpoint of the run `config` (its
    records as of then: `summary`), for a run that continues another; False when `source` has none."""
    state = load_latest(source)
    if state is None:
        return False
    state.update(config=config, summary=summary, mirror_id=None)  # its wandb run is the source's, not this one's
    save(folder, state)
    return True
