"""Per-axis layer registries: each maps a config string to a module constructor (like timm's create_act).

Constructors take keyword options and ignore the ones that do not concern them, so a model can pass the
same options to whatever value the axis is set to.
"""

from __future__ import annotations

from torch import nn

from ablate.registry import Registry

ACTIVATIONS = Registry("model.activation")

ACTIVATIONS.register("sigmoid", lambda **_: nn.Sigmoid())
ACTIVATIONS.register("tanh", lambda **_: nn.Tanh())
ACTIVATIONS.register("relu", lambda **_: nn.ReLU(inplace=True))
ACTIVATIONS.register("leaky_relu", lambda leaky_slope=0.01, **_: nn.LeakyReLU(leaky_slope, inplace=True))
ACTIVATIONS.register("elu", lambda elu_alpha=1.0, **_: nn.ELU(elu_alpha, inplace=True))


def activation_options(cfg) -> dict:
    """The activation keyword options a ModelConfig carries."""
    return {"leaky_slope": cfg.leaky_slope, "elu_alpha": cfg.elu_alpha}
