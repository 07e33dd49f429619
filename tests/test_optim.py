import dataclasses
import io

import pytest
import torch
from torch import nn

from ablate.cli import to_config
from ablate.config import Config, ModelConfig, OptimConfig
from ablate.models import build_model
from ablate.models.parts import Weighted
from ablate.optim import DECAY_STYLES, OPTIMIZERS, SGD, build_optimizer, param_groups
from ablate.registry import ConfigError
from ablate.schedules import SCHEDULES, build_schedule, step_schedule
from ablate.validate import validate
from tests.conftest import compose_cfg

LR, MU, LAM = 0.1, 0.9, 5e-4


class Net(nn.Module):
    """A conv, a norm, a PReLU and a linear layer: decayed weights and every kind of excluded parameter."""

    def __init__(self):
        super().__init__()
        self.conv, self.norm, self.act = nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2), nn.PReLU(2)
        self.fc = nn.Linear(2, 1)

    def forward(self, x):
        return self.fc(self.act(self.norm(self.conv(x))).mean((2, 3)))

    def weighted_layers(self) -> list[Weighted]:
        return [Weighted("conv", self.conv, 0.1, 0.0), Weighted("fc", self.fc, 0.1, 0.0)]


def _cfg(**kw) -> OptimConfig:
    return dataclasses.replace(OptimConfig(lr=LR, momentum=MU, weight_decay=LAM), **kw)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return Net()


def _step(opt, model: nn.Module, grads: list[torch.Tensor]) -> None:
    for p, g in zip(model.parameters(), grads, strict=True):
        p.grad = g.clone()
    opt.step()


def _grads(model: nn.Module, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(p.shape, generator=gen) for p in model.parameters()]


def test_coupled_sgd_is_the_papers_v_form_update():
    model = _model()
    w0 = model.fc.weight.detach().clone()
    opt = build_optimizer(model, _cfg())
    v = torch.zeros_like(w0)
    w = w0.clone()
    for seed in (1, 2, 3):  # several steps, so the velocity term matters
        grads = _grads(model, seed)
        g = grads[[n for n, _ in model.named_parameters()].index("fc.weight")]
        v = MU * v - LAM * LR * w - LR * g  # §5: v ← 0.9v − 0.0005·ε·w − ε·∂L/∂w;  w ← w + v
        w = w + v
        _step(opt, model, grads)
        torch.testing.assert_close(model.fc.weight.detach(), w)


def test_decoupled_differs_from_coupled_exactly_by_the_decay_through_momentum():
    models = {style: _model() for style in ("coupled", "decoupled")}
    w0 = models["coupled"].fc.weight.detach().clone()
    opts = {s: build_optimizer(m, _cfg(weight_decay_style=s)) for s, m in models.items()}
    for seed in (1, 2):
        for style, model in models.items():
            _step(opts[style], model, _grads(model, seed))
    # Step 1 is the same update for both; at step 2 coupled also carries μ·(λ·w0) in its momentum buffer.
    diff = models["coupled"].fc.weight.detach() - models["decoupled"].fc.weight.detach()
    torch.testing.assert_close(diff, -LR * MU * LAM * w0)


@pytest.mark.parametrize("name,style", [(n, s) for n in ("sgd", "adam") for s in ("coupled", "decoupled")])
def test_decay_excluded_parameters_are_untouched_by_decay(name, style):
    model = _model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = build_optimizer(model, _cfg(name=name, weight_decay=0.1, weight_decay_style=style))
    _step(opt, model, [torch.zeros_like(p) for p in model.parameters()])  # zero loss gradient: decay only
    for n, p in model.named_parameters():
        decayed = n in ("conv.weight", "fc.weight")
        assert torch.equal(p, before[n]) != decayed, n
    included = build_optimizer(model, _cfg(weight_decay=0.1, decay_bias_and_norm=True))
    _step(included, model, [torch.zeros_like(p) for p in model.parameters()])
    assert not torch.equal(model.fc.bias, before["fc.bias"]) and not torch.equal(model.act.weight, before["act.weight"])


