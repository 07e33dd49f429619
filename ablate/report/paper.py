"""The paper's own numbers, as data, each with its source: Krizhevsky, Sutskever & Hinton (NIPS 2012).

Everything the report puts beside a measurement comes from here, so a reader can check each number against the
paper in one place. Errors are in percent (as printed in the paper); a claimed Δ is always written as
"error of `value` minus error of `baseline`", the sign convention of the report's Δ table.
"""

from __future__ import annotations

from dataclasses import dataclass

PAPER = "Krizhevsky, Sutskever & Hinton, ImageNet Classification with Deep Convolutional Neural Networks, NIPS 2012"

FIG1_THRESHOLD = 0.25  # Figure 1 marks 25% training error on CIFAR-10
FIG1_SPEEDUP = 6.0  # ... which the ReLU net reaches six times faster than the tanh net (Figure 1 caption)


@dataclass(frozen=True)
class ReferenceRow:
    """One row of the paper's result tables, in percent; None where the paper prints no number."""
    model: str
    top1: float | None
    top5: float | None
    split: str  # the split the paper's numbers are measured on
    source: str
    test_top5: float | None = None  # Table 2's third column


REFERENCE_ROWS: tuple[ReferenceRow, ...] = (
    ReferenceRow("Sparse coding", 47.1, 28.2, "ILSVRC-2010 test", "Table 1"),
    ReferenceRow("SIFT + FVs", 45.7, 25.7, "ILSVRC-2010 test", "Table 1"),
    ReferenceRow("CNN", 37.5, 17.0, "ILSVRC-2010 test", "Table 1"),
    ReferenceRow("SIFT + FVs", None, None, "ILSVRC-2012 val", "Table 2", test_top5=26.2),
    ReferenceRow("1 CNN", 40.7, 18.2, "ILSVRC-2012 val", "Table 2"),
    ReferenceRow("5 CNNs", 38.1, 16.4, "ILSVRC-2012 val", "Table 2", test_top5=16.4),
    ReferenceRow("1 CNN*", 39.0, 16.6, "ILSVRC-2012 val", "Table 2"),
    ReferenceRow("7 CNNs*", 36.7, 15.4, "ILSVRC-2012 val", "Table 2", test_top5=15.3),
)


@dataclass(frozen=True)
class Claim:
    """A design comparison the paper reports: `key=value` against `key=baseline`.

    `measure` is top1 / top5 (error, Δ in percentage points) or speed (epochs to 25% training error, as the
    ratio value/baseline). `delta` is None for a claim the paper states only as a direction (`sign`).
    """
    key: str
    value: str
    baseline: str
    measure: str
    delta: float | None
    sign: int
    dataset: str  # imagenet or cifar10: where the paper measured it
    source: str
    text: str


CLAIMS: tuple[Claim, ...] = (
    Claim("model.norm", "none", "lrn", "top1", 1.4, +1, "imagenet", "§3.3",
          "response normalization reduces top-1 and top-5 error by 1.4% and 1.2%"),
    Claim("model.norm", "none", "lrn", "top5", 1.2, +1, "imagenet", "§3.3",
          "response normalization reduces top-1 and top-5 error by 1.4% and 1.2%"),
    Claim("model.norm", "none", "lrn", "top1", 2.0, +1, "cifar10", "§3.3",
          "CIFAR-10: 13% test error without normalization, 11% with"),
    Claim("model.pool", "nonoverlap", "overlap", "top1", 0.4, +1, "imagenet", "§3.4",
          "overlapping pooling reduces top-1 and top-5 error by 0.4% and 0.3%"),
    Claim("model.pool", "nonoverlap", "overlap", "top5", 0.3, +1, "imagenet", "§3.4",
          "overlapping pooling reduces top-1 and top-5 error by 0.4% and 0.3%"),
    Claim("model.towers", "1", "2", "top1", 1.7, +1, "imagenet", "§3.2",
          "the two-GPU net reduces top-1 and top-5 error by 1.7% and 1.2% against one GPU, half the kernels"),
    Claim("model.towers", "1", "2", "top5", 1.2, +1, "imagenet", "§3.2",
          "the two-GPU net reduces top-1 and top-5 error by 1.7% and 1.2% against one GPU, half the kernels"),
    Claim("model.activation", "tanh", "relu", "speed", FIG1_SPEEDUP, +1, "cifar10", "Figure 1",
          "ReLUs reach 25% training error on CIFAR-10 six times faster than tanh"),
    Claim("model.regularizer", "none", "dropout", "top1", None, +1, "imagenet", "§4.2",
          "without dropout, the network exhibits substantial overfitting"),
    Claim("data.augment", "crop_flip", "crop_flip_pca", "top1", 1.0, +1, "imagenet", "§4.1",
          "PCA colour augmentation reduces top-1 error by over 1%"),
)

# The paper's own choice on each axis; `--baseline key=value` overrides, other axes use their commonest value.
DEFAULT_BASELINES: dict[str, str] = {
    "model.activation": "relu",  # §3.1
    "model.norm": "lrn",  # §3.3
    "model.pool": "overlap",  # §3.4
    "model.regularizer": "dropout",  # §4.2
    "optim.weight_decay_style": "coupled",  # §5: the decay term is added to the gradient
    "model.towers": "2",  # §3.2
    "data.augment": "crop_flip_pca",  # §4.1
    "data.test_crops": "10",  # §4.1: ten patches averaged at test time
}


def dataset_family(data_name: str) -> str:
    name = data_name.lower()
    if "cifar" in name:
        return "cifar10"
    if "imagenet" in name or "ilsvrc" in name:
        return "imagenet"
    return "other"


def find_claim(key: str, value: str, baseline: str, measure: str, data_name: str) -> Claim | None:
    """The paper's claim for this comparison, preferring one measured on the runs' data set."""
    matches = [c for c in CLAIMS
               if (c.key, c.value, c.baseline, c.measure) == (key, value, baseline, measure)]
    family = dataset_family(data_name)
    matches.sort(key=lambda c: (c.dataset != family, c.dataset != "imagenet"))
    return matches[0] if matches else None
