"""Every sweep file composes; every job of every sweep runs a step on synthetic data (a sample in CI, all under
`slow`); every experiment preset composes; the wandb sweep files are the Hydra ones' translation."""

import itertools
import random
from pathlib import Path

import pytest
import yaml

import ablate
from ablate.cli import CONF_DIR, to_config
from tests.conftest import compose_cfg

SWEEP_DIR = Path(CONF_DIR) / "sweeps"  # the repository's sweeps/, linked into the configs as the `sweeps` group
SWEEPS = sorted(p.stem for p in SWEEP_DIR.glob("*.yaml"))
EXPERIMENTS = sorted(p.stem for p in (Path(CONF_DIR) / "experiment").glob("*.yaml"))
# The grid's thousands of jobs are only sampled; every other sweep runs all its seed-0 jobs (slow).
# One step of each job on tiny synthetic CIFAR-shaped data (or 224×224 for ImageNet models).
SHRINK = ["data=synthetic", "data.subset=40", "data.test_subset=20", "data.val_size=0", "trainer.epochs=1",
          "trainer.batch_size=8", "trainer.eval_batch_size=20", "trainer.limit_train_batches=1",
          "trainer.progress=none", "trainer.device=cpu", "trainer.stop_at_train_err=null"]


def jobs(name: str) -> list[list[str]]:
    params = compose_cfg([f"+sweeps={name}"], return_hydra_config=True).hydra.sweeper.params
    axes = [[f"{key}={value}" for value in str(values).split(",")] for key, values in params.items()]
    return [list(combo) for combo in itertools.product(*axes)]


def header(name: str) -> str:
    return (SWEEP_DIR / f"{name}.yaml").read_text()


def test_every_sweep_composes_and_validates():
    assert {"fig1_relu_vs_tanh", "activation", "norm", "pool", "regularizer", "weight_decay", "towers",
            "augment", "grid", "lrn_cifar"} <= set(SWEEPS)
    for name in SWEEPS:
        dcfg = compose_cfg([f"+sweeps={name}"], return_hydra_config=True)
        params = dcfg.hydra.sweeper.params
        seeds = len(str(params["seed"]).split(","))
        # Seeds are an axis, n >= 3; a scan stage says in its header that it runs seed 0 only.
        assert seeds >= 3 or "seed 0" in header(name), name
        for job in jobs(name)[:12]:
            to_config(compose_cfg([f"+sweeps={name}", *job]))


@pytest.mark.parametrize("name", SWEEPS)
def test_axis_sweeps_switch_to_imagenet_with_one_override(name):
    if "${data.name}" not in header(name):
        pytest.skip("a CIFAR-10 study (its nets are CIFAR-only, or it is Figure 1's CIFAR-10 experiment)")
    cfg = to_config(compose_cfg([f"+sweeps={name}", "experiment=paper_imagenet"]))
    assert cfg.data.name == "imagenet" and cfg.model.name == "alexnet" and cfg.name.endswith("imagenet")


def _run_one_step(name: str, job: list[str], tmp_path) -> None:
    cfg = to_config(compose_cfg([f"+sweeps={name}", *job, *SHRINK]), out_dir=str(tmp_path / "-".join(job)))
    summary = ablate.train(cfg)
    assert summary["status"] == "completed", (name, job, summary.get("error"))


def sampled_jobs(k: int = 2) -> list[tuple[str, list[str]]]:
    rng = random.Random(0)
    out = []
    for name in SWEEPS:
        all_jobs = jobs(name)
        out += [(name, job) for job in [all_jobs[0], *rng.sample(all_jobs, min(k, len(all_jobs)))]]
    return out


@pytest.mark.parametrize("name,job", sampled_jobs(), ids=lambda v: v if isinstance(v, str) else ",".join(v))
def test_sampled_sweep_jobs_run_a_step(name, job, tmp_path):
    _run_one_step(name, job, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in SWEEPS if n != "grid"])
def test_every_sweep_job_runs_a_step(name, tmp_path):
    for job in jobs(name):
        if "seed=0" in job:  # seeds only change the draws, not whether a job runs
            _run_one_step(name, job, tmp_path)