def test_no_decay_style_means_no_decay():
    model = _model()
    groups = param_groups(model, _cfg(weight_decay_style="none"))
    assert all(g["weight_decay"] == 0.0 for g in groups)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_adam_decoupled_is_adamw_by_hand():
    model = _model()
    w0 = model.fc.weight.detach().clone()
    opt = build_optimizer(model, _cfg(name="adam", lr=1e-3, weight_decay=0.1, weight_decay_style="decoupled"))
    grads = _grads(model, 1)
    g = grads[[n for n, _ in model.named_parameters()].index("fc.weight")]
    _step(opt, model, grads)
    # First Adam step: bias-corrected m̂ = g, v̂ = g², so the step is lr·g/(|g| + ε); decay is lr·λ·w beside it.
    expected = w0 * (1 - 1e-3 * 0.1) - 1e-3 * g / (g.abs() + 1e-8)
    torch.testing.assert_close(model.fc.weight.detach(), expected)


def test_paper_momentum_rescale_keeps_the_velocity_across_an_lr_drop():
    lrs = [0.1, 0.1, 0.01, 0.01]
    results = {}
    for rescale in (True, False):
        model = _model()
        opt = build_optimizer(model, _cfg(paper_momentum_rescale=rescale))
        for step, lr in enumerate(lrs):
            for group in opt.param_groups:
                group["lr"] = lr
            _step(opt, model, _grads(model, step))
        results[rescale] = model.fc.weight.detach()
    model = _model()
    w = model.fc.weight.detach().clone()
    v = torch.zeros_like(w)
    index = [n for n, _ in model.named_parameters()].index("fc.weight")
    for step, lr in enumerate(lrs):
        v = MU * v - LAM * lr * w - lr * _grads(model, step)[index]
        w = w + v
    torch.testing.assert_close(results[True], w)
    assert not torch.allclose(results[False], w)


def _run(opt, sched, model, epochs, errors):
    for epoch in range(epochs):
        _step(opt, model, _grads(model, epoch))
        step_schedule(sched, errors[epoch])


@pytest.mark.parametrize("schedule", SCHEDULES.names())
@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_optimizer_and_schedule_round_trip_through_state_dicts(name, schedule):
    cfg = _cfg(name=name, schedule=schedule, plateau_patience=0, plateau_wait_below=0.45 if schedule == "plateau"
               else None, step_size=2, milestones=[2, 5], cosine_min_lr=0.01,
               paper_momentum_rescale=name == "sgd", bias_lr_mult=2.0)
    errors = [0.5, 0.6, 0.7, 0.4, 0.45, 0.5, 0.55, 0.3]
    model = _model()
    opt = build_optimizer(model, cfg)
    sched = build_schedule(opt, cfg, 8)
    _run(opt, sched, model, 4, errors)
    buffer = io.BytesIO()  # a checkpoint, as the engine would write one
    torch.save((opt.state_dict(), sched.state_dict(), model.state_dict()), buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    _run(opt, sched, model, 4, errors[4:])

    resumed = _model()
    resumed.load_state_dict(saved[2])
    opt2 = build_optimizer(resumed, cfg)
    sched2 = build_schedule(opt2, cfg, 8)
    opt2.load_state_dict(saved[0])
    sched2.load_state_dict(saved[1])
    _run(opt2, sched2, resumed, 4, errors[4:])
    for a, b in zip(model.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in opt2.param_groups]


def test_plateau_divides_by_ten_when_validation_error_stops_improving_at_most_three_times():
    opt = SGD(nn.Linear(1, 1).parameters(), lr=0.01)
    sched = build_schedule(opt, _cfg(schedule="plateau", plateau_patience=1), epochs=20)
    lrs = []
    for err in [0.5, 0.4, 0.4, 0.39, 0.39, 0.39, 0.39, 0.39, 0.39, 0.39, 0.39, 0.39]:
        opt.step()
        step_schedule(sched, err)
        lrs.append(opt.param_groups[0]["lr"])
    # 0.4 equalling the best is not an improvement; 2 bad epochs (patience 1) drop the lr; then the floor.
    assert lrs[:3] == [0.01, 0.01, 0.01] and lrs[3] == 0.01
    assert lrs[5] == pytest.approx(1e-3) and lrs[7] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-5)
    assert lrs[-1] == pytest.approx(1e-5)


