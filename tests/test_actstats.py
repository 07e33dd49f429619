"""Activation statistics: the right numbers on hand-made nets, extra metrics.csv columns, training unchanged."""

import pandas as pd
import pytest
import torch

import ablate
from ablate.actstats import ActivationProbe
from ablate.config import ModelConfig
from ablate.models import build_model
from ablate.runfolder import METRIC_COLUMNS, TIMING_COLUMNS


def _net(activation: str, **kw):
    torch.manual_seed(0)
    return build_model(ModelConfig(name="convnet4", activation=activation, **kw), 10, 32)


def test_columns_follow_the_activation_and_name_the_weighted_layers():
    x = torch.randn(8, 3, 32, 32)
    tanh = ActivationProbe(_net("tanh"), "tanh", 1.0, x)
    assert tanh.columns()[:3] == ["conv1_pre_std", "conv1_saturated", "conv1_weight_rms"]
    assert [c for c in tanh.columns() if c.endswith("_saturated")] == [
        "conv1_saturated", "conv2_saturated", "conv3_saturated", "fc64_saturated"]
    relu = ActivationProbe(_net("relu"), "relu", 1.0, x)
    assert "fc64_dead" in relu.columns() and not any(c.endswith("_saturated") for c in relu.columns())
    assert not any(c.endswith(("_dead", "_saturated")) for c in ActivationProbe(_net("elu"), "elu", 1, x).columns())


def test_saturation_and_pre_activation_std_by_hand():
    model = _net("tanh", tanh_a=2.0)
    x = torch.randn(16, 3, 32, 32)
    probe = ActivationProbe(model, "tanh", 2.0, x)
    conv1 = model.features[0]
    with torch.no_grad():
        pre = conv1(x)
        expected_sat = ((2 * torch.tanh(pre)).abs() > 0.95 * 2).float().mean().item()
    got = probe.measure(model)
    assert got["conv1_pre_std"] == pytest.approx(pre.std().item(), rel=1e-5)
    assert got["conv1_saturated"] == pytest.approx(expected_sat)
    assert got["conv1_weight_rms"] == pytest.approx(conv1.weight.pow(2).mean().sqrt().item(), rel=1e-5)
    with torch.no_grad():
        conv1.weight.mul_(1000)  # raw-pixel-sized inputs through a large filter: tanh pinned at ±a
    assert probe.measure(model)["conv1_saturated"] > 0.95


def test_dead_relu_units_output_zero_for_every_probe_image():
    model = _net("relu")
    x = torch.randn(16, 3, 32, 32)
    probe = ActivationProbe(model, "relu", 1.0, x)
    hidden = model.classifier[1].linear
    with torch.no_grad():
        hidden.bias[:16] = -1e4  # 16 of the 64 hidden units can never fire
        hidden.bias[16:] = 1e4  # the rest always do
    assert probe.measure(model)["fc64_dead"] == pytest.approx(16 / 64)


def test_stats_are_extra_columns_and_leave_training_unchanged(make_config):
    common = ["trainer.epochs=2", "model.activation=tanh", "model.regularizer=dropconnect",
              "model.dropconnect_samples=10", "data.augment=crop_flip"]
    plain_cfg, stats_cfg = make_config(common, "plain"), make_config([*common, "trainer.activation_stats=true"], "stats")
    ablate.train(plain_cfg)
    stats = ablate.train(stats_cfg)
    a, b = pd.read_csv(f"{plain_cfg.out_dir}/metrics.csv"), pd.read_csv(f"{stats_cfg.out_dir}/metrics.csv")
    assert list(b.columns[:len(METRIC_COLUMNS)]) == METRIC_COLUMNS and "conv1_saturated" in b
    pd.testing.assert_frame_equal(a.drop(columns=list(TIMING_COLUMNS)),
                                  b[METRIC_COLUMNS].drop(columns=list(TIMING_COLUMNS)), check_exact=True)
    assert 0 <= b["fc64_saturated"].min() and b["fc64_saturated"].max() <= 1
    assert set(stats["activation_stats_init"]) == {c for c in b.columns if c not in METRIC_COLUMNS}
    assert stats["final"]["conv2_pre_std"] == b["conv2_pre_std"].iloc[-1]
