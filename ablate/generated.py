"""The checkout's text that follows from the axes' specs: `python -m ablate.generated` rewrites it, and
tests/test_generated.py fails while a checked-in copy is stale.

- The axes table and the models table in README.md and docs/axes.md, between `<!-- axes:begin -->` and
  `<!-- axes:end -->` (`models:` likewise); the prose around them is hand-written.
- The axes section of `ablate-train --help`: conf/hydra/help/ablate.yaml (packaged, so --help needs no torch).
- In sweep files, every parameter line marked `# every value (generated)`: that key's values in spec order; and
  grid.yaml's count of cells and runs.
- sweeps/wandb/<name>.yaml: each Hydra sweep file as a wandb sweep (`wandb sweep sweeps/wandb/norm.yaml`, then
  `wandb agent ID`; the agent calls `python -m ablate +sweeps=norm <key>=<value> ...` per job).
"""

from __future__ import annotations

import math
import re
import sys
import typing
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from ablate.config import Config
from ablate.data import DATASETS
from ablate.data.augment import AUGMENTS
from ablate.models import ACTIVATIONS, INITS, MODELS, NORMS, POOLS, REGULARIZERS
from ablate.optim import OPTIMIZERS
from ablate.registry import Option, Registry
from ablate.schedules import SCHEDULES

REPO = Path(__file__).resolve().parent.parent
SWEEPS = REPO / "sweeps"
SHOWN: tuple[Registry, ...] = (MODELS, ACTIVATIONS, NORMS, POOLS, REGULARIZERS, INITS, OPTIMIZERS, SCHEDULES,
                               DATASETS, AUGMENTS)
BY_KEY = {axis.axis: axis for axis in SHOWN}
EVERY_VALUE = "# every value (generated)"
_MARKED = re.compile(r"^(\s+)([\w.]+): (\S+)(\s+" + re.escape(EVERY_VALUE) + r")$", re.MULTILINE)
_CELLS = re.compile(r"\([\d·]+ = [\d,]+ cells × \d+ seeds = [\d,]+ runs\)")


def _default(section: str, key: str) -> Any:
    return getattr(getattr(Config(), section), key)


def _text(value: Any) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _choices(section: str, key: str) -> list[str] | None:
    kind = typing.get_type_hints(type(getattr(Config(), section)))[key]
    return [m.value for m in kind] if isinstance(kind, type) and issubclass(kind, Enum) else None


def option_text(section: str, option: Option) -> str:
    """`model.lrn_size` 5 (> 0): its meaning; a closed set shows its values, the default in bold."""
    default = _default(section, option.key)
    choices = _choices(section, option.key)
    shown = (" / ".join(f"**{c}**" if c == default else c for c in choices) if choices
             else _text(default) + (f", {option.range}" if option.range else ""))
    return f"`{section}.{option.key}` ({shown}): {option.help}"


def presets(axis: Registry) -> dict[str, list[str]]:
    """value → the config group files (conf/<section>/*.yaml) that select it."""
    chosen: dict[str, list[str]] = {}
    for path in sorted((REPO / "conf" / axis.section).glob("*.yaml")):
        value = (yaml.safe_load(path.read_text()) or {}).get(axis.key)
        if value is not None:
            chosen.setdefault(str(value), []).append(path.stem)
    return chosen


def axes_table() -> str:
    rows = ["| key | value (**default** in `Config()`) | options (default, valid range): meaning | what it is | "
            "source | chosen by |", "|---|---|---|---|---|---|"]
    for axis in SHOWN:
        default, chosen = _default(axis.section, axis.key), presets(axis)
        cells = []
        if axis.options:
            cells.append(["every value", "; ".join(option_text(axis.section, o) for o in axis.options), "", "", ""])
        for spec in axis.specs():
            cells.append([f"**`{spec.name}`**" if spec.name == default else f"`{spec.name}`",
                          "; ".join(option_text(axis.section, o) for o in spec.options) or "–", spec.summary,
                          spec.source or "–", _chosen(axis.section, chosen.get(spec.name, []))])
        rows += [f"| {f'`{axis.axis}`' if i == 0 else ''} | " + " | ".join(c) + " |" for i, c in enumerate(cells)]
    return "\n".join(rows)


def _chosen(group: str, files: list[str]) -> str:
    return f"{group}={', '.join(files)}" if files else "–"


def models_table() -> str:
    rows = ["| name | input | what it is | weighted layers (`model.layer_decay` keys) | source |",
            "|---|---|---|---|---|"]
    for spec in MODELS.specs():
        side = spec.meta["input"]
        rows.append(f"| `{spec.name}` | {side}×{side} | {spec.summary} | {', '.join(spec.meta['layers'])} | "
                    f"{spec.source} |")
    return "\n".join(rows)


