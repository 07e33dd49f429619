import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

import ablate
from ablate.cli import job_dirname, to_config
from ablate.config import Config, ModelConfig, from_dict
from ablate.registry import ConfigError, Registry
from tests.conftest import REPO, compose_cfg


def test_default_config_composes_to_typed_config():
    cfg = to_config(compose_cfg())
    assert isinstance(cfg, Config)
    assert cfg.model.name == "convnet4" and cfg.model.activation == "relu"
    assert cfg.optim.weight_decay_style == "coupled"


def test_public_key_names_exist():
    dcfg = compose_cfg()
    for key in ["model.activation", "data.root", "data.subset", "optim.lr", "optim.weight_decay",
                "optim.weight_decay_style", "trainer.epochs", "trainer.batch_size", "trainer.devices", "seed"]:
        section, _, leaf = key.rpartition(".")
        node = dcfg[section] if section else dcfg
        assert leaf in node, key


def test_unknown_activation_lists_valid_values():
    with pytest.raises(ConfigError) as err:
        to_config(compose_cfg(["model.activation=foo"]))
    for name in ["sigmoid", "tanh", "relu", "leaky_relu", "elu"]:
        assert name in str(err.value)


def test_wrong_type_fails_at_compose_time():
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose_cfg(["trainer.epochs=abc"])


def test_unknown_key_fails_at_compose_time():
    with pytest.raises(ConfigCompositionException):
        compose_cfg(["model.activaton=relu"])


def test_plain_python_config_is_validated_by_train_before_any_work(tmp_path):
    cfg = Config(model=ModelConfig(activation="swishh"), out_dir=str(tmp_path / "run"))
    with pytest.raises(ConfigError, match="choose one of"):
        ablate.train(cfg)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="unknown config key"):
        from_dict({"model": {"nope": 1}})


def test_the_schema_imports_nothing_from_models_data_or_optim():
    code = ("import sys, ablate.config; bad = [m for m in sys.modules if m.startswith(('ablate.models', "
            "'ablate.data', 'ablate.optim')) or m == 'torch']; print(bad); sys.exit(bool(bad))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_registry_rejects_a_second_different_entry():
    reg = Registry("axis")
    reg.register("a", lambda: 1)
    with pytest.raises(KeyError):
        reg.register("a", lambda: 2)
    with pytest.raises(ConfigError, match="choose one of: a"):
        reg.get("b")
    assert reg.get("a").build() == 1


def test_job_dirname_is_stable_bounded_and_leaves_out_bookkeeping():
    assert job_dirname([]) == "default"
    long = [f"key{i}=value{i}" for i in range(40)]
    assert job_dirname(long) == job_dirname(long[::-1]) and len(job_dirname(long)) <= 120
    assert job_dirname(long) != job_dirname([*long, "x=1"])
    assert job_dirname(["seed=1", "model.activation=tanh", "trainer.threads=1", "data.root=/a/b",
                        "+experiment=fig1_demo", "logger=wandb", "hydra/launcher=joblib"]) == \
        "model.activation=tanh,seed=1"
    assert job_dirname(["data.subset=10", "+model.tanh=a/b"]) == "+model.tanh=a_b,data.subset=10"


def test_demo_experiment_composes_as_a_sweep():
    dcfg = compose_cfg(["+experiment=fig1_demo"], return_hydra_config=True)
    assert dcfg.data.name == "cifar10_mini" and dcfg.name == "fig1_demo"
    assert set(dcfg.hydra.sweeper.params["model.activation"].split(",")) == {"relu", "tanh"}
    to_config(compose_cfg(["+experiment=fig1_demo"]))


def test_cli_bad_value_exits_nonzero_with_the_list(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ablate", "model.activation=foo", f"hydra.run.dir={tmp_path}"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "sigmoid, tanh, relu, leaky_relu, elu" in proc.stderr
    assert not (tmp_path / "metrics.csv").exists()  # failed before any work
