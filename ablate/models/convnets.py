"""Small CIFAR-10 networks from the paper's experiments."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


class ConvNet4(nn.Module):
    """The paper's Figure-1 "four-layer convolutional network" for CIFAR-10.

    Modelled on cuda-convnet's layers-80sec net, which the Figure-1 experiment used: three 5×5 convolutions
    (32, 32, 64 maps, "same" padding), each followed by 3×3 stride-2 pooling (max, then average, average), a
    fully connected hidden layer and the output layer. cuda-convnet pools with windows that may overhang the
    right edge (32 → 16 → 8 → 4); `ceil_mode=True` reproduces that exactly.
    """

    def __init__(self, act: Callable[[], nn.Module], num_classes: int = 10, hidden: int = 64,
                 in_channels: int = 3, image_size: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2), act(), nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(32, 32, 5, padding=2), act(), nn.AvgPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(32, 64, 5, padding=2), act(), nn.AvgPool2d(3, 2, ceil_mode=True),
        )
        side = image_size
        for _ in range(3):
            side = -(-(side - 3) // 2) + 1  # ceil-mode pooling output size
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * side * side, hidden), act(), nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