def test_every_experiment_preset_composes():
    assert {"fig1_demo", "paper_imagenet", "cifar10_convnet4", "cifar10_alexnet", "cifar10_convlocal",
            "cifar10_convnet3fc", "cifar10_convlocal_11pct"} <= set(EXPERIMENTS)
    for name in EXPERIMENTS:
        to_config(compose_cfg([f"+experiment={name}"]))
    paper = to_config(compose_cfg(["+experiment=paper_imagenet"]))
    assert (paper.trainer.batch_size, paper.optim.momentum, paper.optim.weight_decay) == (128, 0.9, 5e-4)
    assert (paper.optim.lr, paper.optim.schedule, paper.optim.weight_decay_style) == (0.01, "plateau", "coupled")
    assert (paper.model.init, paper.model.regularizer, paper.model.towers) == ("paper", "dropout", 2)
    assert paper.data.augment == "crop_flip_pca" and 80 <= paper.trainer.epochs <= 100


# cuda-convnet's layer-params files (example-layers/): epsW, epsB / epsW, per-layer wc, lr drops, epochs.
LAYER_PARAMS = {
    "cifar10_convnet4": (0.001, 2.0, {"conv1": 0.004, "conv2": 0.004, "conv3": 0.004, "fc64": 0.03, "fc10": 0.03},
                         [8], 10),  # layer-params-80sec.cfg
    "cifar10_convnet3fc": (0.001, 2.0, {"conv1": 0.004, "conv2": 0.004, "conv3": 0.004, "fc10": 1.0},
                           [120, 130], 140),  # layer-params-18pct.cfg
    "cifar10_convlocal_11pct": (0.001, 2.0, {"conv1": 0.0, "conv2": 0.0, "local3": 0.004, "local4": 0.004,
                                             "fc10": 0.004}, [450, 460], 470),  # layer-params-conv-local-11pct.cfg
}


@pytest.mark.parametrize("name", sorted(LAYER_PARAMS))
def test_cuda_convnet_presets_follow_their_layer_params_files(name):
    lr, bias_mult, decay, milestones, epochs = LAYER_PARAMS[name]
    cfg = to_config(compose_cfg([f"+experiment={name}"]))
    o = cfg.optim
    assert (o.name, o.lr, o.bias_lr_mult, o.momentum, o.weight_decay_style) == ("sgd", lr, bias_mult, 0.9, "coupled")
    assert cfg.model.layer_decay == decay and cfg.model.init == "paper" and cfg.trainer.batch_size == 128
    assert (o.schedule, o.milestones, o.step_gamma, cfg.trainer.epochs) == ("multistep", milestones, 0.1, epochs)


def test_short_convlocal_preset_and_fig1_sweep_keep_their_protocols():
    short = to_config(compose_cfg(["+experiment=cifar10_convlocal"]))
    assert short.model.layer_decay == LAYER_PARAMS["cifar10_convlocal_11pct"][2]
    assert (short.optim.lr, short.optim.bias_lr_mult, short.optim.schedule) == (0.001, 2.0, "plateau")
    fig1 = to_config(compose_cfg(["+sweeps=fig1_relu_vs_tanh"]))  # Figure 1: no regularization, constant lr
    assert fig1.model.layer_decay is None and fig1.optim.weight_decay == 0 and fig1.optim.schedule == "constant"
    assert fig1.optim.bias_lr_mult == 2.0 and fig1.model.init == "paper"


def test_wandb_sweep_files_translate_the_hydra_sweeps():
    """Up to date: tests/test_generated.py. Here: what the translation holds."""
    for name in SWEEPS:
        spec = yaml.safe_load((SWEEP_DIR / "wandb" / f"{name}.yaml").read_text())
        assert "${args_no_hyphens}" in spec["command"] and f"+sweeps={name}" in spec["command"]
        logger = yaml.safe_load((Path(CONF_DIR) / "logger" / "wandb.yaml").read_text())
        assert spec["project"] == logger["project"] and spec.get("entity") == logger["entity"]  # runs' project
        for key, values in spec["parameters"].items():
            # each wandb value is a valid Hydra override of the same sweep
            to_config(compose_cfg([f"+sweeps={name}", f"{key}={values['values'][0]}"]))
