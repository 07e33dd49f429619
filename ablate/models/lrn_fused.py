"""LRN in one pass each way (`trainer.fused_lrn`): Triton kernels on CUDA, registered as a torch custom op.

Why: eager LRN was 58% of the paper AlexNet's step on an H200 (reports/bench/2026-11-28-gpu-h200.md). The
layer is memory-bound, and `TowerLRN`'s torch ops each make a full pass over the activations (square, pad,
n shifted adds, powers, products: about a dozen forward, as many backward). Here the forward reads x once and
writes y; the backward reads x and the upstream gradient once and writes the input gradient. Nothing but x is
saved for the backward: it recomputes each window's d from x (n² loads that hit the cache), instead of keeping
a float32 d the size of the activations.

Arithmetic (the same function as `TowerLRN`, see ablate/models/lrn.py for the formulas): every sum and power
in float32 (float64 for float64 input), the result rounded once to the input's dtype. Under bf16 autocast that
is more exact than TowerLRN's bf16 ops, so the two differ by bf16 rounding, not more.

The op `ablate::lrn_forward` / `ablate::lrn_backward` has a torch implementation for every device (`twin_*`:
the kernels' arithmetic in torch ops, the CPU path of the op and the reference the kernels are tested
against) and the Triton kernels for CUDA. torch.compile sees an opaque op (a fake implementation gives
shapes). Tests: the twin against TowerLRN and torch's LocalResponseNorm in float64 on CPU; the kernels against
the twin under Triton's CPU interpreter (tests/test_lrn_fused.py) and on the GPU (bench/gpu_bench.py checks).
"""

from __future__ import annotations

import torch

from ablate.models.lrn import _window_sum

try:  # Triton ships with CUDA builds of torch; CPU-only installs lack it and use the twin
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the install
    triton = None

MAX_MAPS = 1024  # kernel maps per tower one program holds (AlexNet: 48 and 128)


def available() -> bool:
    return triton is not None


# -- the torch twin: the kernels' arithmetic, op for op ------------------------------------------------------------
def _acc(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float64 if x.dtype == torch.float64 else torch.float32)