def test_plateau_wait_below_counts_no_bad_epochs_while_the_error_sits_at_chance():
    errors = [0.9, 0.9, 0.9, 0.9, 0.9, 0.84, 0.8, 0.8, 0.8, 0.8]
    lrs = {}
    for wait_below in (None, 0.85):
        opt = SGD(nn.Linear(1, 1).parameters(), lr=0.01)
        sched = build_schedule(opt, _cfg(schedule="plateau", plateau_patience=1, plateau_wait_below=wait_below), 10)
        lrs[wait_below] = []
        for err in errors:
            opt.step()
            step_schedule(sched, err)
            lrs[wait_below].append(opt.param_groups[0]["lr"])
    # As written, the stall at chance costs two drops before the net leaves it.
    assert lrs[None][:6] == pytest.approx([0.01, 0.01, 1e-3, 1e-3, 1e-4, 1e-4])
    # Gated: 0.84 is the first counted epoch (its best), 0.8 a new best, then two bad epochs drop the lr once.
    assert lrs[0.85] == pytest.approx([0.01] * 8 + [1e-3, 1e-3])
    assert sched.state_dict()["waiting"] is False


def test_plateau_wait_below_is_an_error_on_a_schedule_that_does_not_read_it():
    cfg = compose_cfg(["optim.schedule=cosine", "optim.plateau_wait_below=0.85"])
    with pytest.raises(ConfigError, match="optim.plateau_wait_below=0.85 is read only by optim.schedule=plateau"):
        validate(to_config(cfg))
    with pytest.raises(ConfigError, match=r"must be in \(0, 1\]"):
        validate(to_config(compose_cfg(["optim.schedule=plateau", "optim.plateau_wait_below=85"])))


def test_step_and_cosine_schedules():
    opt = SGD(nn.Linear(1, 1).parameters(), lr=1.0)
    sched = build_schedule(opt, _cfg(schedule="step", step_size=2, step_gamma=0.5), epochs=6)
    seen = []
    for _ in range(4):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        step_schedule(sched, 0.0)
    assert seen == [1.0, 1.0, 0.5, 0.5]
    opt = SGD(nn.Linear(1, 1).parameters(), lr=1.0)
    sched = build_schedule(opt, _cfg(schedule="cosine"), epochs=4)
    seen = []
    for _ in range(4):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        step_schedule(sched, 0.0)
    assert seen[0] == 1.0 and seen[2] == pytest.approx(0.5) and 0 < seen[3] < seen[2]


def test_optim_groups_compose_and_bad_values_fail():
    paper = to_config(compose_cfg(["optim=paper"])).optim
    assert (paper.weight_decay, paper.schedule, paper.paper_momentum_rescale) == (5e-4, "plateau", True)
    assert to_config(compose_cfg(["optim=adam"])).optim.weight_decay_style == "decoupled"
    with pytest.raises(ConfigError, match="read only by optim.name=sgd"):
        to_config(compose_cfg(["optim=adam", "optim.paper_momentum_rescale=true"]))
    for bad in ("optim.momentum=1.0", "optim.weight_decay=-1", "optim.plateau_factor=0", "optim.lr=0"):
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            to_config(compose_cfg([bad]))


