"""The compiled PNA neighbourhood statistics (zoo/native/pna.py) against torch in float64."""

from __future__ import annotations

import pytest
import torch

from zoo.native.pna import block_stats, block_stats_backward

# 32 runs the kernels' fixed-width instantiation, 5 their generic loops.
SHAPES = [(7, 4, 5), (9, 34, 32), (3, 1, 32)]


def _block(shape: tuple[int, int, int], seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    block = torch.randn(shape, generator=gen, dtype=torch.float64)
    # ties: equal extremes within a neighbourhood must send the gradient to the first one
    block[:, -1] = block[:, 0]
    return block.float().double()  # exactly representable in float32


@pytest.mark.parametrize("shape", SHAPES)
def test_statistics_match_torch(backend: str, shape: tuple[int, int, int]) -> None:
    block = _block(shape, 0)
    total, mn, mx, sq, i_min, i_max = block_stats(block.float(), True, True, True)
    ref_min, ref_imin = block.min(dim=1)
    ref_max, ref_imax = block.max(dim=1)
    assert torch.allclose(total.double(), block.sum(dim=1), atol=1e-5)
    assert torch.allclose(sq.double(), (block * block).sum(dim=1), atol=1e-4)
    assert torch.equal(mn.double(), ref_min) and torch.equal(mx.double(), ref_max)
    assert torch.equal(i_min, ref_imin) and torch.equal(i_max, ref_imax)
    plain = block_stats(block.float(), True, True, False, with_indices=False)
    assert torch.equal(plain[1], mn) and torch.equal(plain[2], mx)
    assert plain[3].shape == (shape[0], 0) and plain[4].numel() == plain[5].numel() == 0


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("wants", [(True, True, True), (False, True, False), (True, False, True)])
def test_gradient_matches_autograd(backend: str, shape: tuple[int, int, int],
                                   wants: tuple[bool, bool, bool]) -> None:
    want_min, want_max, want_sq = wants
    block = _block(shape, 1)
    n, _, f = shape
    gen = torch.Generator().manual_seed(2)
    g_sum, g_min, g_max, g_sq = (torch.randn(n, f, generator=gen, dtype=torch.float64)
                                 for _ in range(4))
    leaf = block.clone().requires_grad_(True)
    objective = (leaf.sum(dim=1) * g_sum).sum()
    if want_min:
        objective = objective + (leaf.min(dim=1).values * g_min).sum()
    if want_max:
        objective = objective + (leaf.max(dim=1).values * g_max).sum()
    if want_sq:
        objective = objective + ((leaf * leaf).sum(dim=1) * g_sq).sum()
    objective.backward()
    _, _, _, _, i_min, i_max = block_stats(block.float(), want_min, want_max, want_sq)
    grad = block_stats_backward(block.float(), g_sum.float(),
                                g_min.float() if want_min else None,
                                g_max.float() if want_max else None,
                                g_sq.float() if want_sq else None, i_min, i_max)
    assert leaf.grad is not None
    assert (grad.double() - leaf.grad).abs().max() < 1e-5


def test_non_contiguous_gradients_are_accepted(backend: str) -> None:
    block = _block((4, 3, 8), 3).float()
    wide = torch.randn(4, 16)
    g_sum = wide[:, :8]  # a slice, as autograd hands back from a concatenation
    _, _, mx, _, _, i_max = block_stats(block, False, True, False)
    grad = block_stats_backward(block, g_sum, None, wide[:, 8:], None, torch.empty(0), i_max)
    expected = g_sum.unsqueeze(1).expand_as(block).clone()
    expected.scatter_add_(1, i_max.unsqueeze(1), wide[:, 8:].unsqueeze(1))
    assert torch.allclose(grad, expected)
    assert mx.shape == (4, 8)
