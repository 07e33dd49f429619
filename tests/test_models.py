import dataclasses
import logging
import math
from functools import cache

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ablate
from ablate.cli import to_config
from ablate.config import ModelConfig
from ablate.models import MODELS, build_model, count_params
from ablate.models import regularizers as R
from ablate.models.activations import ScaledTanh, init_gain
from ablate.models.lrn import TowerLRN
from ablate.models.norms import NORMS, norm_groups
from ablate.models.parts import Parts
from ablate.optim import build_optimizer
from ablate.registry import ConfigError
from tests.conftest import compose_cfg

# Small inputs exercise every code path quickly; alexnet's 224 geometry has its own tests below.
IMAGE = {"convnet4": 32, "convnet3fc": 32, "alexnet": 99, "alexnet_cifar": 32, "convlocal": 32}


@cache
def yaml_model(name: str) -> ModelConfig:
    """The model section as conf/model/<name>.yaml composes it, with small fc layers."""
    return dataclasses.replace(to_config(compose_cfg([f"model={name}"])).model, hidden=32)


def forward_backward(model: nn.Module, image: int, classes: int = 10) -> None:
    x = torch.randn(2, 3, image, image)
    logits = model(x)
    assert logits.shape == (2, classes) and torch.isfinite(logits).all()
    F.cross_entropy(logits, torch.tensor([0, 1])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
    model.eval()
    with torch.no_grad():
        assert torch.isfinite(model(x)).all()


def _alexnet(**kw) -> nn.Module:
    return build_model(dataclasses.replace(yaml_model("alexnet"), hidden=4096, **kw), 1000, 224)


def _expected_params(widths, towers, classes=1000, hidden=4096, side=6):
    """AlexNet's parameters counted by hand: grouped conv2/4/5 see widths[i-1]/towers input maps."""
    c1, c2, c3, c4, c5 = widths
    convs = [(3, c1, 11, 1), (c1, c2, 5, towers), (c2, c3, 3, 1), (c3, c4, 3, towers), (c4, c5, 3, towers)]
    total = sum(cout * (cin // groups) * k * k + cout for cin, cout, k, groups in convs)
    fcs = [(c5 * side * side, hidden), (hidden, hidden), (hidden, classes)]
    return total + sum(i * o + o for i, o in fcs)


def test_alexnet_two_towers_has_the_papers_geometry_and_parameter_count():
    model = _alexnet(init="default")
    assert count_params(model) == 60_965_224 == _expected_params((96, 256, 384, 384, 256), 2)
    f = model.features
    assert [f.conv2.groups, f.conv3.groups, f.conv4.groups, f.conv5.groups] == [2, 1, 2, 2]
    assert f.norm1.towers == 2 and f.norm2.towers == 2
    shapes = {}
    for layer in ("conv1", "pool1", "pool2", "pool5"):
        getattr(f, layer).register_forward_hook(lambda m, i, o, layer=layer: shapes.__setitem__(layer, o.shape))
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    assert shapes["conv1"] == (1, 96, 55, 55) and shapes["pool1"][-1] == 27
    assert shapes["pool2"][-1] == 13 and shapes["pool5"] == (1, 256, 6, 6)


def test_alexnet_one_tower_and_the_papers_one_gpu_comparison_net():
    assert count_params(_alexnet(towers=1)) == _expected_params((96, 256, 384, 384, 256), 1) == 62_378_344
    # §3.2 footnote: half the kernels in conv1-conv4, conv5 and the fc layers kept full size.
    assert count_params(_alexnet(towers=1, width=0.5)) == _expected_params((48, 128, 192, 192, 256), 1)
    assert count_params(_alexnet(towers=1, width=0.5, scale_conv5=True)) == _expected_params(
        (48, 128, 192, 192, 128), 1)


@pytest.mark.slow
def test_alexnet_224_forward_backward_with_paper_settings():
    torch.manual_seed(0)
    forward_backward(_alexnet(), 224, classes=1000)


@pytest.mark.parametrize("image", [224, 227])
def test_alexnet_conv1_gives_55_from_224_and_227(image):
    model = build_model(dataclasses.replace(yaml_model("alexnet"), width=1 / 96 * 2), 10, image)
    out = model.features.conv1(model.features.pad(torch.zeros(1, 3, image, image)))
    assert out.shape[-2:] == (55, 55)


def test_paper_init_values():
    torch.manual_seed(0)
    model = build_model(yaml_model("alexnet_cifar"), 10, 32)
    f = model.features
    ones = [f.conv2, f.conv4, f.conv5, model.fc6.linear, model.fc7.linear]
    zeros = [f.conv1, f.conv3, model.fc8]
    assert all(bool((m.bias == 1).all()) for m in ones) and all(bool((m.bias == 0).all()) for m in zeros)
    assert abs(float(f.conv3.weight.detach().std()) - 0.01) < 5e-4


def test_kaiming_init_uses_the_activation_gain():
    torch.manual_seed(0)
    cfg = dataclasses.replace(yaml_model("alexnet_cifar"), init="kaiming", activation="tanh")
    model = build_model(cfg, 10, 32)
    conv3 = model.features.conv3
    fan_in = conv3.in_channels * 9
    assert abs(float(conv3.weight.detach().std()) - 5 / 3 / math.sqrt(fan_in)) < 2e-3
    assert abs(float(model.fc8.weight.detach().std()) - 1 / math.sqrt(32)) < 0.02  # output layer: gain 1
    assert bool((conv3.bias == 0).all())


def test_convnet4_defaults_are_the_foundation_net():
    cfg = to_config(compose_cfg()).model
    assert (cfg.norm, cfg.pool, cfg.regularizer, cfg.init) == ("none", "overlap", "none", "default")
    model = build_model(cfg, 10, 32)
    pools = [m for m in model.features if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    assert [type(p).__name__ for p in pools] == ["MaxPool2d", "AvgPool2d", "AvgPool2d"]
    assert all(p.kernel_size == 3 and p.stride == 2 and p.ceil_mode for p in pools)
    assert not any(isinstance(m, (nn.Dropout, R.DropConnectFC, TowerLRN)) for m in model.modules())


def test_convnet3fc_is_layers_18pct_with_its_init():
    torch.manual_seed(0)
    model = build_model(yaml_model("convnet3fc"), 10, 32)
    f = model.features
    pools = [f.pool1, f.pool2, f.pool3]
    assert [type(p).__name__ for p in pools] == ["MaxPool2d", "AvgPool2d", "AvgPool2d"]
    assert all(p.kernel_size == 3 and p.stride == 2 and p.ceil_mode for p in pools)
    convs = [(3, 32), (32, 32), (32, 64)]  # 5×5 each, then fc10 on 64 maps of 4×4
    assert count_params(model) == sum(o * i * 25 + o for i, o in convs) + 64 * 16 * 10 + 10
    assert not any(isinstance(m, (nn.Dropout, R.DropConnectFC, TowerLRN)) for m in model.modules())
    for w, std in zip(model.weighted_layers(), (1e-4, 0.01, 0.01, 0.01), strict=True):  # layers-18pct's initW
        assert abs(float(w.layer.weight.detach().std()) / std - 1) < 0.1 and bool((w.layer.bias == 0).all()), w.name


@pytest.mark.parametrize("name", MODELS.names())
def test_weighted_layers_carry_the_names_layer_decay_takes(name):
    names = MODELS.get(name).meta["layers"]
    cfg = dataclasses.replace(yaml_model(name), layer_decay={names[-1]: 0.123})
    model = build_model(cfg, 10, IMAGE[name])
    layers = model.weighted_layers()
    assert tuple(w.name for w in layers) == names
    assert len({id(w.layer) for w in layers}) == len(layers)
    opt = build_optimizer(model, dataclasses.replace(to_config(compose_cfg()).optim, weight_decay=0.5))
    decay = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert decay[id(layers[-1].layer.weight)] == 0.123 and decay[id(layers[0].layer.weight)] == 0.5
    assert decay[id(layers[-1].layer.bias)] == 0.0


def test_scaled_tanh_is_a_tanh_bx():
    x = torch.linspace(-3, 3, 13)
    torch.testing.assert_close(ScaledTanh(1.7159, 0.6667)(x), 1.7159 * torch.tanh(0.6667 * x))
    cfg = dataclasses.replace(yaml_model("convnet4"), activation="tanh")
    assert isinstance(Parts(cfg).act(), nn.Tanh)  # plain tanh stays torch's module
    lecun = Parts(dataclasses.replace(cfg, tanh_a=1.7159, tanh_b=0.6667)).act()
    assert isinstance(lecun, ScaledTanh) and (lecun.a, lecun.b) == (1.7159, 0.6667)


def test_kaiming_gain_for_a_scaled_tanh_follows_its_second_moment():
    """g = 5/3 · √(E[tanh(z)²] / E[(a·tanh(bz))²]): torch's 5/3 at a = b = 1, ∝ 1/a, checked by Monte Carlo."""
    cfg = dataclasses.replace(yaml_model("convnet4"), activation="tanh")
    assert init_gain(cfg) == 5 / 3
    assert init_gain(dataclasses.replace(cfg, tanh_a=2.0)) == pytest.approx(5 / 6)
    z = torch.randn(2_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ratio = (torch.tanh(z) ** 2).mean() / ((1.7159 * torch.tanh(0.6667 * z)) ** 2).mean()
    lecun = init_gain(dataclasses.replace(cfg, tanh_a=1.7159, tanh_b=0.6667))
    assert lecun == pytest.approx(5 / 3 * float(ratio.sqrt()), rel=2e-3) and lecun == pytest.approx(1.208, abs=1e-3)
    torch.manual_seed(0)
    model = build_model(dataclasses.replace(yaml_model("alexnet_cifar"), init="kaiming", activation="tanh",
                                            tanh_a=1.7159, tanh_b=0.6667), 10, 32)
    conv3 = model.features.conv3
    assert abs(float(conv3.weight.detach().std()) - lecun / math.sqrt(conv3.in_channels * 9)) < 2e-3


def test_lrn_conventions_match_the_formula_by_hand():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 3, 3) * 10
    n, alpha, beta, k = 5, 1e-3, 0.75, 2.0
    sq = F.pad(x.pow(2), (0, 0, 0, 0, n // 2, n // 2))
    window = torch.stack([sq[:, c:c + n].sum(1) for c in range(8)], 1)  # Σ over max(0,i−n/2)..min(N−1,i+n/2)
    formula = x / (k + alpha * window) ** beta
    per_size = x / (k + alpha / n * window) ** beta
    torch.testing.assert_close(TowerLRN(n, alpha, beta, k, convention="formula")(x), formula)
    torch.testing.assert_close(TowerLRN(n, alpha, beta, k, convention="cudaconvnet")(x), per_size)


@pytest.mark.parametrize("size", [5, 4])
@pytest.mark.parametrize("towers", [1, 2])
@pytest.mark.parametrize("beta", [0.75, 0.5, 0.6])
@pytest.mark.parametrize("channels_last", [False, True])
def test_lrn_matches_torch_per_tower_in_value_and_gradient(size, towers, beta, channels_last):
    torch.manual_seed(0)
    x = torch.randn(3, 12, 4, 5, dtype=torch.double) * 3
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    x.requires_grad_()
    grad = torch.randn(3, 12, 4, 5, dtype=torch.double)
    ours = TowerLRN(size, 0.5, beta, 2.0, towers=towers)(x)
    ref = torch.cat([nn.LocalResponseNorm(size, 0.5, beta, 2.0)(t) for t in x.chunk(towers, 1)], 1)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(torch.autograd.grad(ours, x, grad)[0], torch.autograd.grad(ref, x, grad)[0])


def test_lrn_backward_passes_gradcheck_and_traces_under_compile():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 3, 3, dtype=torch.double, requires_grad=True)
    lrn = TowerLRN(5, 0.7, 0.75, 2.0, towers=2)
    assert torch.autograd.gradcheck(lrn, (x,))
    compiled = torch.compile(lrn, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(torch.autograd.grad(compiled(x).sum(), x)[0], torch.autograd.grad(lrn(x).sum(), x)[0])


def test_lrn_stays_within_each_tower():
    lrn = TowerLRN(5, 1.0, 0.75, 2.0, towers=2)
    x = torch.randn(1, 8, 2, 2)
    y = x.clone()
    y[:, 4:] *= 100  # change only the second tower's maps
    torch.testing.assert_close(lrn(x)[:, :4], lrn(y)[:, :4])
    assert not torch.allclose(TowerLRN(5, 1.0, 0.75, 2.0)(x)[:, :4], TowerLRN(5, 1.0, 0.75, 2.0)(y)[:, :4])


def test_groupnorm_groups_are_clipped_to_divisors():
    assert norm_groups(96, 32) == 32 and norm_groups(16, 32) == 16 and norm_groups(48, 32, towers=2) == 24
    assert norm_groups(6, 4) == 3


def test_groupnorm_that_is_instancenorm_says_so(caplog):
    with caplog.at_level(logging.WARNING, logger="ablate.models.norms"):
        NORMS.build("groupnorm", 64, 1, options={"groupnorm_groups": 32})
        assert not caplog.records
        gn = NORMS.build("groupnorm", 32, 1, options={"groupnorm_groups": 32})
    assert gn.num_groups == 32 and "one channel per group: it is InstanceNorm" in caplog.text


@pytest.mark.parametrize("override,needle", [(["model.towers=2"], "model.towers=1"),
                                             (["model.width=0"], "model.width"),
                                             (["model.dropout=1.0"], "model.dropout"),
                                             (["model.dropconnect_keep=0"], "model.dropconnect_keep"),
                                             (["model.pool_kernel=0"], "model.pool_kernel")])
def test_bad_model_values_fail_at_validation(override, needle):
    with pytest.raises(ConfigError, match=needle):
        to_config(compose_cfg(override))


@pytest.mark.parametrize("name", MODELS.names())
def test_a_pool_window_too_large_fails_before_training_naming_the_fix(name):
    cfg = dataclasses.replace(yaml_model(name), pool_kernel=20, pool_stride=20)
    with pytest.raises(ConfigError, match="model.pool_kernel"):
        build_model(cfg, 10, IMAGE[name])


def test_alexnet_on_cifar_sized_input_points_to_alexnet_cifar():
    with pytest.raises(ConfigError, match="alexnet_cifar"):
        build_model(yaml_model("alexnet"), 10, 8)


# DropConnect (Wan et al. 2013) ------------------------------------------------------------------------------


def _dropconnect(**kw) -> R.DropConnectFC:
    torch.manual_seed(0)
    layer = R.DropConnectFC(6, 3, nn.Identity(), keep=kw.pop("keep", 0.5), **kw)
    with torch.no_grad():
        layer.linear.bias.copy_(torch.tensor([1.5, -2.0, 0.7]))  # large enough that a masked bias shows
    return layer


def _moments(layer: R.DropConnectFC, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """E[u] and Var[u] of the DropConnect pre-activation, by hand: the bias is a weight on a constant 1 input."""
    p, w, b = layer.keep, layer.linear.weight.detach(), layer.linear.bias.detach()
    mean = p * v @ w.T + (p if layer.mask_bias else 1.0) * b
    var = p * (1 - p) * ((v * v) @ (w * w).T + (b * b if layer.mask_bias else 0.0))
    return mean, var


@pytest.mark.parametrize("mask_bias", [True, False])
def test_dropconnect_mean_inference_is_deterministic_and_is_a_of_the_mean(mask_bias):
    layer = _dropconnect(inference="mean", mask_bias=mask_bias).eval()
    v = torch.randn(4, 6)
    torch.testing.assert_close(layer(v), layer(v))
    w, b = layer.linear.weight, layer.linear.bias
    expected = 0.5 * (v @ w.T + b) if mask_bias else 0.5 * v @ w.T + b  # a(p(Wv + b)) / a(pWv + b)
    torch.testing.assert_close(layer(v), expected)


@pytest.mark.parametrize("mask", ["example", "batch"])
@pytest.mark.parametrize("mask_bias", [True, False])
def test_dropconnect_train_outputs_average_to_the_mean_output(mask, mask_bias):
    layer = _dropconnect(mask=mask, inference="mean", mask_bias=mask_bias)
    v = torch.randn(1, 6)
    with torch.no_grad():
        draws = torch.cat([layer(v.expand(200, 6)) for _ in range(20)])  # 4000 masks (20 for "batch")
        target = layer.eval()(v)
    std = _moments(layer, v)[1].sqrt()
    draws_per_mask = 200 if mask == "batch" else 1
    tolerance = 5 * std / math.sqrt(len(draws) / draws_per_mask)
    assert ((draws.mean(0, keepdim=True) - target).abs() <= tolerance).all()


@pytest.mark.parametrize("mask", ["example", "batch"])
def test_dropconnect_masks_the_bias_by_default_and_not_on_request(mask):
    zero = torch.zeros(400, 6)  # u = m ⊙ b when v = 0: each output is 0 or its bias
    layer = _dropconnect(mask=mask)
    b = layer.linear.bias.detach()
    with torch.no_grad():
        u = torch.cat([layer(zero[:40]) for _ in range(10)]) if mask == "batch" else layer(zero)
        assert ((u == 0) | (u == b)).all() and (u == 0).any(0).all() and (u == b).any(0).all()
        torch.testing.assert_close(_dropconnect(mask=mask, mask_bias=False)(zero), b.expand(400, 3))


def test_dropconnect_masks_are_per_example_by_default_and_shared_in_batch_mode():
    v = torch.randn(1, 6).expand(8, 6)
    per_example = _dropconnect()(v)
    assert not torch.allclose(per_example[0], per_example[1])
    shared = _dropconnect(mask="batch")(v)
    torch.testing.assert_close(shared, shared[:1].expand(8, 3))


@pytest.mark.parametrize("mask_bias", [True, False])
def test_dropconnect_sample_inference_matches_the_moment_matched_gaussian(mask_bias):
    keep = 0.3
    layer = _dropconnect(keep=keep, samples=1, mask_bias=mask_bias).eval()  # one sample per call: u itself
    v = torch.randn(1, 6)
    mean, var = _moments(layer, v)
    with torch.no_grad():
        u = layer(v.expand(20000, 6))
        train = layer.train()(v.expand(20000, 6))  # the actual DropConnect pre-activations
    for draws in (u, train):  # the samples follow N(mean, var), whose moments are DropConnect's own
        torch.testing.assert_close(draws.mean(0, keepdim=True), mean, atol=float(5 * var.max().sqrt() / 141), rtol=0)
        torch.testing.assert_close(draws.var(0, keepdim=True), var, rtol=0.05, atol=1e-6)


@pytest.mark.parametrize("mask_bias", [True, False])
def test_dropconnect_sample_inference_averages_the_activation_of_samples(mask_bias):
    torch.manual_seed(0)
    layer = R.DropConnectFC(6, 3, nn.ReLU(), keep=0.5, samples=4000, mask_bias=mask_bias).eval()
    v = torch.randn(2, 6)
    mean, var = _moments(layer, v)
    std = var.sqrt()
    normal = torch.distributions.Normal(0.0, 1.0)
    z = mean / std  # E[relu(u)] for u ~ N(mean, std²), in closed form
    expected = mean * normal.cdf(z) + std * normal.log_prob(z).exp()
    torch.testing.assert_close(layer(v), expected, atol=float(4 * std.max() / math.sqrt(4000)), rtol=0)


@pytest.mark.parametrize("mask_bias", [True, False])
def test_per_example_dropconnect_layer_gradients_match_its_explicit_masks(monkeypatch, mask_bias):
    """The layer's output and its gradients for v, W and b equal plain autograd through the very masks it drew."""
    monkeypatch.setattr(R, "_BUDGET", 40)  # several chunks of masks
    layer = _dropconnect(mask_bias=mask_bias).double()
    v = torch.randn(9, 6, dtype=torch.float64, requires_grad=True)
    g = torch.randn(9, 3, dtype=torch.float64)
    torch.manual_seed(7)
    out = layer(v)
    grads = torch.autograd.grad(out, [v, layer.linear.weight, layer.linear.bias], g)

    torch.manual_seed(7)
    seed = int(torch.randint(0, 2**62, ()))  # the draw the layer made
    w, b = layer.linear.weight, layer.linear.bias
    wide, x = (torch.cat([w, b[:, None]], 1), torch.cat([v, v.new_ones(9, 1)], 1)) if mask_bias else (w, v)
    chunk = max(1, R._BUDGET // wide.numel())
    masks = torch.cat([R._mask(seed, k, (len(x[i:i + chunk]), *wide.shape), 0.5, wide)
                       for k, i in enumerate(range(0, 9, chunk))])
    ref = torch.einsum("boi,bi->bo", masks * wide, x) + (0 if mask_bias else b)
    torch.testing.assert_close(out, ref)
    for got, want in zip(grads, torch.autograd.grad(ref, [v, w, b], g), strict=True):
        torch.testing.assert_close(got, want)


def test_per_example_dropconnect_gradient_is_exact_across_chunks(monkeypatch):
    monkeypatch.setattr(R, "_BUDGET", 24)  # 4 examples per chunk of 3×2 masks: several chunks
    v = torch.randn(10, 2, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: R._PerExampleMaskedLinear.apply(a, b, 0.5, 1234), (v, w))


def test_paper_dropout_scales_at_test_time():
    drop = R.PaperDropout(0.5)
    x = torch.ones(1000)
    kept = drop(x)
    assert set(kept.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(drop.eval()(x), x * 0.5)


@pytest.mark.parametrize("model", [m for m in MODELS.names() if m != "alexnet"])  # alexnet: 224 input
def test_every_cifar_model_trains_one_epoch_through_the_engine(make_config, model):
    overrides = [f"model={model}", "model.hidden=16", "model.width=0.25", "optim=paper", "data.subset=50",
                 "data.test_subset=20", "trainer.batch_size=25", "model.regularizer=dropconnect",
                 "model.dropconnect_samples=10"]
    summary = ablate.train(make_config(overrides, model))
    assert summary["status"] == "completed"


def test_stochastic_pooling_draws_in_proportion_to_the_activations_and_averages_by_them_at_test():
    from ablate.models.pools import StochasticPool2d
    torch.manual_seed(0)
    x = torch.zeros(20_000, 1, 3, 3)
    x[:, 0, 0] = torch.tensor([1.0, 2.0, 3.0])  # the other six are 0, one negative counts as 0 too
    x[:, 0, 1, 0] = -5.0
    pool = StochasticPool2d(3, 2)
    drawn = pool(x).flatten()
    assert [float((drawn == v).float().mean()) for v in (1.0, 2.0, 3.0)] == pytest.approx([1 / 6, 2 / 6, 3 / 6],
                                                                                          abs=0.01)
    assert float(pool.eval()(x[:1])) == pytest.approx((1 + 4 + 9) / 6)  # Σ pᵢaᵢ with pᵢ = aᵢ / Σa
    for side, ceil in ((32, True), (55, False), (13, False)):  # the sizes of torch's max pooling
        y = torch.randn(2, 3, side, side)
        assert StochasticPool2d(3, 2, ceil)(y).shape == nn.MaxPool2d(3, 2, ceil_mode=ceil)(y).shape


def test_channel_layernorm_is_layer_norm_over_each_towers_channels():
    from ablate.models.norms import ChannelLayerNorm
    x = torch.randn(2, 8, 5, 5)
    per_tower = torch.cat([F.layer_norm(x[:, i:i + 4].permute(0, 2, 3, 1), (4,), eps=1e-6).permute(0, 3, 1, 2)
                           for i in (0, 4)], 1)
    torch.testing.assert_close(ChannelLayerNorm(8, 2)(x), per_tower)
    torch.testing.assert_close(ChannelLayerNorm(8, 2)(x.to(memory_format=torch.channels_last)), per_tower)
