"""The compiled SIREN kernels (zoo/native/siren.py) against float64 references and torch."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from zoo import native
from zoo.inr.batched import batched_siren_forward, seeded_init_params
from zoo.inr.grid import grid_siren_mse_and_grad
from zoo.models.siren import SirenConfig, make_coordinates
from zoo.native import siren as kernels

pytestmark = pytest.mark.usefixtures("fresh_kernels")


def test_sincos_matches_float64_reference(backend: str) -> None:
    gen = torch.Generator().manual_seed(0)
    scales = torch.tensor([1.0, 3.0, 30.0, 300.0, 3e4])
    z64 = ((torch.rand(5, 20_000, generator=gen, dtype=torch.float64) * 2 - 1)
           * scales.double()[:, None])
    z = z64.float()
    special = torch.tensor([0.0, -0.0, math.pi / 4, -math.pi / 2, math.pi, 1e-30, 1e4])
    z = torch.cat([z.flatten(), special])
    exact = z.double()
    sin_out = torch.empty_like(z)
    result = kernels.sincos_(z, sin_out)
    assert result is z  # cos is written in place
    assert (sin_out.double() - torch.sin(exact)).abs().max() < 2e-7
    assert (z.double() - torch.cos(exact)).abs().max() < 2e-7


def test_sincos_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        kernels.sincos_(torch.zeros(3), torch.zeros(4))


def test_sincos_on_non_contiguous_tensors_uses_torch() -> None:
    base = torch.linspace(-10, 10, 200).reshape(20, 10)
    z = base.t()  # not contiguous: the kernel would read it in the wrong order
    sin_out = torch.empty_like(z)
    expected_sin, expected_cos = torch.sin(z), torch.cos(z)
    kernels.sincos_(z, sin_out)
    assert torch.allclose(sin_out, expected_sin, atol=1e-6)
    assert torch.allclose(z, expected_cos, atol=1e-6)


# 32 runs the kernels' fixed-width instantiation, the others their generic loops.
WIDTHS = [5, 32]


@pytest.mark.parametrize("neurons", WIDTHS)
def test_grid_compose_is_sine_and_cosine_of_the_sum(backend: str, neurons: int) -> None:
    gen = torch.Generator().manual_seed(1)
    m, height, width = 3, 5, 7
    a = torch.randn(m, height, neurons, generator=gen, dtype=torch.float64) * 10
    c = torch.randn(m, width, neurons, generator=gen, dtype=torch.float64) * 10
    sin_out = torch.empty(m, height * width, neurons)
    cos_out = torch.empty(m, height * width, neurons)
    kernels.grid_compose(a.sin().float(), a.cos().float(), c.sin().float(), c.cos().float(),
                        sin_out, cos_out)
    total = (a[:, :, None, :] + c[:, None, :, :]).reshape(m, height * width, neurons)
    assert (sin_out.double() - total.sin()).abs().max() < 1e-6
    assert (cos_out.double() - total.cos()).abs().max() < 1e-6
    sin_only = torch.empty_like(sin_out)
    kernels.grid_compose(a.sin().float(), a.cos().float(), c.sin().float(), c.cos().float(),
                        sin_only)
    assert torch.equal(sin_only, sin_out)
    with pytest.raises(ValueError, match="outputs must be"):
        kernels.grid_compose(a.sin().float(), a.cos().float(), c.sin().float(),
                            c.cos().float(), torch.empty(m, height, neurons))


@pytest.mark.parametrize("neurons", WIDTHS)
def test_mul_grid_sums_are_row_and_column_sums_of_the_product(backend: str,
                                                               neurons: int) -> None:
    gen = torch.Generator().manual_seed(3)
    m, height, width = 2, 6, 5
    x = torch.randn(m, height * width, neurons, generator=gen, dtype=torch.float64)
    u = torch.randn(m, height * width, neurons, generator=gen, dtype=torch.float64)
    rows, cols = torch.full((m, height, neurons), 7.0), torch.full((m, width, neurons), 7.0)
    kernels.mul_grid_sums(x.float(), u.float(), rows, cols)  # overwrites, never accumulates
    grid = (x * u).view(m, height, width, neurons)
    assert (rows.double() - grid.sum(dim=2)).abs().max() < 1e-5
    assert (cols.double() - grid.sum(dim=1)).abs().max() < 1e-5
    with pytest.raises(ValueError, match="must both be"):
        kernels.mul_grid_sums(x.float(), u.float(), rows[:, 1:], cols)


@pytest.mark.parametrize("neurons", WIDTHS)
@pytest.mark.parametrize("n_out", [1, 3])
def test_output_layer_backward_matches_float64_autograd(backend: str, n_out: int,
                                                        neurons: int) -> None:
    gen = torch.Generator().manual_seed(7)
    m, n, scale = 3, 150, 30.0  # 150 pixels: more than one tile of the kernel
    z = torch.randn(m, n, neurons, generator=gen, dtype=torch.float64) * 2
    weight = torch.randn(m, n_out, neurons, generator=gen, dtype=torch.float64) * 0.3
    bias = torch.randn(m, n_out, generator=gen, dtype=torch.float64) * 0.1
    targets = torch.rand(m, n, n_out, generator=gen, dtype=torch.float64)
    leaves = [t.clone().requires_grad_(True) for t in (z, weight, bias)]
    z_, w_, b_ = leaves
    y = torch.sin(z_) @ w_.transpose(1, 2) + b_.unsqueeze(1)
    exact_mse = (y - targets).square().mean(dim=(1, 2))
    exact_mse.sum().backward()
    assert z_.grad is not None and w_.grad is not None and b_.grad is not None
    cosines = z.cos().float()
    mse, grad_w, grad_b, delta_sum = kernels.output_layer_backward_(
        z.sin().float(), cosines, weight.float(), bias.float(), targets.float(), scale)
    delta = scale * z_.grad  # cosines now hold w0 * d mse / d z

    def close(got: torch.Tensor, want: torch.Tensor) -> bool:
        return bool((got.double() - want).abs().max() <= 1e-5 * want.abs().max())

    assert close(mse, exact_mse.detach())
    assert close(grad_w, w_.grad) and close(grad_b, b_.grad)
    assert close(cosines, delta) and close(delta_sum, delta.sum(dim=1))
    with pytest.raises(ValueError, match="inconsistent shapes"):
        kernels.output_layer_backward_(z.sin().float(), cosines, weight.float(), bias.float(),
                                      targets.float()[:, 1:], scale)


@pytest.mark.parametrize(("depth", "width"), [(2, 8), (3, 8), (4, 8), (3, 32)])
def test_float32_grid_gradient_matches_float64_autograd(backend: str, depth: int,
                                                        width: int) -> None:
    """The float32 fitting step (kernels or torch fallback) against a float64 autograd one."""
    siren = SirenConfig(hidden_width=width, depth=depth)
    params = seeded_init_params(0, range(5), siren, dtype=torch.float64)
    params += 0.05 * torch.randn(params.shape, dtype=torch.float64,
                                 generator=torch.Generator().manual_seed(5))
    targets = torch.rand(5, 9 * 7, 1, dtype=torch.float64,
                         generator=torch.Generator().manual_seed(6))
    mse, grad = grid_siren_mse_and_grad(params.float(), targets.float(), 9, 7, siren,
                                        micro_batch=2)
    coords = make_coordinates(9, 7, torch.float64)
    exact = params.clone().requires_grad_(True)
    loss = (batched_siren_forward(exact, coords, siren) - targets).square().mean(dim=(1, 2))
    loss.sum().backward()
    assert exact.grad is not None
    assert (mse.double() - loss.detach()).abs().max() < 1e-6 * loss.max()
    assert (grad.double() - exact.grad).abs().max() < 1e-4 * exact.grad.abs().max()


def test_failed_build_falls_back_to_torch_with_a_warning(
        tmp_path: object, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("ZOO_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "false")  # exists everywhere and always fails
    with caplog.at_level(logging.WARNING, logger="zoo.native"):
        assert native.kernel_library() is None
    assert "compiling the zoo's C kernels failed" in caplog.text
    z, sin_out = torch.tensor([0.5, -2.0]), torch.empty(2)
    kernels.sincos_(z, sin_out)
    assert torch.allclose(sin_out, torch.sin(torch.tensor([0.5, -2.0])))


def test_library_is_built_once_into_the_cache(tmp_path: object,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_KERNEL_CACHE", str(tmp_path))
    if native.kernel_library() is None:
        pytest.skip("no C compiler here")
    from pathlib import Path

    built = sorted(Path(str(tmp_path)).glob("zoo_kernels_*.so"))
    assert len(built) == 1
    native.kernel_library.cache_clear()
    assert native.kernel_library() is not None
    assert sorted(Path(str(tmp_path)).glob("*")) == built  # reused, no temporary left over
