"""Captured training steps (trainer.cuda_graphs) and the other speed options: the CPU path is the plain step bit
for bit, the capture bookkeeping (warm-up, partial batches, hyperparameter changes) runs the right steps, the
options are bookkeeping, combinations a graph cannot hold fail naming the fix; on CUDA, replay = eager."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from hydra.errors import ConfigCompositionException

import ablate
from ablate import checkpoint, graphs
from ablate.engine import EpochMeter, StepContext, train_one_epoch, train_step
from ablate.fit import Trainer
from ablate.identity import fingerprint, folder_name
from ablate.models import build_model
from ablate.optim import build_optimizer
from ablate.registry import ConfigError

METRICS = ["train_loss", "train_err", "val_loss", "val_top1_err", "test_top1_err"]
SPEED = ["trainer.cuda_graphs=true", "trainer.cudnn_benchmark=true", "trainer.fused_lrn=true", "trainer.pack=mps"]


def test_make_step_is_the_plain_step_off_cuda():
    assert graphs.make_step(True, torch.device("cpu")) is train_step
    assert graphs.make_step(False, torch.device("cuda")) is train_step
    assert isinstance(graphs.make_step(True, torch.device("cuda")), graphs.CapturedStep)


def test_speed_options_on_cpu_give_the_plain_runs_numbers_bit_for_bit(make_config):
    """LRN in the net, so trainer.fused_lrn has a layer to act on; resumed checkpoints compare weights too."""
    base = ["model.norm=lrn", "trainer.epochs=2"]
    plain, fast = make_config(base, "plain"), make_config(base + SPEED, "fast")
    for cfg in (plain, fast):
        ablate.train(cfg)
    a, b = (pd.read_csv(f"{cfg.out_dir}/metrics.csv") for cfg in (plain, fast))
    pd.testing.assert_frame_equal(a[METRICS], b[METRICS], check_exact=True)
    wa, wb = (checkpoint.load_latest(Path(c.out_dir) / "checkpoints")["model"] for c in (plain, fast))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_speed_options_are_bookkeeping(make_config):
    plain, fast = make_config([], "plain"), make_config(SPEED, "fast")
    assert fingerprint(plain.to_dict()) == fingerprint(fast.to_dict())
    assert folder_name(SPEED + ["optim.lr=0.1"]) == "optim.lr=0.1"


@pytest.mark.parametrize("override,needle", [
    ("trainer.precision=fp16", "trainer.precision=bf16"),
    ("trainer.compile=true", "one of the two"),
    ("trainer.devices=2", "trainer.devices=1"),
    ("optim=adam", "optim.name=sgd"),
])
def test_what_a_graph_cannot_hold_fails_naming_the_fix(make_config, override, needle):
    with pytest.raises(ConfigError, match="trainer.cuda_graphs") as err:
        make_config(["trainer.cuda_graphs=true", override])
    assert needle in str(err.value)


def test_pack_must_be_a_known_mode(make_config):
    with pytest.raises(ConfigCompositionException) as err:  # a closed set: Hydra refuses it when it composes
        make_config(["trainer.pack=always"])
    assert "Invalid value 'always', expected one of [auto, mps, timeslice]" in str(err.value.__cause__)


class Recording(graphs.CapturedStep):
    """CapturedStep's bookkeeping on the CPU: capture is recorded, 'replay' and warm-up run the eager step."""

    def __init__(self):
        super().__init__(warmup=2)
        self.log: list[str] = []

    def _eager_on_side_stream(self, model, x, y, optimizer, scaler, meter, ctx):
        self.eager_steps += 1
        self.log.append(f"warm{len(y)}")
        train_step(model, x, y, optimizer, scaler, meter, ctx)

    def _capture(self, model, x, y, optimizer, scaler, ctx):
        self.graph, self.captures = object(), self.captures + 1
        self.log.append(f"capture{len(y)}@{optimizer.param_groups[0]['lr']:g}")
        self.parts = (model, optimizer, scaler, ctx)

    def _replay(self, x, y, meter):
        self.replays += 1
        self.log.append(f"replay{len(y)}")
        model, optimizer, scaler, ctx = self.parts
        train_step(model, x, y, optimizer, scaler, meter, ctx)


def test_capture_waits_for_warm_up_skips_partial_batches_and_recaptures_after_an_lr_change(make_config):
    """Two epochs of 3 full batches and a partial one, the lr dropping after epoch 1 (multistep)."""
    cfg = make_config(["data.subset=70", "trainer.batch_size=20", "trainer.epochs=2", "optim.schedule=multistep",
                       "optim.milestones=[1]", "optim.paper_momentum_rescale=true"])
    trainer = Trainer(cfg, ablate.dist.DistEnv(), torch.device("cpu"))
    trainer.train_step = step = Recording()
    trainer.fit()
    epoch1 = ["warm20", "warm20", "capture20@0.01", "replay20"]
    epoch2 = ["warm20", "warm20", "capture20@0.001", "replay20"]
    assert step.log == epoch1 + epoch2, step.log
    assert step.eager_steps == 4 + 2  # warm-ups, and each epoch's partial batch of 10 (not in the log: plain step)
    assert step.captures == 2 and step.replays == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_replays_give_the_eager_steps_numbers(precision, monkeypatch):
    """convnet4, 3 epochs of 5 full batches and a partial one, an lr drop between epochs: the same weights,
    momentum buffers and per-step losses as the eager step, bit for bit."""
    device = torch.device("cuda")
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)  # so that eager twice is the same too
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    gen = torch.Generator().manual_seed(0)
    data = [(torch.randn(n, 3, 32, 32, generator=gen).to(device), torch.randint(0, 10, (n,), generator=gen).to(device))
            for n in [32] * 5 + [8]]
    runs = []
    for step in (train_step, graphs.CapturedStep()):
        torch.manual_seed(0)
        cfg = ablate.config.Config()
        model = build_model(cfg.model, 10, 32).to(device, memory_format=torch.channels_last)
        opt = build_optimizer(model, ablate.config.OptimConfig(lr=0.05, momentum=0.9, weight_decay=5e-4,
                                                               paper_momentum_rescale=True))
        ctx, scaler = StepContext(device, precision, True), torch.amp.GradScaler("cuda", enabled=False)
        losses = []
        for _ in range(3):
            meter = EpochMeter(device)
            train_one_epoch(model, data, opt, scaler, meter, ctx, step=step)
            losses += [float(v) for v in meter.losses]
            for g in opt.param_groups:
                g["lr"] *= 0.5
        runs.append((model, opt, losses))
    (m0, o0, l0), (m1, o1, l1) = runs
    assert l0 == l1
    for p0, p1 in zip(m0.parameters(), m1.parameters(), strict=True):
        assert torch.equal(p0, p1) and torch.equal(o0.state[p0]["momentum_buffer"], o1.state[p1]["momentum_buffer"])
    assert step.replays > 0 and step.captures == 3