def _d(xf: torch.Tensor, size: int, scale: float, k: float, towers: int) -> torch.Tensor:
    return _window_sum(xf * xf, size, size // 2, towers) * scale + k


def twin_forward(x: torch.Tensor, size: int, scale: float, beta: float, k: float, towers: int) -> torch.Tensor:
    xf = _acc(x)
    return (xf * _d(xf, size, scale, k, towers).pow(-beta)).to(x.dtype)


def twin_backward(g: torch.Tensor, x: torch.Tensor, size: int, scale: float, beta: float, k: float,
                  towers: int) -> torch.Tensor:
    xf, gf = _acc(x), _acc(g)
    d = _d(xf, size, scale, k, towers)
    back = _window_sum(gf * xf * d.pow(-beta - 1), size, (size - 1) // 2, towers)
    return (gf * d.pow(-beta) - 2 * scale * beta * xf * back).to(x.dtype)


# -- the op ---------------------------------------------------------------------------------------------------------
@torch.library.custom_op("ablate::lrn_forward", mutates_args=())
def lrn_forward(x: torch.Tensor, size: int, scale: float, beta: float, k: float, towers: int) -> torch.Tensor:
    return twin_forward(x, size, scale, beta, k, towers)


@torch.library.custom_op("ablate::lrn_backward", mutates_args=())
def lrn_backward(g: torch.Tensor, x: torch.Tensor, size: int, scale: float, beta: float, k: float,
                 towers: int) -> torch.Tensor:
    return twin_backward(g, x, size, scale, beta, k, towers)


@lrn_forward.register_fake
def _(x, size, scale, beta, k, towers):
    return torch.empty_like(x)


@lrn_backward.register_fake
def _(g, x, size, scale, beta, k, towers):
    return torch.empty_like(x)


def _setup_context(ctx, inputs, output) -> None:
    x, *args = inputs
    ctx.save_for_backward(x)
    ctx.args = args


def _backward(ctx, g):
    (x,) = ctx.saved_tensors
    return lrn_backward(g, x, *ctx.args), None, None, None, None, None


lrn_forward.register_autograd(_backward, setup_context=_setup_context)


def fused_lrn(x: torch.Tensor, size: int, scale: float, beta: float, k: float, towers: int) -> torch.Tensor:
    return lrn_forward(x, size, scale, beta, k, towers)


# -- the Triton kernels --------------------------------------------------------------------------------------------
def _layout(x: torch.Tensor) -> torch.memory_format:
    """channels_last when x is stored so (the AlexNet case), else NCHW."""
    return torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) \
        and not x.is_contiguous() else torch.contiguous_format


def _launch(kernel, out: torch.Tensor, tensors: list[torch.Tensor], size: int, scale: float, beta: float,
            k: float, towers: int) -> torch.Tensor:
    """One program per block of pixels and tower, holding all of the tower's maps (next power of two)."""
    n, c, h, w = out.shape
    maps = c // towers
    if maps > MAX_MAPS:
        raise ValueError(f"fused LRN holds at most {MAX_MAPS} maps per tower, got {maps}; set trainer.fused_lrn=false")
    block_c = triton.next_power_of_2(maps)
    block_p = max(1, 2048 // block_c)  # ~2k values per program: registers, no spills
    pixels = n * h * w
    sn, sc, _, sw = out.stride()
    grid = (triton.cdiv(pixels, block_p), towers)
    kernel[grid](*tensors, out, pixels, h * w, sn, sw, sc, maps, scale, beta, k,
                 SIZE=size, BEFORE=size // 2, BLOCK_P=block_p, BLOCK_C=block_c, num_warps=4)
    return out


def triton_forward(x, size, scale, beta, k, towers):
    x = x.contiguous(memory_format=_layout(x))
    return _launch(_forward_kernel, torch.empty_like(x), [x], size, scale, beta, k, towers)


def triton_backward(g, x, size, scale, beta, k, towers):
    fmt = _layout(x)
    x, g = x.contiguous(memory_format=fmt), g.contiguous(memory_format=fmt)
    return _launch(_backward_kernel, torch.empty_like(x), [g, x], size, scale, beta, k, towers)


if triton is not None:
    @triton.jit
    def _tile(ptr, base, chan, pmask, maps, sc):
        """Values at channel offsets `chan` (within the tower) for a block of pixels, 0 outside the tower."""
        m = pmask[:, None] & (chan >= 0)[None, :] & (chan < maps)[None, :]
        return tl.load(ptr + base[:, None] + chan[None, :] * sc, mask=m, other=0.0).to(tl.float32)

    @triton.jit
    def _window_d(x_ptr, base, chan, pmask, maps, sc, scale, k, SIZE: tl.constexpr, BEFORE: tl.constexpr,
                  BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
        """d = k + scale · Σ x² over the window of each channel in `chan`."""
        acc = tl.zeros([BLOCK_P, BLOCK_C], tl.float32)
        for i in tl.static_range(SIZE):
            v = _tile(x_ptr, base, chan + (i - BEFORE), pmask, maps, sc)
            acc += v * v
        return k + scale * acc

    @triton.jit
    def _forward_kernel(x_ptr, y_ptr, pixels, hw, sn, sw, sc, maps, scale, beta, k, SIZE: tl.constexpr,
                        BEFORE: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
        p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
        pmask = p < pixels
        base = (p // hw) * sn + (p % hw) * sw + tl.program_id(1) * maps * sc
        chan = tl.arange(0, BLOCK_C)
        d = _window_d(x_ptr, base, chan, pmask, maps, sc, scale, k, SIZE, BEFORE, BLOCK_P, BLOCK_C)
        x = _tile(x_ptr, base, chan, pmask, maps, sc)
        y = x * tl.exp2(-beta * tl.log2(d))
        m = pmask[:, None] & (chan < maps)[None, :]
        tl.store(y_ptr + base[:, None] + chan[None, :] * sc, y.to(y_ptr.dtype.element_ty), mask=m)

    @triton.jit
    def _backward_kernel(g_ptr, x_ptr, dx_ptr, pixels, hw, sn, sw, sc, maps, scale, beta, k, SIZE: tl.constexpr,
                         BEFORE: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
        """dx_c = g_c·d_c^-β − 2·scale·β·x_c·Σ_{j: c ∈ window(j)} g_j·x_j·d_j^(-β-1), each d_j recomputed."""
        p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
        pmask = p < pixels
        base = (p // hw) * sn + (p % hw) * sw + tl.program_id(1) * maps * sc
        chan = tl.arange(0, BLOCK_C)
        back = tl.zeros([BLOCK_P, BLOCK_C], tl.float32)
        for i in tl.static_range(SIZE):  # j = c + BEFORE − i runs over the windows that hold c
            j = chan + (BEFORE - i)
            dj = _window_d(x_ptr, base, j, pmask, maps, sc, scale, k, SIZE, BEFORE, BLOCK_P, BLOCK_C)
            t = _tile(g_ptr, base, j, pmask, maps, sc) * _tile(x_ptr, base, j, pmask, maps, sc)
            back += t * tl.exp2((-beta - 1.0) * tl.log2(dj))
        d = _window_d(x_ptr, base, chan, pmask, maps, sc, scale, k, SIZE, BEFORE, BLOCK_P, BLOCK_C)
        g = _tile(g_ptr, base, chan, pmask, maps, sc)
        x = _tile(x_ptr, base, chan, pmask, maps, sc)
        dx = g * tl.exp2(-beta * tl.log2(d)) - 2.0 * scale * beta * x * back
        m = pmask[:, None] & (chan < maps)[None, :]
        tl.store(dx_ptr + base[:, None] + chan[None, :] * sc, dx.to(dx_ptr.dtype.element_ty), mask=m)

    lrn_forward.register_kernel("cuda")(triton_forward)
    lrn_backward.register_kernel("cuda")(triton_backward)
