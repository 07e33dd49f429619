"""The paper's own numbers, as data, each with its source: Krizhevsky, Sutskever & Hinton (NIPS 2012).

Everything the report puts beside a measurement comes from here, so a reader can check each number against the
paper in one place. Errors are in percent (as printed in the paper); a claimed Δ is always written as
"error of `value` minus error of `baseline`", the sign convention of the report's Δ table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

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
    """A design comparison the paper reports: the runs configured as `value` against those configured as `baseline`.

    The two sides name the exact pair the paper compared, every key it changed (§3.2 changes the number of towers
    and halves the kernels: towers and width), so a claim is judged only where the runs hold that pair with
    everything else equal. `measure` is top1 / top5 (error, Δ in percentage points), gap (test − train top-1
    error, pts), train (the final weights' training top-1 error, pts) or speed (epochs to 25% training error, as
    the ratio value/baseline). `delta` is None for a claim the paper states only as a direction (`sign`). `dataset` is where the paper measured it: an effect size does not carry to another data
    set, so there only the direction is judged.
    """
    value: Mapping[str, str]
    baseline: Mapping[str, str]
    measure: str
    delta: float | None
    sign: int
    dataset: str  # imagenet or cifar10
    source: str
    text: str
    relative: str = ""  # a key the claim fixes only as value/baseline (§3.2: half the kernels of the 2-tower net)

    @property
    def keys(self) -> list[str]:
        return list(dict.fromkeys([*self.value, *self.baseline]))

    @property
    def pair(self) -> tuple:
        """What the claim compares; a relative key enters as its ratio, so a scaled claim is the same pair."""
        def side(s: Mapping[str, str]) -> tuple:
            return tuple(sorted((k, v) for k, v in s.items() if k != self.relative))
        return side(self.value), side(self.baseline), self.relative and self.ratio

    @property
    def ratio(self) -> float:
        return float(self.value[self.relative]) / float(self.baseline[self.relative])

    def scaled(self, baseline_value: str) -> Claim | None:
        """The claim for a net scaled as a whole: its baseline side at `baseline_value` of the relative key (e.g.
        §3.2 on a quarter-width net: 2 towers at width 0.25 against 1 tower at 0.125). None: not a number."""
        if not self.relative:
            return self
        try:
            base = float(baseline_value)
        except (TypeError, ValueError):
            return None
        k = self.relative
        return replace(self, value={**self.value, k: f"{base * self.ratio:g}"}, baseline={**self.baseline, k: f"{base:g}"})

    def describe(self, side: Mapping[str, str]) -> str:
        return ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in side.items())


NO_LRN, LRN = {"model.norm": "none"}, {"model.norm": "lrn"}
NO_OVERLAP, OVERLAP = {"model.pool": "nonoverlap"}, {"model.pool": "overlap"}
# §3.2: one GPU with half the kernels in conv1-conv4 (conv5 kept whole, its footnote), against the paper's net.
ONE_TOWER_HALF = {"model.towers": "1", "model.width": "0.5", "model.scale_conv5": "false"}
TWO_TOWERS = {"model.towers": "2", "model.width": "1", "model.scale_conv5": "false"}
LRN_TEXT = "response normalization reduces top-1 and top-5 error by 1.4% and 1.2%"
POOL_TEXT = "overlapping pooling reduces top-1 and top-5 error by 0.4% and 0.3%"
TOWERS_TEXT = ("the two-GPU net reduces top-1 and top-5 error by 1.7% and 1.2% against a net with half as many "
               "kernels in each convolutional layer trained on one GPU")

CLAIMS: tuple[Claim, ...] = (
    Claim(NO_LRN, LRN, "top1", 1.4, +1, "imagenet", "§3.3", LRN_TEXT),
    Claim(NO_LRN, LRN, "top5", 1.2, +1, "imagenet", "§3.3", LRN_TEXT),
    Claim(NO_LRN, LRN, "top1", 2.0, +1, "cifar10", "§3.3", "CIFAR-10: 13% test error without normalization, 11% with"),
    Claim(NO_OVERLAP, OVERLAP, "top1", 0.4, +1, "imagenet", "§3.4", POOL_TEXT),
    Claim(NO_OVERLAP, OVERLAP, "top5", 0.3, +1, "imagenet", "§3.4", POOL_TEXT),
    Claim(ONE_TOWER_HALF, TWO_TOWERS, "top1", 1.7, +1, "imagenet", "§3.2", TOWERS_TEXT, relative="model.width"),
    Claim(ONE_TOWER_HALF, TWO_TOWERS, "top5", 1.2, +1, "imagenet", "§3.2", TOWERS_TEXT, relative="model.width"),
    Claim({"model.activation": "tanh"}, {"model.activation": "relu"}, "speed", FIG1_SPEEDUP, +1, "cifar10",
          "Figure 1", "ReLUs reach 25% training error on CIFAR-10 six times faster than tanh"),
    # §3.1 names both saturating units; only tanh was measured (Figure 1), so sigmoid's claim is a direction.
    Claim({"model.activation": "sigmoid"}, {"model.activation": "relu"}, "speed", None, +1, "cifar10", "§3.1",
          "in terms of training time with gradient descent, these saturating nonlinearities [tanh, sigmoid] are "
          "much slower than the non-saturating nonlinearity f(x) = max(0, x)"),
    Claim({"model.regularizer": "none"}, {"model.regularizer": "dropout"}, "top1", None, +1, "imagenet", "§4.2",
          "without dropout, the network exhibits substantial overfitting"),
    # §4.2's and §4.1's overfitting, measured as such: the train-test gap (ablate-eval scores the training split).
    Claim({"model.regularizer": "none"}, {"model.regularizer": "dropout"}, "gap", None, +1, "imagenet", "§4.2",
          "without dropout, the network exhibits substantial overfitting"),
    Claim({"data.augment": "none"}, {"data.augment": "crop_flip"}, "gap", None, +1, "imagenet", "§4.1",
          "without this scheme [random crops and their horizontal reflections], our network suffers from "
          "substantial overfitting"),
    Claim({"optim.weight_decay_style": "none"}, {"optim.weight_decay_style": "coupled"}, "train", None, +1,
          "imagenet", "§5", "this small amount of weight decay was important for the model to learn. In other words, "
          "weight decay here is not merely a regularizer: it reduces the model's training error"),
    Claim({"data.augment": "crop_flip"}, {"data.augment": "crop_flip_pca"}, "top1", 1.0, +1, "imagenet", "§4.1",
          "PCA colour augmentation reduces top-1 error by over 1%"),
    Claim({"data.augment": "none"}, {"data.augment": "crop_flip"}, "top1", None, +1, "imagenet", "§4.1",
          "without this scheme [random crops and their horizontal reflections], our network suffers from "
          "substantial overfitting"),
)

# The paper's own choice on each axis; `--baseline key=value` overrides, other axes use their commonest value.
DEFAULT_BASELINES: dict[str, str] = {
    "model.activation": "relu",  # §3.1
    "model.norm": "lrn",  # §3.3
    "model.pool": "overlap",  # §3.4
    "model.regularizer": "dropout",  # §4.2
    "optim.weight_decay_style": "coupled",  # §5: the decay term is added to the gradient
    "model.towers": "2",  # §3.2
    "model.width": "1",  # §3.2: the paper's net has all its kernels
    "data.augment": "crop_flip_pca",  # §4.1
    "data.test_crops": "10",  # §4.1: ten patches averaged at test time
}


DATASET_NAMES = {"imagenet": "ImageNet", "cifar10": "CIFAR-10", "other": "another data set"}


def dataset_family(data_name: str) -> str:
    name = str(data_name).lower()
    if "cifar" in name:
        return "cifar10"
    if "imagenet" in name or "ilsvrc" in name:
        return "imagenet"
    return "other"


def preferred_claims(family: str) -> list[Claim]:
    """One claim per pair and measure: the one measured on the runs' data set `family`, else on ImageNet."""
    best: dict[tuple, Claim] = {}
    for claim in CLAIMS:
        slot = (claim.pair, claim.measure)
        rank = (claim.dataset != family, claim.dataset != "imagenet")
        if slot not in best or rank < (best[slot].dataset != family, best[slot].dataset != "imagenet"):
            best[slot] = claim
    return list(best.values())


def find_claim(value: Mapping[str, str], baseline: Mapping[str, str], measure: str, family: str) -> Claim | None:
    """The paper's claim about exactly this comparison: the sides' configs hold its pair, and every key on which
    they differ is one of the claim's keys (a comparison that also changes something else is not the claim)."""
    differ = {k for k in {*value, *baseline} if value.get(k) != baseline.get(k)}
    for claim in preferred_claims(family):
        claim = claim.scaled(baseline.get(claim.relative))
        if (claim is not None and claim.measure == measure and differ <= set(claim.keys)
                and all(value.get(k) == v for k, v in claim.value.items())
                and all(baseline.get(k) == v for k, v in claim.baseline.items())):
            return claim
    return None