# cuda-convnet's learning-rate structure: per-layer decay, biases at bias_lr_mult × lr -------------------------


def _by_name(model: nn.Module, grads: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    return {n: g for (n, _), g in zip(model.named_parameters(), grads, strict=True)}


@pytest.mark.parametrize("style", DECAY_STYLES)
def test_layer_decay_and_bias_lr_match_a_hand_computed_sgd_step(style):
    """Two SGD steps by hand: conv weight λ 0, fc weight λ 0.1 (per layer), biases at 2·lr, norm/PReLU at lr."""
    model = _model()
    model.layer_decay = {"conv": 0.0, "fc": 0.1}  # as build_model attaches model.layer_decay
    decay = {"conv.weight": 0.0, "fc.weight": 0.1} if style != "none" else {}
    lr = {n: LR * (2.0 if n.endswith("bias") and n.split(".")[0] in ("conv", "fc") else 1.0)
          for n, _ in model.named_parameters()}
    opt = build_optimizer(model, _cfg(weight_decay=0.7, weight_decay_style=style, bias_lr_mult=2.0))
    w = {n: p.detach().clone() for n, p in model.named_parameters()}
    buf = {}
    for seed in (1, 2):
        grads = _by_name(model, _grads(model, seed))
        _step(opt, model, list(grads.values()))
        for n, g in grads.items():
            lam = decay.get(n, 0.0)
            d = g + lam * w[n] if style == "coupled" else g  # coupled: λw through the momentum buffer
            buf[n] = MU * buf[n] + d if n in buf else d
            w[n] = w[n] * (1 - lr[n] * lam) if style == "decoupled" else w[n]  # SGDW: beside the buffer
            w[n] = w[n] - lr[n] * buf[n]
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), w[n], msg=n)
    assert opt.param_groups[0]["lr"] == LR and opt.param_groups[0]["params"][0] is model.conv.weight


def test_adam_trains_biases_at_their_own_lr():
    model = _model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = build_optimizer(model, _cfg(name="adam", lr=1e-3, weight_decay=0.0, bias_lr_mult=2.0))
    grads = _by_name(model, _grads(model, 1))
    _step(opt, model, list(grads.values()))
    for n, p in model.named_parameters():  # first Adam step: lr·g/(|g| + ε)
        lr = 2e-3 if n in ("conv.bias", "fc.bias") else 1e-3
        torch.testing.assert_close(p.detach(), before[n] - lr * grads[n] / (grads[n].abs() + 1e-8), msg=n)


def test_default_groups_are_the_two_of_older_checkpoints():
    """Defaults keep [decayed weights, the rest]: optimizer state saved before per-layer settings still loads."""
    model = _model()
    groups = param_groups(model, _cfg())
    assert [len(g["params"]) for g in groups] == [2, 5] and [g["weight_decay"] for g in groups] == [LAM, 0.0]
    assert groups[0]["params"] == [model.conv.weight, model.fc.weight]
    assert len(param_groups(model, _cfg(decay_bias_and_norm=True))) == 1


@pytest.mark.parametrize("schedule", SCHEDULES.names())
def test_every_schedule_keeps_biases_at_their_multiple_of_the_weights_lr(schedule):
    model = _model()
    cfg = _cfg(schedule=schedule, bias_lr_mult=2.0, plateau_patience=0, step_size=2, milestones=[1, 3],
               cosine_min_lr=0.02)
    opt = build_optimizer(model, cfg)
    sched = build_schedule(opt, cfg, 6)
    bias_group = next(g for g in opt.param_groups if any(p is model.fc.bias for p in g["params"]))
    seen = []
    for epoch, err in enumerate([0.5, 0.6, 0.7, 0.8, 0.9, 1.0]):
        seen.append(opt.param_groups[0]["lr"])
        assert bias_group["lr"] == pytest.approx(2 * opt.param_groups[0]["lr"]), epoch
        _step(opt, model, _grads(model, epoch))
        step_schedule(sched, err)
    if schedule != "constant":
        assert seen[-1] < LR  # the schedule did lower the lr, so the ratio was tested across a change
    if schedule == "cosine":
        assert opt.param_groups[0]["lr"] == pytest.approx(0.02) and bias_group["lr"] == pytest.approx(0.04)


