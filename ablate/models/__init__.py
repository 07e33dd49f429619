"""The model registry: `model.name` → a builder taking (ModelConfig, num_classes, image_size)."""

from __future__ import annotations

from functools import partial

from torch import nn

from ablate.models.convnets import ConvNet4
from ablate.models.layers import ACTIVATIONS, activation_options
from ablate.registry import Registry

MODELS = Registry("model.name")


@MODELS.register("convnet4")
def _convnet4(cfg, num_classes: int, image_size: int) -> nn.Module:
    act = partial(ACTIVATIONS.build, cfg.activation, **activation_options(cfg))
    return ConvNet4(act, num_classes=num_classes, hidden=cfg.hidden, image_size=image_size)


def build_model(cfg, num_classes: int, image_size: int) -> nn.Module:
    return MODELS.build(cfg.name, cfg, num_classes, image_size)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["MODELS", "build_model", "count_params"]
