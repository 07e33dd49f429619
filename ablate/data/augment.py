"""The augmentation axis (paper §4.1) as batched tensor ops, so the same code runs on CPU and GPU tensors.

An entry builds a callable `aug(x, generator) -> x` on a float NCHW batch in [0, 1], or None for no-op.
"""

from __future__ import annotations

from ablate.registry import Registry

AUGMENTS = Registry("data.augment")

AUGMENTS.register("none", lambda **_: None)
