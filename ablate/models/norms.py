"""The `model.norm` axis (§3.3): what sits where the paper puts LRN, after the activations of conv1 and conv2.

Builders take the normalized layer's channel count and its towers (a norm must not mix the maps of two towers),
then their declared options. Norm parameters (GroupNorm's and BatchNorm's affine scale and shift) are never
weight-decayed unless `optim.decay_bias_and_norm` (ablate/optim.py decays the weighted layers' weights only).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from ablate.models.lrn import TowerLRN
from ablate.registry import NON_NEGATIVE, POSITIVE, Option, Registry

NORMS = Registry("model.norm")
log = logging.getLogger(__name__)

LRN_SIZE = Option("lrn_size", "LRN window n, adjacent channels", POSITIVE)
LRN_ALPHA = Option("lrn_alpha", "LRN scale α, read per model.lrn_convention", NON_NEGATIVE)
LRN_BETA = Option("lrn_beta", "LRN exponent β", POSITIVE)
LRN_K = Option("lrn_k", "LRN additive constant k", POSITIVE)
LRN_CONVENTION = Option("lrn_convention", "cudaconvnet: α/n multiplies the window sum (torch, Caffe); formula: "
                                          "α as §3.3 prints it")
GROUPNORM_GROUPS = Option("groupnorm_groups", "groups, clipped to a divisor of the channel count", POSITIVE)


def norm_groups(channels: int, groups: int, towers: int = 1) -> int:
    """GroupNorm's group count: `groups` clipped to the channels, lowered until it divides them (and, when it
    can, is a multiple of the towers, so no group mixes channels of two towers)."""
    g = min(groups, channels)
    while g > 1 and (channels % g or g % towers):
        g -= 1
    return g


@NORMS.register("lrn", options=(LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K, LRN_CONVENTION),
                summary="local response normalization across adjacent channels, within each tower", source="§3.3")
def _lrn(channels: int, towers: int, *, lrn_size: int, lrn_alpha: float, lrn_beta: float, lrn_k: float,
         lrn_convention: str) -> nn.Module:
    return TowerLRN(lrn_size, lrn_alpha, lrn_beta, lrn_k, towers, lrn_convention)


@NORMS.register("none", summary="no normalization", source="§3.3's baseline")
def _no_norm(channels: int, towers: int) -> nn.Module:
    return nn.Identity()


@NORMS.register("groupnorm", options=(GROUPNORM_GROUPS,), summary="GroupNorm, after the activation like LRN",
                source="Wu & He 2018")
def _groupnorm(channels: int, towers: int, *, groupnorm_groups: int) -> nn.Module:
    groups = norm_groups(channels, groupnorm_groups, towers)
    if groups == channels > 1:
        # Wu & He's G = 32 assumes wide layers; on the CIFAR nets' 32-channel layers it silently becomes InstanceNorm,
        # a different method than the one a GroupNorm arm claims to test, so a comparison should say so.
        log.warning("GroupNorm on %d channels with model.groupnorm_groups=%d has one channel per group: it is "
                    "InstanceNorm there; set model.groupnorm_groups below %d for groups of several channels",
                    channels, groupnorm_groups, channels)
    return nn.GroupNorm(groups, channels)


@NORMS.register("batchnorm", summary="BatchNorm, after the activation like LRN", source="Ioffe & Szegedy 2015")
def _batchnorm(channels: int, towers: int) -> nn.Module:
    return nn.BatchNorm2d(channels)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels at each position (ConvNeXt's LayerNorm2d), then a per-channel scale and
    shift; with towers, each tower's channels are normalised on their own."""

    def __init__(self, channels: int, towers: int, eps: float = 1e-6):
        super().__init__()
        self.towers = towers
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g = x.reshape(b, self.towers, c // self.towers, h, w)
        mean, var = g.mean(2, keepdim=True), g.var(2, unbiased=False, keepdim=True)
        y = ((g - mean) * torch.rsqrt(var + self.eps)).reshape(b, c, h, w)
        return y * self.weight[:, None, None] + self.bias[:, None, None]

    def extra_repr(self) -> str:
        return f"{len(self.weight)}, towers={self.towers}, eps={self.eps}"


# ε is ConvNeXt's 1e-6, fixed: an option would be a config key, and a new key changes every run's config.yaml
# and fingerprint (tests/test_pins.py).
@NORMS.register("layernorm", summary="LayerNorm over the channels at each position (ε 1e-6), after the activation "
                "like LRN", source="Ba et al. 2016; ConvNeXt's LayerNorm2d")
def _layernorm(channels: int, towers: int) -> nn.Module:
    return ChannelLayerNorm(channels, towers)
