"""`Parts`: one ModelConfig's axis values bound to their options, the kit every model is assembled from.

A model asks for "an activation for 96 channels", "the norm after conv1", "a max pool", "a hidden fc layer"
and gets whatever the config selects, built with exactly the options that value declares, so each axis changes
exactly one thing in every model.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import nn

from ablate.models.activations import ACTIVATIONS
from ablate.models.norms import NORMS
from ablate.models.pools import POOLS
from ablate.models.regularizers import REGULARIZERS


class Weighted(NamedTuple):
    """One weighted layer as its source describes it: `model.weighted_layers()` lists these, input to output."""
    name: str  # the layer's name in its source (cuda-convnet layer file, §3.5); model.layer_decay keys
    layer: nn.Module  # the conv, linear or locally connected layer holding `weight` and `bias`
    std: float  # `paper` init: weight std (the layer file's initW, §5's 0.01)
    bias: float  # `paper` init: bias value


class Parts:
    def __init__(self, cfg):
        self.cfg = cfg

    def act(self, channels: int | None = None) -> nn.Module:
        """The activation; `channels` sizes per-channel parameters (PReLU). Tagged, so that activation
        statistics (ablate.actstats) find every hidden layer's activation in any model."""
        act = ACTIVATIONS.build_from(self.cfg.activation, self.cfg, channels)
        act.ablate_activation = self.cfg.activation
        return act

    def norm(self, channels: int, towers: int = 1) -> nn.Module:
        """The normalization that sits where the paper puts LRN (after the activation, before pooling)."""
        return NORMS.build_from(self.cfg.norm, self.cfg, channels, towers)

    def pool(self, kind: str = "max", ceil_mode: bool = False) -> nn.Module:
        """A pooling layer of `kind` (max/avg) with the pool axis' window, or the configured overrides."""
        return POOLS.build_from(self.cfg.pool, self.cfg, kind, ceil_mode, self.cfg.pool_kernel, self.cfg.pool_stride)

    def hidden(self, in_features: int, out_features: int) -> nn.Module:
        """A hidden fully connected layer with its activation and the configured regularizer."""
        return REGULARIZERS.build_from(self.cfg.regularizer, self.cfg, in_features, out_features, self.act(out_features),
                                       False)

    def output(self, in_features: int, out_features: int) -> nn.Module:
        """A regularized output layer, for nets without hidden fc layers (no activation: logits)."""
        return REGULARIZERS.build_from(self.cfg.regularizer, self.cfg, in_features, out_features, nn.Identity(), True)

    def width(self, base: int, towers: int = 1, scale: bool = True) -> int:
        """`base` kernels scaled by model.width, rounded to a whole number per tower (at least one each)."""
        factor = self.cfg.width if scale else 1.0
        return max(1, round(base * factor / towers)) * towers
