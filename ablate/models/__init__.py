"""The model registry: `model.name` → a builder taking (Parts, num_classes, image_size) and its options.

`build_model` assembles the net from the config's axis values (`Parts`) and then initialises it
(`model.init`, with the activation's declared gain). Models see normalized float NCHW input: 224×224 for
`alexnet`, 32×32 for the CIFAR nets. Each model spec declares its weighted layers' names, input to output
(`layers`: model.layer_decay's keys, known before building it) and its input side (`input`); a model with
towers is one that reads `model.towers`.
"""

from __future__ import annotations

from torch import nn

from ablate.models.activations import ACTIVATIONS, init_gain
from ablate.models.alexnet import AlexNet
from ablate.models.convnets import ConvLocal, ConvNet3FC, ConvNet4
from ablate.models.init import INITS
from ablate.models.norms import NORMS
from ablate.models.parts import Parts
from ablate.models.pools import POOLS
from ablate.models.regularizers import REGULARIZERS
from ablate.registry import POSITIVE, Option, Registry

WIDTH = Option("width", "multiplier on every conv layer's kernel count (0.5: the paper's one-GPU net)", POSITIVE)
LAYER_DECAY = Option("layer_decay", "weight decay λ per weighted layer, by its name (cuda-convnet's wc); unlisted "
                                    "layers keep optim.weight_decay; empty or null: optim.weight_decay everywhere")
LAYER_INIT_SCALE = Option("layer_init_scale", "these layers' weights × this after model.init, by name; unlisted: "
                                              "unscaled")
MODELS = Registry("model.name", options=(WIDTH, LAYER_DECAY, LAYER_INIT_SCALE), requires=("layers", "input"))

HIDDEN = Option("hidden", "units in each hidden fully connected layer", POSITIVE)
TOWERS = Option("towers", "towers (GPUs) every layer's kernels are split over (§3.2: 2)", POSITIVE,
                only_where_read=True)
SCALE_CONV5 = Option("scale_conv5", "model.width also scales conv5 (false: the paper's one-GPU net, §3.2)")
LOCAL = Option("local", "locally connected local3/local4 (cuda-convnet); false: convolutions")
_ALEXNET = ("the paper's net: conv 96 11×11/4 → 256 5×5 → 384 3×3 → 384 3×3 → 256 3×3, fc 4096, 4096, classes; "
            "norm after conv1/conv2, pools after conv1, conv2, conv5. 60,965,224 parameters with 2 towers, 1000 classes")


@MODELS.register("alexnet", options=(HIDDEN, TOWERS, SCALE_CONV5), summary=_ALEXNET, source="§3.5, Figure 2",
                 layers=AlexNet.LAYERS, input=224)
def _alexnet(parts: Parts, num_classes: int, image_size: int, *, hidden: int, towers: int,
             scale_conv5: bool) -> nn.Module:
    return AlexNet(parts, num_classes, image_size, towers, hidden, "imagenet", scale_conv5)


@MODELS.register("alexnet_cifar", options=(HIDDEN, TOWERS, SCALE_CONV5),
                 summary="the same layer graph and kernel counts; conv1 5×5/1 pad 2, pools 32→16→8→4, fc6/fc7 "
                         "`model.hidden` (yaml: 1024)", source="ours, from §3.5", layers=AlexNet.LAYERS, input=32)
def _alexnet_cifar(parts: Parts, num_classes: int, image_size: int, *, hidden: int, towers: int,
                   scale_conv5: bool) -> nn.Module:
    return AlexNet(parts, num_classes, image_size, towers, hidden, "cifar", scale_conv5)


@MODELS.register("convnet4", options=(HIDDEN,),
                 summary="Figure 1's \"four-layer\" net read as cuda-convnet's layers-80sec.cfg: 3 × (5×5 conv 32, "
                         "32, 64; 3×3/2 pool: max, avg, avg), fc 64, fc 10 (four layers with neurons, five weight "
                         "layers)", source="Figure 1; layers-80sec", layers=ConvNet4.LAYERS, input=32)
def _convnet4(parts: Parts, num_classes: int, image_size: int, *, hidden: int) -> nn.Module:
    return ConvNet4(parts, num_classes=num_classes, hidden=hidden, image_size=image_size)


@MODELS.register("convnet3fc",
                 summary="Figure 1's net read as four weight layers, cuda-convnet's layers-18pct.cfg: the same 3 "
                         "convolutions and pools, then the fc 10 output layer (its same-map rnorm layers left out: "
                         "no counterpart here)", source="Figure 1; layers-18pct", layers=ConvNet3FC.LAYERS, input=32)
def _convnet3fc(parts: Parts, num_classes: int, image_size: int) -> nn.Module:
    return ConvNet3FC(parts, num_classes=num_classes, image_size=image_size)


@MODELS.register("convlocal", options=(LOCAL,),
                 summary="cuda-convnet's layers-conv-local-11pct.cfg: 2 × (5×5 conv 64, LRN, max pool 3/2), 2 × "
                         "locally connected 3×3 with 32 maps, output; `model.norm=none` is layers-conv-local-13pct",
                 source="§3.3 (13% → 11%)", layers=ConvLocal.LAYERS, input=32)
def _convlocal(parts: Parts, num_classes: int, image_size: int, *, local: bool) -> nn.Module:
    return ConvLocal(parts, num_classes=num_classes, image_size=image_size, local=local)


def build_model(cfg, num_classes: int, image_size: int) -> nn.Module:
    model = MODELS.build_from(cfg.name, cfg, Parts(cfg), num_classes, image_size)
    INITS.build(cfg.init, model, init_gain(cfg))
    _scale_init(model, cfg.layer_init_scale or {})
    model.layer_decay = dict(cfg.layer_decay or {})  # name → λ, read by ablate.optim.param_groups
    return model


def _scale_init(model: nn.Module, scale: dict[str, float]) -> None:
    """Standardised input x/s into a layer with weights s·W computes what raw input x does with W."""
    layers = {w.name: w.layer for w in model.weighted_layers()}
    for name, factor in scale.items():
        layers[name].weight.data.mul_(factor)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["ACTIVATIONS", "INITS", "MODELS", "NORMS", "POOLS", "REGULARIZERS", "build_model", "count_params"]
