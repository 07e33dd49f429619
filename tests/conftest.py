"""Compose the real Hydra config (conf/train.yaml) and shrink it for fast CPU tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from ablate.cli import CONF_DIR, register, to_config

os.environ.setdefault("WANDB_MODE", "disabled")
REPO = Path(__file__).resolve().parent.parent
# Subprocesses (the CLI under test) import this checkout's ablate, whatever their working directory.
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
# The real CIFAR-10 beside the checkout (../shared), or wherever $ABLATE_CIFAR10 points.
SHARED_CIFAR = Path(os.environ.get("ABLATE_CIFAR10", REPO.parent / "shared" / "data" / "cifar10"))

# Tests train identical configs side by side on purpose (to compare them): each is trained, not recorded as
# its sibling (trainer.reuse_identical; tests/test_integrity.py tests that mechanism itself).
SMALL = ["data=synthetic", "data.subset=200", "data.test_subset=100", "trainer.epochs=1",
         "trainer.batch_size=50", "trainer.eval_batch_size=100", "trainer.progress=none", "trainer.device=cpu",
         "trainer.reuse_identical=false"]


def compose_cfg(overrides: list[str] | None = None, return_hydra_config: bool = False):
    """The composed DictConfig for `overrides` (plus the shrinking defaults), as the CLI would see it."""
    register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("train", overrides=overrides or [], return_hydra_config=return_hydra_config)


@pytest.fixture
def make_config(tmp_path):
    """Build a small validated Config for a run in tmp_path: make_config(["model.activation=tanh"], "run1")."""
    def make(overrides: list[str] | None = None, run: str = "run"):
        return to_config(compose_cfg(SMALL + (overrides or [])), out_dir=str(tmp_path / run))
    return make


@pytest.fixture
def shared_cifar() -> Path:
    if not (SHARED_CIFAR / "train").is_dir():
        pytest.skip(f"real CIFAR-10 not present at {SHARED_CIFAR}")
    return SHARED_CIFAR
