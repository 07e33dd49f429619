"""The `model.regularizer` axis: what happens in the hidden fully connected layers.

Every entry builds a block `in → linear → activation (→ dropout)` exposing its `linear` (so initialisers
and weight decay find the weights): `none`, `dropout` (§4.2, the paper's fc6/fc7) and `dropconnect`
(Wan et al. 2013, which masks the weights instead of the outputs and owns its activation, because its
sampling inference applies the activation to Gaussian samples of the pre-activation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ablate.registry import FRACTION, POSITIVE, SHARE, Option, Registry

REGULARIZERS = Registry("model.regularizer")
_BUDGET = 1 << 24  # elements per chunk of per-example masks / inference samples (64 MiB in fp32)


class PaperDropout(nn.Module):
    """Dropout as §4.2 words it: zero each output with probability p in training; at test time keep every
    unit and multiply its output by 1 − p. (torch's inverted dropout scales by 1/(1 − p) in training instead.)"""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.training:
            return x * (torch.rand_like(x) >= self.p).to(x.dtype)
        return x * (1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class FCBlock(nn.Module):
    """A fully connected layer: linear → activation, with optional dropout on its outputs (a hidden layer,
    §4.2) or on its inputs (an output layer that follows no hidden fc layer)."""

    def __init__(self, linear: nn.Linear, act: nn.Module, drop: nn.Module | None = None, on_input: bool = False):
        super().__init__()
        self.linear = linear
        self.act = act
        self.drop = drop or nn.Identity()
        self.on_input = on_input

    def forward(self, x):
        if self.on_input:
            return self.act(self.linear(self.drop(x)))
        return self.drop(self.act(self.linear(x)))


def _mask(seed: int, chunk: int, shape: tuple, keep: float, like: torch.Tensor) -> torch.Tensor:
    """Chunk `chunk`'s Bernoulli(keep) masks, regenerated identically in forward and backward."""
    gen = torch.Generator(device=like.device).manual_seed(seed + chunk)
    return (torch.rand(shape, generator=gen, device=like.device) < keep).to(like.dtype)


class _PerExampleMaskedLinear(torch.autograd.Function):
    """u_b = (M_b ⊙ W) v_b with an independent mask M_b per example b.

    The B × out × in masks never exist at once: they are drawn chunk by chunk from a seed and drawn again
    in backward, so memory stays bounded by `_BUDGET` whatever the batch and layer size.
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx, v, weight, keep: float, seed: int):
        chunk = max(1, _BUDGET // weight.numel())
        out = v.new_empty(v.shape[0], weight.shape[0])
        for k, start in enumerate(range(0, v.shape[0], chunk)):
            vb = v[start:start + chunk]
            masked = _mask(seed, k, (len(vb), *weight.shape), keep, weight) * weight
            out[start:start + chunk] = torch.bmm(masked, vb.unsqueeze(2)).squeeze(2)
        ctx.save_for_backward(v, weight)
        ctx.keep, ctx.seed, ctx.chunk = keep, seed, chunk
        return out

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad):
        v, weight = ctx.saved_tensors
        grad_v, grad_w = torch.empty_like(v), torch.zeros_like(weight)
        for k, start in enumerate(range(0, v.shape[0], ctx.chunk)):
            vb, gb = v[start:start + ctx.chunk], grad[start:start + ctx.chunk]
            mask = _mask(ctx.seed, k, (len(vb), *weight.shape), ctx.keep, weight)
            grad_v[start:start + ctx.chunk] = torch.bmm(gb.unsqueeze(1), mask * weight).squeeze(1)
            grad_w += (mask * (gb.unsqueeze(2) * vb.unsqueeze(1))).sum(0)
        return grad_v, grad_w, None, None


class DropConnectFC(nn.Module):
    """A fully connected layer with DropConnect and its activation: r = a((M ⊙ W) v), M_ij ~ Bernoulli(p).

    p is the *keep* probability, as in Wan et al., whose W holds the bias as a column fed by a constant 1 in
    v: so by default (`mask_bias`) each bias b_i is masked too, r = a((M ⊙ W) v + m ⊙ b), m_i ~ Bernoulli(p);
    `mask_bias=False` never masks it. Training draws a fresh mask per example (the paper) or, with
    `mask="batch"`, one mask shared by the whole batch (cheaper, but the examples of a batch then see the
    same thinned net). Inference `mean` is a(p(Wv + b)) (a(pWv + b) with an unmasked bias); `sample` is the
    paper's moment matching: u ~ N(E[u], p(1 − p)((W⊙W)(v⊙v) + b⊙b)) per unit (no b⊙b term with an unmasked
    bias), a(u) averaged over `samples` draws.
    """

    def __init__(self, in_features: int, out_features: int, act: nn.Module, keep: float = 0.5,
                 mask: str = "example", inference: str = "sample", samples: int = 1000, mask_bias: bool = True):
        super().__init__()
        self.linear, self.act = nn.Linear(in_features, out_features), act
        self.keep, self.mask, self.inference, self.samples = keep, mask, inference, samples
        self.mask_bias = mask_bias

    def forward(self, v):
        w, b = self.linear.weight, self.linear.bias
        if self.training:
            return self.act(self._masked(v, w, b))
        bias_keep = self.keep if self.mask_bias else 1.0
        mean = F.linear(v, self.keep * w, bias_keep * b)
        if self.inference == "mean":
            return self.act(mean)
        var = F.linear(v * v, w * w, b * b if self.mask_bias else None)
        return self._sample_mean(mean, (self.keep * (1 - self.keep) * var).sqrt())

    def _masked(self, v, w, b):
        """The training pre-activation (M ⊙ W) v + b, or with the bias masked, (M ⊙ [W b]) [v 1]."""
        if self.mask == "batch":
            bias = b * (torch.rand_like(b) < self.keep).to(b.dtype) if self.mask_bias else b
            return F.linear(v, w * (torch.rand_like(w) < self.keep).to(w.dtype), bias)
        seed = int(torch.randint(0, 2**62, ()))  # from the global generator: seeded runs repeat
        if not self.mask_bias:
            return _PerExampleMaskedLinear.apply(v, w, self.keep, seed) + b
        # The bias as W's last column, fed by a constant 1: one mask per example covers both, gradients exact.
        ones = v.new_ones(v.shape[0], 1)
        return _PerExampleMaskedLinear.apply(torch.cat([v, ones], 1), torch.cat([w, b[:, None]], 1), self.keep, seed)

    def _sample_mean(self, mean, std):
        total = torch.zeros_like(mean)
        per_chunk = max(1, _BUDGET // mean.numel())
        for start in range(0, self.samples, per_chunk):
            z = min(per_chunk, self.samples - start)
            u = mean + std * torch.randn((z, *mean.shape), device=mean.device, dtype=mean.dtype)
            total += self.act(u).sum(0)
        return total / self.samples

    def extra_repr(self) -> str:
        return (f"keep={self.keep}, mask={self.mask}, inference={self.inference}, samples={self.samples}, "
                f"mask_bias={self.mask_bias}")


DROPOUT = Option("dropout", "probability of zeroing a unit (§4.2: 0.5)", FRACTION)
DROPOUT_STYLE = Option("dropout_style", "inverted: kept units ×1/(1−p) in training; paper: outputs ×(1−p) at test")
DROPCONNECT_KEEP = Option("dropconnect_keep", "keep probability p of each weight (Wan et al.: M ~ Bernoulli(p))", SHARE)
DROPCONNECT_MASK = Option("dropconnect_mask", "example: a fresh mask per training example; batch: one per batch")
DROPCONNECT_INFERENCE = Option("dropconnect_inference", "sample: Gaussian moment matching (Wan et al.); mean: a(pWv + b)")
DROPCONNECT_SAMPLES = Option("dropconnect_samples", "Gaussian samples per unit averaged by sample inference", POSITIVE)
DROPCONNECT_MASK_BIAS = Option("dropconnect_mask_bias", "mask the bias too (Wan et al.: b folded into W)")


# Builders: (in_features, out_features, the block's activation, on_input: dropout on the inputs, for an output
# layer that follows no hidden fc layer), then their options.
@REGULARIZERS.register("dropout", options=(DROPOUT, DROPOUT_STYLE), summary="dropout on the hidden fc layers' outputs",
                       source="§4.2")
def _dropout(in_features: int, out_features: int, act: nn.Module, on_input: bool, *, dropout: float,
             dropout_style: str) -> nn.Module:
    drop = PaperDropout(dropout) if dropout_style == "paper" else nn.Dropout(dropout)
    return FCBlock(nn.Linear(in_features, out_features), act, drop, on_input=on_input)


@REGULARIZERS.register("dropconnect", options=(DROPCONNECT_KEEP, DROPCONNECT_MASK, DROPCONNECT_INFERENCE,
                                               DROPCONNECT_SAMPLES, DROPCONNECT_MASK_BIAS),
                       summary="DropConnect on the hidden fc layers' weights", source="Wan et al. 2013")
def _dropconnect(in_features: int, out_features: int, act: nn.Module, on_input: bool, *, dropconnect_keep: float,
                 dropconnect_mask: str, dropconnect_inference: str, dropconnect_samples: int,
                 dropconnect_mask_bias: bool) -> nn.Module:
    return DropConnectFC(in_features, out_features, act, dropconnect_keep, dropconnect_mask,
                         dropconnect_inference, dropconnect_samples, dropconnect_mask_bias)


@REGULARIZERS.register("none", summary="no regularizer", source="§4.2's baseline")
def _none(in_features: int, out_features: int, act: nn.Module, on_input: bool) -> nn.Module:
    return FCBlock(nn.Linear(in_features, out_features), act)