def test_multistep_drops_after_the_listed_epochs():
    opt = SGD(nn.Linear(1, 1).parameters(), lr=1.0)
    sched = build_schedule(opt, _cfg(schedule="multistep", milestones=[2, 3], step_gamma=0.1), epochs=5)
    seen = []
    for _ in range(5):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        step_schedule(sched, 0.0)
    assert seen == pytest.approx([1.0, 1.0, 0.1, 0.01, 0.01])


@pytest.mark.parametrize("override,needle", [("optim.bias_lr_mult=-1", "optim.bias_lr_mult"),
                                             ("optim.schedule=multistep", "optim.milestones"),
                                             ("optim.milestones=[5,3]", "optim.milestones")])
def test_bad_lr_structure_values_fail_naming_the_key(override, needle):
    extra = ["optim.schedule=multistep"] if "milestones=" in override else []
    with pytest.raises(ConfigError, match=needle):
        to_config(compose_cfg([override, *extra]))


def test_layer_decay_names_are_checked_against_the_model():
    with pytest.raises(ConfigError, match="conv1, conv2, local3, local4, fc10") as err:
        validate(Config(model=ModelConfig(name="convlocal", layer_decay={"fc8": 0.1})))
    assert "fc8" in str(err.value)
    with pytest.raises(ConfigError, match=">= 0"):
        validate(Config(model=ModelConfig(name="convlocal", layer_decay={"fc10": -1.0})))
    every = {"conv1": 0.0, "conv2": 0.0, "local3": 0.004, "local4": 0.004, "fc10": 0.004}
    with pytest.raises(ConfigError, match="optim.weight_decay=0"):  # a strength no parameter would get
        validate(Config(model=ModelConfig(name="convlocal", layer_decay=every), optim=OptimConfig(weight_decay=5e-4)))
    validate(Config(model=ModelConfig(name="convlocal", layer_decay={"fc10": 0.004}),
                    optim=OptimConfig(weight_decay=5e-4)))


# The multi-tensor (foreach) step against the per-parameter loop ------------------------------------------------
@pytest.mark.parametrize("style", DECAY_STYLES)
@pytest.mark.parametrize("rescale", [True, False])
@pytest.mark.parametrize("momentum", [MU, 0.0])
def test_foreach_sgd_is_bit_identical_to_the_per_parameter_loop(style, rescale, momentum):
    """Per-layer decay, biases at 2× lr, decay of biases and norms, an lr drop mid-way (the paper rescale) and a
    parameter without a gradient: every weight and every momentum buffer equal to the last bit."""
    cfg = _cfg(weight_decay_style=style, paper_momentum_rescale=rescale, momentum=momentum, bias_lr_mult=2.0,
               decay_bias_and_norm=style == "decoupled")
    runs = {}
    for foreach in (True, False):
        model = _model()
        model.layer_decay = {"conv": 0.004}
        opt = build_optimizer(model, cfg)
        opt.foreach = foreach
        assert len(opt.param_groups) >= 3  # decayed at λ and at the layer's λ, biases at their own lr
        bases = [g["lr"] for g in opt.param_groups]
        for step, lr_scale in enumerate([1.0, 1.0, 0.1, 0.1, 0.01]):
            for group, base in zip(opt.param_groups, bases, strict=True):
                group["lr"] = base * lr_scale
            for p, g in zip(model.parameters(), _grads(model, step), strict=True):
                p.grad = g
            if step % 2:
                model.act.weight.grad = None  # no gradient this step: left alone by both
            opt.step()
        runs[foreach] = (model, opt)
    (fast, fast_opt), (ref, ref_opt) = runs[True], runs[False]
    for (name, a), b in zip(fast.named_parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b), name
        sa, sb = fast_opt.state[a], ref_opt.state[b]
        assert sa.keys() == sb.keys(), name
        if "momentum_buffer" in sa:
            assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"]) and sa["buffer_lr"] == sb["buffer_lr"]
    assert fast_opt.state_dict()["param_groups"] == ref_opt.state_dict()["param_groups"]  # checkpoints unchanged



