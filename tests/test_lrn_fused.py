"""The fused LRN (trainer.fused_lrn): its torch twin against TowerLRN and torch's LocalResponseNorm in float64,
the custom op's registration (autograd, fake tensors, torch.compile), and the Triton kernels against the twin
under Triton's CPU interpreter (and on CUDA where there is one)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from ablate.models import lrn_fused
from ablate.models.lrn import TowerLRN
from ablate.speed import use_fused_lrn
from tests.conftest import REPO

CASES = [(5, 0.75, 2, False), (5, 0.75, 1, True), (3, 0.5, 2, True), (4, 0.6, 1, False)]  # size, β, towers, NHWC


def _input(channels: int, channels_last: bool, dtype=torch.float64, seed: int = 0) -> torch.Tensor:
    x = torch.randn(2, channels, 5, 4, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 3
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _torch_lrn(x: torch.Tensor, size: int, alpha: float, beta: float, k: float, towers: int) -> torch.Tensor:
    layer = nn.LocalResponseNorm(size, alpha, beta, k)
    return torch.cat([layer(t) for t in x.chunk(towers, 1)], 1)


@pytest.mark.parametrize("size,beta,towers,channels_last", CASES)
def test_twin_matches_tower_lrn_and_torch_in_value_and_gradient(size, beta, towers, channels_last):
    x = _input(12, channels_last).requires_grad_()
    g = torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    alpha, k = 0.7, 2.0
    ours = lrn_fused.twin_forward(x.detach(), size, alpha / size, beta, k, towers)
    ref = TowerLRN(size, alpha, beta, k, towers)(x)
    torch.testing.assert_close(ours, ref.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours, _torch_lrn(x.detach(), size, alpha, beta, k, towers), rtol=1e-12, atol=1e-12)
    (grad_ref,) = torch.autograd.grad(ref, x, g)
    grad_ours = lrn_fused.twin_backward(g, x.detach(), size, alpha / size, beta, k, towers)
    torch.testing.assert_close(grad_ours, grad_ref, rtol=1e-10, atol=1e-12)


def test_op_gradient_passes_gradcheck_and_opcheck_on_cpu():
    x = _input(8, True).requires_grad_()
    args = (5, 0.3, 0.75, 2.0, 2)
    assert torch.autograd.gradcheck(lambda t: lrn_fused.fused_lrn(t, *args), (x,))
    torch.library.opcheck(lrn_fused.lrn_forward, (x, *args))
    torch.library.opcheck(lrn_fused.lrn_backward, (torch.randn_like(x), x.detach(), *args))


def test_op_compiles_as_one_opaque_call():
    x = _input(8, False, torch.float32).requires_grad_()
    args = (5, 0.3, 0.75, 2.0, 2)
    compiled = torch.compile(lambda t: lrn_fused.fused_lrn(t, *args), backend="aot_eager", fullgraph=True)
    y = compiled(x)
    torch.testing.assert_close(y, lrn_fused.twin_forward(x.detach(), *args))
    torch.testing.assert_close(torch.autograd.grad(y.sum(), x)[0],
                               lrn_fused.twin_backward(torch.ones_like(x), x.detach(), *args))


def test_the_fused_flag_leaves_cpu_runs_on_the_plain_layer_bit_for_bit():
    x = _input(8, True, torch.float32).requires_grad_()
    plain, fused = TowerLRN(5, 1e-4, 0.75, 2.0, towers=2), TowerLRN(5, 1e-4, 0.75, 2.0, towers=2)
    assert use_fused_lrn(fused, torch.device("cpu")) == 1 and fused.fused_op is lrn_fused.fused_lrn
    y0, y1 = plain(x), fused(x)
    assert torch.equal(y0, y1)
    assert torch.equal(torch.autograd.grad(y0.sum(), x)[0], torch.autograd.grad(y1.sum(), x)[0])


INTERPRETED = textwrap.dedent("""
    import torch
    from ablate.models import lrn_fused as F
    worst = 0.0
    for layout in (torch.contiguous_format, torch.channels_last):
        for size, beta, towers, channels in ((5, 0.75, 2, 10), (5, 0.75, 1, 7), (3, 0.5, 2, 6)):
            gen = torch.Generator().manual_seed(channels)
            x = (torch.randn(2, channels, 3, 5, generator=gen) * 3).contiguous(memory_format=layout)
            g = torch.randn(x.shape, generator=gen).contiguous(memory_format=layout)
            args = (size, 0.3, beta, 2.0, towers)
            for got, want in ((F.triton_forward(x, *args), F.twin_forward(x, *args)),
                              (F.triton_backward(g, x, *args), F.twin_backward(g, x, *args))):
                assert got.is_contiguous(memory_format=layout) and got.dtype == x.dtype
                worst = max(worst, ((got - want).norm() / want.norm()).item())
            xb = x.bfloat16()  # bf16 in, float32 arithmetic, bf16 out: one rounding
            got = F.triton_forward(xb, *args)
            assert got.dtype == torch.bfloat16
            torch.testing.assert_close(got, F.twin_forward(xb, *args), rtol=1e-2, atol=1e-2)
    print("worst relative error", worst)
    assert worst < 1e-6, worst
""")


@pytest.mark.skipif(not lrn_fused.available(), reason="Triton is not installed")
def test_triton_kernels_match_the_twin_under_the_cpu_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1")
    proc = subprocess.run([sys.executable, "-c", INTERPRETED], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "worst relative error" in proc.stdout


@pytest.mark.skipif(not torch.cuda.is_available() or not lrn_fused.available(), reason="needs CUDA and Triton")
@pytest.mark.parametrize("channels_last", [False, True])
def test_cuda_kernels_match_float64_on_the_cpu(channels_last):
    """AlexNet's conv2 tower size (128 maps per tower), a float32 and a bf16 input."""
    x = _input(256, channels_last, torch.float32)
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    args = (5, 1e-4 / 5, 0.75, 2.0, 2)
    want_y = lrn_fused.twin_forward(x.double(), *args)
    want_dx = lrn_fused.twin_backward(g.double(), x.double(), *args)
    for dtype, tol in ((torch.float32, 1e-5), (torch.bfloat16, 1e-2)):
        xc = x.to("cuda", dtype).contiguous(memory_format=torch.channels_last if channels_last else
                                            torch.contiguous_format).requires_grad_()
        layer = TowerLRN(5, 1e-4, 0.75, 2.0, towers=2)
        use_fused_lrn(layer, torch.device("cuda"))
        y = layer(xc)
        (dx,) = torch.autograd.grad(y, xc, g.to("cuda", dtype))
        for got, want in ((y, want_y), (dx, want_dx)):
            err = ((got.double().cpu() - want).norm() / want.norm()).item()
            assert err < tol, (dtype, err)
