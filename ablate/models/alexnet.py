"""The paper's network (§3.5, Figure 2) and the same design sized for 32×32 CIFAR-10 images.

Five convolutions (96, 256, 384, 384, 256 kernels: 11×11/4, 5×5, 3×3, 3×3, 3×3), each followed by the
activation; the norm (LRN in the paper, §3.3) after the activations of conv1 and conv2; max pooling after
conv1's norm, conv2's norm and conv5 (§3.4); then fc6 and fc7 (hidden, with the regularizer: dropout on
their outputs in the paper, §4.2) and fc8 with one output per class.

Towers (§3.2): with `towers=2` every layer's kernels are split between two towers (GPUs); conv2, conv4 and
conv5 see only the maps of their own tower (grouped convolutions, `groups=2`), conv3 and the fully connected
layers see both, and each tower's LRN normalises its own maps. This is 60,965,224 parameters for 1000
classes. `towers=1` is the single-tower net; with `model.width=0.5` it is the paper's one-GPU comparison
net, which halves conv1–conv4 but keeps conv5 and the fc layers at full size (§3.2, footnote) unless
`model.scale_conv5=true`.

Input geometry: the paper feeds 224×224 crops and states conv1's output as 55×55, which a plain 11×11/4
convolution cannot produce from 224 (it gives 54). cuda-convnet, the code the paper ran, computes a
convolution's output size as 1 + ceil((in − k) / stride), so its last window overhangs the image's right and
bottom edges; we zero-pad those edges by exactly the overhang (3 pixels at 224, 0 at 227), which reproduces
cuda-convnet's 55×55 without changing the top/left alignment. Pooling uses floor sizes here (55 → 27 → 13 → 6
for both the overlapping 3×3/2 and the non-overlapping 2×2/2 windows, the "output of equivalent dimensions"
of §3.4).

The CIFAR variant keeps the layer graph and kernel counts and changes only what the 32×32 input forces:
conv1 is 5×5 stride 1 with padding 2 (an 11×11/4 filter would leave 6×6 maps after one layer), pooling
overhangs like cuda-convnet's (32 → 16 → 8 → 4 with either window), and the hidden fc layers' size is
`model.hidden` (conf/model/alexnet_cifar.yaml: 1024, for a 4096-wide conv5 output instead of 9216).
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from ablate.models.layers import conv_out, pool_out
from ablate.models.parts import Parts, Weighted

WIDTHS = (96, 256, 384, 384, 256)  # kernels of conv1..conv5 (§3.5), split evenly between the towers


def _overhang(n: int, kernel: int, stride: int) -> tuple[int, int]:
    """cuda-convnet's conv output side for an n×n input, and the right/bottom zero padding that yields it."""
    if n < kernel:
        conv_out(n, kernel, stride, 0, "alexnet conv1")  # raises, naming the fix
    out = -(-(n - kernel) // stride) + 1
    return out, (out - 1) * stride + kernel - n


class AlexNet(nn.Module):
    LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")  # weighted layers (§3.5's names)

    def __init__(self, parts: Parts, num_classes: int = 1000, image_size: int = 224, towers: int = 2,
                 hidden: int = 4096, stem: str = "imagenet", scale_conv5: bool = False):
        super().__init__()
        w = [parts.width(c, towers) for c in WIDTHS[:4]] + [parts.width(WIDTHS[4], towers, scale_conv5)]
        ceil = stem == "cifar"
        name = "alexnet" if stem == "imagenet" else "alexnet_cifar"
        layers = OrderedDict()
        if stem == "imagenet":
            side, extra = _overhang(image_size, 11, 4)
            layers.update(pad=nn.ZeroPad2d((0, extra, 0, extra)), conv1=nn.Conv2d(3, w[0], 11, stride=4))
        else:
            side = image_size
            layers.update(conv1=nn.Conv2d(3, w[0], 5, padding=2))
        layers.update(act1=parts.act(w[0]), norm1=parts.norm(w[0], towers), pool1=parts.pool("max", ceil))
        side = pool_out(side, layers["pool1"], f"{name} pool1")
        layers.update(conv2=nn.Conv2d(w[0], w[1], 5, padding=2, groups=towers), act2=parts.act(w[1]),
                      norm2=parts.norm(w[1], towers), pool2=parts.pool("max", ceil))
        side = pool_out(side, layers["pool2"], f"{name} pool2")
        layers.update(conv3=nn.Conv2d(w[1], w[2], 3, padding=1), act3=parts.act(w[2]),
                      conv4=nn.Conv2d(w[2], w[3], 3, padding=1, groups=towers), act4=parts.act(w[3]),
                      conv5=nn.Conv2d(w[3], w[4], 3, padding=1, groups=towers), act5=parts.act(w[4]),
                      pool5=parts.pool("max", ceil))
        side = pool_out(side, layers["pool5"], f"{name} pool5")
        self.features = nn.Sequential(layers)
        self.flatten = nn.Flatten()
        self.fc6 = parts.hidden(w[4] * side * side, hidden)
        self.fc7 = parts.hidden(hidden, hidden)
        self.fc8 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        return self.fc8(self.fc7(self.fc6(self.flatten(self.features(x)))))

    def weighted_layers(self) -> list[Weighted]:
        """§5: weights N(0, 0.01²); biases 1 in conv2, conv4, conv5 and the hidden fc layers, 0 elsewhere."""
        f = self.features
        layers = [f.conv1, f.conv2, f.conv3, f.conv4, f.conv5, self.fc6.linear, self.fc7.linear, self.fc8]
        biases = (0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0)
        return [Weighted(n, m, 0.01, b) for n, m, b in zip(self.LAYERS, layers, biases, strict=True)]