@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_raw_input_trains_as_standardised_input_with_conv1_scaled_in_init_and_lr(activation):
    """Issue 14's decomposition of the input scale s: conv1 on x with weights W computes and trains exactly as conv1
    on x/s with weights s·W (model.layer_init_scale) and its weights' lr × s² (optim.layer_lr_mult); biases and
    every later layer see the same numbers either way."""
    s = 8.0
    torch.manual_seed(0)
    x, y = torch.randn(32, 3, 32, 32) * s, torch.randint(0, 10, (32,))
    base = ModelConfig(name="convnet4", activation=activation, regularizer="none", init="paper")
    optim = OptimConfig(lr=1e-3, weight_decay=0.0, bias_lr_mult=2.0)
    arms = {"raw": (base, optim, x),
            "scaled": (dataclasses.replace(base, layer_init_scale={"conv1": s}),
                       dataclasses.replace(optim, layer_lr_mult={"conv1": s * s}), x / s)}
    logits = {}
    for arm, (model_cfg, optim_cfg, inputs) in arms.items():
        torch.manual_seed(1)
        model = build_model(model_cfg, 10, 32)
        logits[arm, "init"] = model(inputs).detach()
        opt = build_optimizer(model, optim_cfg)
        for _ in range(3):
            opt.zero_grad()
            nn.functional.cross_entropy(model(inputs), y).backward()
            opt.step()
        logits[arm, "trained"] = model(inputs).detach()
    assert (logits["raw", "trained"] - logits["raw", "init"]).abs().max() > 1e-3  # the steps moved the net
    torch.testing.assert_close(logits["scaled", "init"], logits["raw", "init"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits["scaled", "trained"], logits["raw", "trained"], rtol=1e-4, atol=1e-5)


def test_layer_init_scale_and_lr_mult_name_the_models_layers_and_set_their_weights_only():
    with pytest.raises(ConfigError, match=r"model.layer_init_scale names \['conv9'\].*conv1, conv2"):
        validate(Config(model=ModelConfig(name="convnet4", layer_init_scale={"conv9": 2.0})))
    with pytest.raises(ConfigError, match=r"optim.layer_lr_mult=\{'conv1': 0.0\}: a multiplier must be > 0"):
        validate(Config(model=ModelConfig(name="convnet4"), optim=OptimConfig(layer_lr_mult={"conv1": 0.0})))
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="convnet4", init="paper"), 10, 32)
    torch.manual_seed(0)
    scaled = build_model(ModelConfig(name="convnet4", init="paper", layer_init_scale={"conv2": 3.0}), 10, 32)
    layers = {w.name: w.layer for w in model.weighted_layers()}
    for w in scaled.weighted_layers():
        torch.testing.assert_close(w.layer.weight, layers[w.name].weight * (3.0 if w.name == "conv2" else 1.0))
        torch.testing.assert_close(w.layer.bias, layers[w.name].bias)
    groups = param_groups(model, OptimConfig(lr=0.1, bias_lr_mult=2.0, layer_lr_mult={"conv2": 5.0}))
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert lr_of[id(layers["conv2"].weight)] == pytest.approx(0.5)
    assert lr_of[id(layers["conv2"].bias)] == pytest.approx(0.2)  # biases keep bias_lr_mult
    assert lr_of[id(layers["conv1"].weight)] == 0.1 and groups[0]["lr"] == 0.1