def help_text() -> str:
    """The axes section of --help: every key's values (* the default) and the options each value reads."""
    lines = ["== Axes ==", "One value per key; * marks the default. Each value, its options and its source: "
             "docs/axes.md.", ""]
    for axis in SHOWN:
        default = _default(axis.section, axis.key)
        lines.append(f"{axis.axis}: " + ", ".join(s.name + "*" * (s.name == default) for s in axis.specs()))
        reads = [f"{s.name}: " + ", ".join(f"{axis.section}.{k}" for k in s.keys) for s in axis.specs() if s.keys]
        if axis.options:
            reads.insert(0, "every value: " + ", ".join(f"{axis.section}.{o.key}" for o in axis.options))
        lines += [f"    {r}" for r in reads]
    return "\n".join(lines)


def help_yaml() -> str:
    template = "\n".join(["${hydra.help.header}", "== Configuration groups ==",
                          "Compose your configuration from those groups (group=option)", "", "$APP_CONFIG_GROUPS", "",
                          help_text(), "", "== Config ==", "Override anything in the config (foo.bar=value)", "",
                          "$CONFIG", "", "${hydra.help.footer}"])
    body = {"app_name": "ablate-train",
            "header": "ablate-train: one run (or, with -m, a sweep) of the shared AlexNet trainer.\n",
            "footer": "Every key: ablate/config.py. Hydra's own help: --hydra-help.\n", "template": template + "\n"}
    return ("# Generated by `python -m ablate.generated` from the axes' specs; do not edit.\n"
            + yaml.dump(body, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=1000))


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks (|), so the help template reads as it prints."""


_BlockDumper.add_representer(str, lambda dumper, s: dumper.represent_scalar(
    "tag:yaml.org,2002:str", s, style="|" if "\n" in s else None))


def between(text: str, tag: str, body: str) -> str:
    """`text` with what stands between <!-- tag:begin --> and <!-- tag:end --> replaced by `body`."""
    begin, end = f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->"
    if begin not in text or end not in text:
        raise ValueError(f"no {begin} ... {end} block")
    head, rest = text.split(begin, 1)
    return f"{head}{begin}\n{body}\n{end}{rest.split(end, 1)[1]}"


def sweep_text(text: str) -> str:
    """A sweep file with its marked lines' value lists (and grid.yaml's cell count) made from the specs."""
    text = _MARKED.sub(lambda m: f"{m[1]}{m[2]}: {','.join(BY_KEY[m[2]].names())}{m[4]}", text)
    params = yaml.safe_load(text)["hydra"]["sweeper"]["params"]
    sizes = [len(str(v).split(",")) for k, v in params.items() if k != "seed"]
    seeds = len(str(params.get("seed", 0)).split(","))
    cells = math.prod(sizes)
    return _CELLS.sub(f"({'·'.join(map(str, sizes))} = {cells:,} cells × {seeds} seeds = {cells * seeds:,} runs)", text)


def wandb_sweep(name: str, text: str) -> str:
    params = yaml.safe_load(text)["hydra"]["sweeper"]["params"]
    logger = yaml.safe_load((REPO / "conf" / "logger" / "wandb.yaml").read_text())
    where = {"project": logger["project"], **({"entity": logger["entity"]} if logger.get("entity") else {})}
    spec = {"name": name, **where, "description": f"ablate's Hydra sweep sweeps/{name}.yaml as a wandb sweep",
            "program": "ablate", "method": "grid", "metric": {"name": "val_top1_err", "goal": "minimize"},
            "parameters": {key: {"values": [yaml.safe_load(v) for v in str(values).split(",")]}
                           for key, values in params.items()},
            "command": ["${env}", "${interpreter}", "-m", "ablate", f"+sweeps={name}", "logger=wandb",
                        "${args_no_hyphens}"]}
    return (f"# Generated by `python -m ablate.generated` from sweeps/{name}.yaml; do not edit.\n"
            + yaml.safe_dump(spec, sort_keys=False))


def files() -> dict[Path, str]:
    """Every generated file's path and what it should hold, from the specs and the hand-written rest."""
    out = {}
    for doc in (REPO / "README.md", REPO / "docs" / "axes.md"):
        out[doc] = between(between(doc.read_text(), "axes", axes_table()), "models", models_table())
    out[REPO / "conf" / "hydra" / "help" / "ablate.yaml"] = help_yaml()
    for path in sorted(SWEEPS.glob("*.yaml")):
        text = sweep_text(path.read_text())
        out[path] = text
        out[SWEEPS / "wandb" / path.name] = wandb_sweep(path.stem, text)
    return out


def stale() -> list[Path]:
    return [path for path, text in files().items() if not path.is_file() or path.read_text() != text]


def main() -> int:
    if not (REPO / "README.md").is_file():
        print("ablate.generated: run it in a checkout (README.md, docs/ and sweeps/ beside the package)",
              file=sys.stderr)
        return 2
    for path, text in files().items():
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
