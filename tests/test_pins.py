"""What a run *is* must not move under a refactor: config.yaml (`cfg.to_dict()`) and the run identity
(`ablate.identity.fingerprint`) of every experiment preset and of the first jobs of every sweep are pinned to the
values computed on e7cb701 (tests/config_pins.json), so runs made before a change resume, and are recognised as
the same runs, after it. A new preset or sweep gets pinned when it is added; a pinned value never changes.
A key added since (`ablate.identity.ADDED_KEYS`) is left out of config.yaml's pinned text while it holds its
old-behaviour value, and a default that went from None to {} (`EMPTY_IS_NONE`) is written as None: the rest of
the file must stay byte for byte what it was."""

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from ablate.cli import CONF_DIR, sweep_jobs, to_config
from ablate.config import Config, DataConfig
from ablate.data import DATASETS, data_identity
from ablate.identity import ADDED_KEYS, EMPTY_IS_NONE, fingerprint, is_inert
from tests.conftest import compose_cfg

PINS = json.loads((Path(__file__).parent / "config_pins.json").read_text())


def pin(cfg: Config) -> dict[str, str]:
    config = cfg.to_dict()
    text = yaml.safe_dump(_without_added_keys(config), sort_keys=False)  # config.yaml: plain types, schema order
    return {"fingerprint": fingerprint(config), "to_dict": hashlib.sha256(text.encode()).hexdigest()[:16]}


def _without_added_keys(config: dict) -> dict:
    out = {section: dict(values) if isinstance(values, dict) else values for section, values in config.items()}
    for key in ADDED_KEYS:
        section, name = key.split(".")
        if name in out[section] and is_inert(key, out[section][name]):
            del out[section][name]
    for key in EMPTY_IS_NONE:
        section, name = key.split(".")
        if out[section][name] == {}:
            out[section][name] = None
    return out


def configs():
    """(label, overrides) of the pinned configs; None: the library's plain `Config()`."""
    yield "Config()", None
    yield "(no overrides)", []
    for path in sorted((Path(CONF_DIR) / "experiment").glob("*.yaml")):
        yield f"+experiment={path.stem}", [f"+experiment={path.stem}"]
    for path in sorted((Path(CONF_DIR) / "sweeps").glob("*.yaml")):
        for job in sweep_jobs(compose_cfg([f"+sweeps={path.stem}"], return_hydra_config=True))[:2]:
            job = [str(o) for o in job]
            yield " ".join(job), job


def test_config_and_fingerprint_of_every_preset_and_first_sweep_jobs_are_pinned():
    seen = {}
    for label, overrides in configs():
        cfg = Config() if overrides is None else to_config(compose_cfg(overrides), out_dir="pinned")
        seen[label] = pin(cfg)
    missing = sorted(set(PINS) - set(seen))
    assert not missing, f"pinned configs no longer composed: {missing}"
    moved = {label: (PINS[label], got) for label, got in seen.items() if label in PINS and PINS[label] != got}
    assert not moved, f"config.yaml or fingerprint changed (pinned, now): {moved}"


@pytest.mark.parametrize("name,subset,test_subset,identity", [
    ("synthetic", None, None, "150cfdfedfab53d5e9e3"),
    ("synthetic", 200, 100, "9a5fd4199e075c514274"),
    ("synthetic_imagenet", 300, 20, "f0fefc779e0b1b4a04df")])
def test_generated_data_sets_keep_their_content(name, subset, test_subset, identity):
    """Runs record their data's identity and refuse to resume on other data: generated pixels never change."""
    cfg = DataConfig(name=name, subset=subset, test_subset=test_subset)
    assert data_identity(DATASETS.build(name, cfg)) == identity
