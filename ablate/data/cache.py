"""Decode once: a data set's uint8 arrays cached as `.npy` files, keyed by a fingerprint of its source files.

The key hashes every source file's relative path, size and modification time (what a rewrite of a file
changes), not the bytes themselves, so a warm start reads the file listing (~0.2 s for CIFAR-10's 60,000 PNGs)
instead of all the files. A manifest records each array's shape, dtype and CRC-32; an array that is missing,
truncated or altered is detected on load and the whole entry is rebuilt. Arrays load with
`allow_pickle=False`. Entries are written to a temporary folder and renamed into place, so an interrupted
write never looks complete. Arrays derived from the others (e.g. CIFAR-10's mean image) are added to an intact
entry written before they existed, one file and then the manifest, each renamed into place: no rebuild.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ablate.atomic import atomic_write

FORMAT = 1  # bump when the cached arrays' meaning changes


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ablate"


def fingerprint(root: str, files: Iterable[str], *extra: object) -> str:
    """A key from each file's path relative to `root`, size and mtime (plus `extra` settings)."""
    h = hashlib.blake2b(repr((FORMAT, *extra)).encode(), digest_size=16)
    cut = len(os.path.join(root, ""))
    for f in files:
        st = os.stat(f)
        h.update(f"{f[cut:] if f.startswith(root) else f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _crc(a: np.ndarray) -> int:
    return zlib.crc32(memoryview(np.ascontiguousarray(a)).cast("B"))


def _spec(a: np.ndarray) -> dict:
    return {"shape": list(a.shape), "dtype": str(a.dtype), "crc32": _crc(a)}


def _load(entry: Path) -> tuple[dict[str, np.ndarray], dict]:
    manifest = json.loads((entry / "manifest.json").read_text())
    arrays = {}
    for name, spec in manifest["arrays"].items():
        a = np.load(entry / f"{name}.npy", allow_pickle=False)
        if list(a.shape) != spec["shape"] or str(a.dtype) != spec["dtype"] or _crc(a) != spec["crc32"]:
            raise ValueError(f"{name}.npy does not match its manifest")
        arrays[name] = a
    return arrays, manifest["meta"]


def _save(entry: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    tmp = entry.with_name(f"{entry.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        specs = {}
        for name, a in arrays.items():
            np.save(tmp / f"{name}.npy", a, allow_pickle=False)
            specs[name] = _spec(a)
        (tmp / "manifest.json").write_text(json.dumps({"arrays": specs, "meta": meta}, indent=1))
        shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _add(entry: Path, arrays: dict[str, np.ndarray]) -> None:
    """Add arrays to an existing entry: each file, then the manifest, written aside and renamed into place."""
    manifest = json.loads((entry / "manifest.json").read_text())
    for name, a in arrays.items():
        atomic_write(entry / f"{name}.npy", lambda f, a=a: np.save(f, a, allow_pickle=False))
        manifest["arrays"][name] = _spec(a)
    atomic_write(entry / "manifest.json", json.dumps(manifest, indent=1))


Derived = dict[str, Callable[[dict[str, np.ndarray]], np.ndarray]]


def cached(name: str, key: str, build: Callable[[], tuple[dict[str, np.ndarray], dict]],
           cache_dir: str | None, derived: Derived | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays (and metadata) of `name` under `key`: from the cache when intact, else built and stored.

    `derived` maps more array names to functions of the built arrays; an intact entry that lacks one (written
    before it existed) gets it computed and added, and meta lists it under `cache_added`.
    Returns meta with `cache` set to 'hit', 'built' or 'off' (cache folder not writable).
    """
    derived = derived or {}
    entry = Path(cache_dir or default_cache_dir()).expanduser() / f"{name}-{key}"
    if (entry / "manifest.json").exists():
        try:
            arrays, meta = _load(entry)
        except Exception as err:  # any damage (truncated, bad JSON, altered bytes) means: rebuild
            warnings.warn(f"data cache {entry} is corrupted ({err}); rebuilding it", stacklevel=2)
        else:
            return arrays, {**meta, **_complete(entry, arrays, derived), "cache": "hit", "cache_path": str(entry)}
    arrays, meta = build()
    arrays.update({n: fn(arrays) for n, fn in derived.items()})
    try:
        _save(entry, arrays, meta)
    except OSError as err:
        warnings.warn(f"cannot write the data cache at {entry} ({err}); set data.cache_dir to a writable "
                      "folder to start faster next time", stacklevel=2)
        return arrays, {**meta, "cache": "off"}
    return arrays, {**meta, "cache": "built", "cache_path": str(entry)}


def _complete(entry: Path, arrays: dict[str, np.ndarray], derived: Derived) -> dict:
    """Compute the derived arrays an entry lacks into `arrays`, and store them there if it can."""
    missing = {n: fn(arrays) for n, fn in derived.items() if n not in arrays}
    if not missing:
        return {}
    arrays.update(missing)
    try:
        _add(entry, missing)
    except OSError as err:
        warnings.warn(f"cannot add {sorted(missing)} to the data cache at {entry} ({err}); computed for this run "
                      "only", stacklevel=3)
    return {"cache_added": sorted(missing)}
