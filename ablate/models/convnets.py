"""Small CIFAR-10 networks from the paper's experiments, all cuda-convnet example nets.

The paper ran cuda-convnet but names none of its example layer files. Figure 1's "four-layer convolutional
neural network" fits two of them: `convnet4` follows layers-80sec.cfg (3 conv + fc64 + fc10: four layers with
neurons, five weight layers) and `convnet3fc` follows layers-18pct.cfg (3 conv + fc10: four weight layers).
`convlocal` is layers-conv-local-11pct.cfg, §3.3's CIFAR-10 net. The layer files are those of cuda-convnet's
`example-layers/` (read in the dnouri/cuda-convnet mirror of the original svn); docs/axes.md lists their values.

All pool with cuda-convnet's convention: a window may overhang the right edge (`ceil_mode=True`), so the
overlapping 3×3/2 and the non-overlapping 2×2/2 pooling both take 32 → 16 → 8 → 4 and the pool axis changes
only the windows, not the sizes of the layers after them. The layer files put conv1's ReLU on pool1 (after the
max pooling); for a monotone activation the two orders give the same values, so ours sits on conv1 as elsewhere.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from ablate.models.layers import LocallyConnected2d, pool_out
from ablate.models.parts import Parts, Weighted


def _regularized(module: nn.Module) -> nn.Module:
    """The Linear inside a regularizer block (or the Linear itself)."""
    return module if isinstance(module, nn.Linear) else module.linear


class ConvNet4(nn.Module):
    """The paper's Figure-1 "four-layer convolutional network" for CIFAR-10, read as cuda-convnet's layers-80sec.

    Modelled on cuda-convnet's layers-80sec net ("26% error on CIFAR-10 in 80 seconds"): three 5×5 convolutions
    (32, 32, 64 maps, "same" padding), each followed by 3×3 stride-2 pooling (max, then average, average), a
    fully connected hidden layer and the output layer. cuda-convnet pools with windows that may overhang the
    right edge (32 → 16 → 8 → 4); `ceil_mode=True` reproduces that exactly.

    Axes: the norm (none by default) follows the activations of conv1 and conv2, where AlexNet has LRN; the
    pool axis swaps the windows and keeps the max/avg/avg kinds; the regularizer acts on the hidden fc layer
    (dropout on its outputs, or DropConnect on its weights), none by default since Figure 1 used none;
    model.width scales the three convolutions. `paper` init is the layer file's initW (1e-4, 0.01, 0.01,
    0.1, 0.1), biases 0. Weighted layers carry the file's names (conv1, conv2, conv3, fc64, fc10) whatever
    model.hidden is, so its layer-params file reads across (model.layer_decay).
    """

    LAYERS = ("conv1", "conv2", "conv3", "fc64", "fc10")

    def __init__(self, parts: Parts, num_classes: int = 10, hidden: int = 64, in_channels: int = 3,
                 image_size: int = 32):
        super().__init__()
        c1, c2, c3 = parts.width(32), parts.width(32), parts.width(64)
        # Whatever module the pool axis builds: the sizes follow the pools made here, not a guess at their types.
        pools = [parts.pool("max", True), parts.pool("avg", True), parts.pool("avg", True)]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, padding=2), parts.act(c1), parts.norm(c1), pools[0],
            nn.Conv2d(c1, c2, 5, padding=2), parts.act(c2), parts.norm(c2), pools[1],
            nn.Conv2d(c2, c3, 5, padding=2), parts.act(c3), pools[2],
        )
        side = image_size
        for i, pool in enumerate(pools):
            side = pool_out(side, pool, f"convnet4 pool{i + 1}")
        self.classifier = nn.Sequential(
            nn.Flatten(), parts.hidden(c3 * side * side, hidden), nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))

    def weighted_layers(self) -> list[Weighted]:
        layers = [m for m in self.features if isinstance(m, nn.Conv2d)]
        layers += [_regularized(self.classifier[1]), self.classifier[2]]
        stds = (1e-4, 0.01, 0.01, 0.1, 0.1)  # layers-80sec.cfg's initW
        return [Weighted(n, m, s, 0.0) for n, m, s in zip(self.LAYERS, layers, stds, strict=True)]


class ConvNet3FC(nn.Module):
    """Figure 1's "four-layer convolutional neural network" read as four weight layers: cuda-convnet's
    layers-18pct net ("18% error on CIFAR-10 in 20 minutes").

    conv1 32 5×5 → act → norm → max pool 3/2 → conv2 32 5×5 → act → norm → avg pool 3/2 → conv3 64 5×5 → act
    → avg pool 3/2 → fc10 (the output layer; no hidden fc layer). convnet4 (layers-80sec) is the same net with a
    64-unit hidden fc layer added. `paper` init is the layer file's initW (1e-4, 0.01, 0.01, 0.01), biases 0.

    The file has response normalization after pool1 and pool2 (`type=rnorm`, size 3, scale 5e-5, pow 0.75):
    cuda-convnet's *same-map* kind, which divides by the squares over a 3×3 patch of the map itself, not §3.3's
    across-maps kind. The harness has no same-map normalization, so by default there is none (`model.norm=none`);
    any `model.norm` goes where the norm axis always goes, after the activations of conv1 and conv2. The
    regularizer acts on the output layer as in `convlocal`; model.width scales the three convolutions.
    """

    LAYERS = ("conv1", "conv2", "conv3", "fc10")

    def __init__(self, parts: Parts, num_classes: int = 10, in_channels: int = 3, image_size: int = 32):
        super().__init__()
        c1, c2, c3 = parts.width(32), parts.width(32), parts.width(64)
        layers = OrderedDict(conv1=nn.Conv2d(in_channels, c1, 5, padding=2), act1=parts.act(c1),
                             norm1=parts.norm(c1), pool1=parts.pool("max", True))
        layers.update(conv2=nn.Conv2d(c1, c2, 5, padding=2), act2=parts.act(c2), norm2=parts.norm(c2),
                      pool2=parts.pool("avg", True))
        layers.update(conv3=nn.Conv2d(c2, c3, 5, padding=2), act3=parts.act(c3), pool3=parts.pool("avg", True))
        side = image_size
        for pool in ("pool1", "pool2", "pool3"):
            side = pool_out(side, layers[pool], f"convnet3fc {pool}")
        layers.update(flatten=nn.Flatten())
        self.features = nn.Sequential(layers)
        self.output = parts.output(c3 * side * side, num_classes)

    def forward(self, x):
        return self.output(self.features(x))

    def weighted_layers(self) -> list[Weighted]:
        f = self.features
        layers = (f.conv1, f.conv2, f.conv3, _regularized(self.output))
        stds = (1e-4, 0.01, 0.01, 0.01)  # layers-18pct.cfg's initW
        return [Weighted(n, m, s, 0.0) for n, m, s in zip(self.LAYERS, layers, stds, strict=True)]


class ConvLocal(nn.Module):
    """cuda-convnet's layers-conv-local-11pct net, the source of §3.3's CIFAR-10 claim (13% error without
    response normalization, 11% with).

    conv1 64 5×5 → act → norm → max pool 3/2 → conv2 64 5×5 → act → norm → max pool 3/2 → local3 32 3×3 →
    act → local4 32 3×3 → act → output layer. local3/local4 are true locally connected layers (unshared
    weights and biases per position), as in cuda-convnet; `model.local=false` swaps them for convolutions.
    The conf/model/convlocal.yaml defaults are the layer file's: cross-map LRN over 5 maps with scale 1e-3
    (cuda-convnet divides it by the window, our `cudaconvnet` convention), power 0.75, k = 1 (cuda-convnet's
    constant; AlexNet's §3.3 uses k = 2); `paper` init is its initW (1e-4, 0.01, 0.04, 0.04, 0.01), biases 0.
    layers-conv-local-13pct.cfg is this file without the two rnorm layers, so `model.norm=none` is the 13% net.

    Its layer-params file: epsW 0.001 and epsB 0.002 on every layer, momentum 0.9, `wc` 0 on conv1/conv2 and
    0.004 on local3, local4, fc10. The harness has these as `optim.lr=0.001 optim.bias_lr_mult=2` and
    `model.layer_decay` (conf/experiment/cifar10_convlocal.yaml sets them). Its 11% came from a long protocol:
    random 24×24 crops, ~300 epochs on 40,000 images, ~150 more with the validation batch folded in, two lr
    drops of 10 epochs each, a 10-view test. conf/experiment/cifar10_convlocal_11pct.yaml follows it as far as
    the harness can (all 50,000 images from the start; 24×24 crops pending data.crop_size); the shorter
    cifar10_convlocal preset deviates (40 epochs, 32×32 padded crops). The net has no hidden fc layer, so
    `model.regularizer` acts on the output layer: dropout on its inputs (the local4 units), DropConnect on
    its weights.
    """

    LAYERS = ("conv1", "conv2", "local3", "local4", "fc10")

    def __init__(self, parts: Parts, num_classes: int = 10, in_channels: int = 3, image_size: int = 32,
                 local: bool = True):
        super().__init__()
        c1, c2, c3 = parts.width(64), parts.width(64), parts.width(32)
        layers = OrderedDict(conv1=nn.Conv2d(in_channels, c1, 5, padding=2), act1=parts.act(c1),
                             norm1=parts.norm(c1), pool1=parts.pool("max", True))
        layers.update(conv2=nn.Conv2d(c1, c2, 5, padding=2), act2=parts.act(c2), norm2=parts.norm(c2),
                      pool2=parts.pool("max", True))
        side = pool_out(pool_out(image_size, layers["pool1"], "convlocal pool1"), layers["pool2"], "convlocal pool2")
        if local:
            layers.update(local3=LocallyConnected2d(c2, c3, 3, side, padding=1), act3=parts.act(c3),
                          local4=LocallyConnected2d(c3, c3, 3, side, padding=1), act4=parts.act(c3))
        else:
            layers.update(local3=nn.Conv2d(c2, c3, 3, padding=1), act3=parts.act(c3),
                          local4=nn.Conv2d(c3, c3, 3, padding=1), act4=parts.act(c3))
        layers.update(flatten=nn.Flatten())
        self.features = nn.Sequential(layers)
        self.output = parts.output(c3 * side * side, num_classes)

    def forward(self, x):
        return self.output(self.features(x))

    def weighted_layers(self) -> list[Weighted]:
        f = self.features
        layers = (f.conv1, f.conv2, f.local3, f.local4, _regularized(self.output))
        stds = (1e-4, 0.01, 0.04, 0.04, 0.01)  # layers-conv-local-11pct.cfg's initW
        return [Weighted(n, m, s, 0.0) for n, m, s in zip(self.LAYERS, layers, stds, strict=True)]
