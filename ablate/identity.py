"""What a run *is*: its resolved config, less the bookkeeping keys that cannot change its result.

One list, BOOKKEEPING, says which config keys change where or how a run is done but not what it computes
(display, checkpoint cadence, thread count, device placement, where the data files live). It is used by
- the folder namer (`folder_name`): bookkeeping keys never appear in run-folder names, so re-running with
  another thread count or data copy finds the same folder;
- the run identity (`identity`, `fingerprint`, `differences`): a folder is skipped or resumed only when its
  stored config agrees with the new one on every other key;
- the report (`ablate.report.design`): bookkeeping keys never make a variant, and runs with the same
  fingerprint are one computation, counted once.

`data.root` is bookkeeping because the data's *content* identity is recorded instead (`data.identity` in
summary.json, see `ablate.data.data_identity`): two copies of CIFAR-10 are the same data, two different
folders behind one path are not.

A key the stored config lacks (a run made before the option existed) is compared as the schema's default for
it: new options must default to the old behaviour.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from ablate.registry import ConfigError

# Keys (flattened with dots) that cannot change what a run computes.
BOOKKEEPING: tuple[str, ...] = (
    "name", "out_dir",  # where the folder is
    "trainer.device", "trainer.devices", "trainer.jobs_per_gpu",  # placement (recorded in summary.json)
    "trainer.threads", "trainer.compile", "trainer.channels_last", "trainer.flush_denormal",  # speed only
    "trainer.pack", "trainer.cuda_graphs", "trainer.cudnn_benchmark", "trainer.fused_lrn",  # speed only (see each)
    "trainer.progress", "trainer.check_every", "trainer.ckpt_every", "trainer.eval_batch_size",
    "trainer.reuse_identical", "trainer.extend_shorter",
    "trainer.objective",  # what the CLI returns to a sweeper, read from the results
    "data.root", "data.workers", "data.loader", "data.cache_dir", "data.download",  # data content is recorded
)
BOOKKEEPING_PREFIXES: tuple[str, ...] = ("logger.",)
# Override keys that select config groups: their effect is in the resolved config, never in folder names.
GROUP_SELECTORS: tuple[str, ...] = ("experiment", "sweeps")
# Keys added after runs were made, each with the values that mean the old behaviour: left out of the identity
# while they hold one, so a run made before the key existed keeps its fingerprint and is the same run.
ADDED_KEYS: dict[str, tuple[Any, ...]] = {
    "model.layer_init_scale": (None, {}),
    "optim.layer_lr_mult": (None, {}),
    "optim.plateau_wait_below": (None,),
    "trainer.extend_shorter": (False,),  # bookkeeping too; listed so config.yaml's pinned text stays as it was
    "trainer.flush_denormal": (True, False),  # bookkeeping (speed only): either value leaves the pinned text as it was
}
# Keys whose empty dict means what None meant when runs recorded None (the default was None before it was {}):
# compared as None.
EMPTY_IS_NONE: tuple[str, ...] = ("model.layer_decay",)
# Per-layer multipliers (name → factor): a layer listed at 1 is the layer left out, the same run.
MULTIPLIERS: tuple[str, ...] = ("model.layer_init_scale.", "optim.layer_lr_mult.")
MAX_FOLDER_NAME = 120


def is_bookkeeping(key: str) -> bool:
    """Also the group selectors of bookkeeping sections (`logger=wandb`) and Hydra's own keys."""
    groups = tuple(p.rstrip(".") for p in BOOKKEEPING_PREFIXES)
    return (key in BOOKKEEPING or key in groups or key.startswith(BOOKKEEPING_PREFIXES)
            or key.startswith(("hydra.", "hydra/")))


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def identity(config: dict[str, Any]) -> dict[str, Any]:
    """The flattened config keys that define the run (bookkeeping keys dropped), sorted."""
    flat = flatten(config)
    flat.update({k: None for k in EMPTY_IS_NONE if flat.get(k) == {}})
    return {k: flat[k] for k in sorted(flat) if not is_bookkeeping(k) and not is_inert(k, flat[k])}


def is_inert(key: str, value: Any) -> bool:
    """Whether `key` at `value` computes what the key's absence does (so the identity leaves it out)."""
    if key.startswith(MULTIPLIERS) and _same(value, 1.0):
        return True
    return key in ADDED_KEYS and any(value == old for old in ADDED_KEYS[key])


def fingerprint(config: dict[str, Any]) -> str:
    """A short stable hash of `identity(config)`: equal for two configs that compute the same run."""
    text = json.dumps(identity(config), sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def schema_defaults() -> dict[str, Any]:
    """Every schema key's default, flattened (what a run made before a key existed ran with)."""
    from ablate.config import Config

    out: dict[str, Any] = {}
    for f in dataclasses.fields(Config):
        if f.default_factory is not dataclasses.MISSING:
            out.update(flatten({f.name: dataclasses.asdict(f.default_factory())}))
        else:
            out[f.name] = f.default
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return a == b


def differences(stored: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, stored value, new value) for every identity key on which two configs disagree."""
    old, cur, defaults = identity(stored), identity(new), None
    rows = []
    for key in sorted(set(old) | set(cur)):
        if key in old and key in cur:
            a, b = old[key], cur[key]
        else:
            defaults = defaults if defaults is not None else schema_defaults()
            missing = "(not set: made before this key existed)"
            a = old.get(key, defaults.get(key, missing))
            b = cur.get(key, "(no such key in this version)")
        if not _same(a, b):
            rows.append((key, a, b))
    return rows


def differences_text(rows: list[tuple[str, Any, Any]], limit: int = 12) -> str:
    lines = [f"  {key}: {a!r} in the folder, {b!r} now" for key, a, b in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"  ... and {len(rows) - limit} more")
    return "\n".join(lines)


# -- folder names ------------------------------------------------------------------------------------------------
def check_name(name: str) -> None:
    """`name` becomes a folder under runs/: it may nest (a/b) but never leave runs/."""
    parts = PurePosixPath(name).parts
    if not name or name.startswith(("/", "~")) or "\\" in name or ".." in parts or "." in parts:
        raise ConfigError(f"name={name!r} must be a relative folder name inside runs/ (no '..', '.', '~' or "
                          "leading '/'), e.g. name=fig1 or name=study/stage1")


def override_key(override: str) -> str:
    """`+model.norm=lrn` → `model.norm`; `~data.subset` → `data.subset`."""
    return override.split("=", 1)[0].lstrip("+~")


def folder_name(overrides: Iterable[str]) -> str:
    """A run folder's name from its command-line overrides: stable across launches and thread counts.

    Bookkeeping keys and group selectors are left out, the rest sorted, `/` replaced (a value may be a path),
    and a name too long for a file system shortened with a hash that keeps it unique.
    """
    kept = sorted(o for o in overrides if not is_bookkeeping(override_key(o))
                  and override_key(o) not in GROUP_SELECTORS)
    if not kept:
        return "default"
    name = ",".join(kept).replace("/", "_")
    if len(name) > MAX_FOLDER_NAME:
        name = name[:MAX_FOLDER_NAME - 9] + "-" + hashlib.sha1(name.encode()).hexdigest()[:8]
    return name
