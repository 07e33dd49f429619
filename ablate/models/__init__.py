"""The model registry: `model.name` → a builder taking (ModelConfig, num_classes, image_size).

`build_model` assembles the net from the config's axis values (`Parts`) and then initialises it
(`model.init`). Models see normalized float NCHW input: 224×224 for `alexnet`, 32×32 for the CIFAR nets.
"""

from __future__ import annotations

from torch import nn

from ablate.models.alexnet import AlexNet
from ablate.models.convnets import ConvLocal, ConvNet3FC, ConvNet4
from ablate.models.init import INITS, apply_init
from ablate.models.layers import ACTIVATIONS, NORMS, POOLS
from ablate.models.parts import Parts
from ablate.models.regularizers import REGULARIZERS
from ablate.registry import Registry

MODELS = Registry("model.name")
TOWERED = ("alexnet", "alexnet_cifar")  # models whose layers can be split into towers (model.towers > 1)
# Each model's weighted-layer names, input to output (model.layer_decay keys), known before building it.
LAYER_NAMES = {"convnet4": ConvNet4.LAYERS, "convnet3fc": ConvNet3FC.LAYERS, "alexnet": AlexNet.LAYERS,
               "alexnet_cifar": AlexNet.LAYERS, "convlocal": ConvLocal.LAYERS}


@MODELS.register("convnet4")
def _convnet4(cfg, num_classes: int, image_size: int) -> nn.Module:
    return ConvNet4(Parts(cfg), num_classes=num_classes, hidden=cfg.hidden, image_size=image_size)


@MODELS.register("convnet3fc")
def _convnet3fc(cfg, num_classes: int, image_size: int) -> nn.Module:
    return ConvNet3FC(Parts(cfg), num_classes=num_classes, image_size=image_size)


@MODELS.register("alexnet")
def _alexnet(cfg, num_classes: int, image_size: int) -> nn.Module:
    return AlexNet(Parts(cfg), num_classes, image_size, cfg.towers, cfg.hidden, "imagenet", cfg.scale_conv5)


@MODELS.register("alexnet_cifar")
def _alexnet_cifar(cfg, num_classes: int, image_size: int) -> nn.Module:
    return AlexNet(Parts(cfg), num_classes, image_size, cfg.towers, cfg.hidden, "cifar", cfg.scale_conv5)


@MODELS.register("convlocal")
def _convlocal(cfg, num_classes: int, image_size: int) -> nn.Module:
    return ConvLocal(Parts(cfg), num_classes=num_classes, image_size=image_size, local=cfg.local)


def build_model(cfg, num_classes: int, image_size: int) -> nn.Module:
    model = apply_init(MODELS.build(cfg.name, cfg, num_classes, image_size), cfg)
    model.layer_decay = dict(cfg.layer_decay or {})  # name → λ, read by ablate.optim.param_groups
    return model


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["ACTIVATIONS", "INITS", "LAYER_NAMES", "MODELS", "NORMS", "POOLS", "REGULARIZERS", "TOWERED",
           "build_model", "count_params"]
