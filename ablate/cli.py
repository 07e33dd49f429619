"""`ablate-train`: the Hydra edge. The only module that imports Hydra.

It registers the schema with Hydra's ConfigStore (so types are checked when the config is composed), turns the
composed DictConfig into a plain `ablate.config.Config` (which checks every axis value against its registry,
before any data is read) and hands it to `ablate.train`.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ablate.config import Config, from_dict
from ablate.engine import train
from ablate.registry import ConfigError

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
_MAX_DIRNAME = 120


def job_dirname(override_dirname: str) -> str:
    """A run's folder name from its overrides: stable across launches, so a re-run finds its folder."""
    if not override_dirname:
        return "default"
    name = override_dirname.replace("/", "_")
    if len(name) > _MAX_DIRNAME:  # keep within file-name limits, still unique
        name = name[:_MAX_DIRNAME - 9] + "-" + hashlib.sha1(name.encode()).hexdigest()[:8]
    return name


def register() -> None:
    if not OmegaConf.has_resolver("ablate_dirname"):
        OmegaConf.register_new_resolver("ablate_dirname", job_dirname)
    ConfigStore.instance().store(name="ablate_schema", node=Config)


def to_config(dcfg: DictConfig, out_dir: str | None = None) -> Config:
    """Composed DictConfig → validated Config (raises ConfigError naming the valid values)."""
    data = OmegaConf.to_container(dcfg, resolve=True, throw_on_missing=True)
    data.pop("hydra", None)
    if out_dir is not None:
        data["out_dir"] = out_dir
    return from_dict(data)


def _task(dcfg: DictConfig) -> dict:
    try:
        cfg = to_config(dcfg, out_dir=HydraConfig.get().runtime.output_dir)
    except ConfigError as err:
        print(f"ablate-train: error: {err}", file=sys.stderr)
        sys.exit(2)
    return train(cfg)


def main() -> None:
    register()
    hydra.main(config_path=CONF_DIR, config_name="train", version_base="1.3")(_task)()


if __name__ == "__main__":
    main()
