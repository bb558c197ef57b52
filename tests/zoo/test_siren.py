"""SIREN module, flat parameter layout and the batched functional forward."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.inr.batched import (
    batched_siren_forward,
    init_batched_params,
    seeded_init_params,
    siren_neuron_values,
)
from zoo.inr.grid import grid_siren_forward, grid_siren_mse_and_grad
from zoo.models.siren import (
    Siren,
    SirenConfig,
    flatten_params,
    init_bounds,
    make_coordinates,
    unflatten_params,
)

CONFIGS = [
    SirenConfig(),
    SirenConfig(hidden_width=8, depth=2),
    SirenConfig(hidden_width=16, depth=4, out_features=3, w0=10.0, w0_hidden=20.0),
]


def test_default_layout_matches_published_mnist_zoo() -> None:
    cfg = SirenConfig()
    assert cfg.layer_shapes() == [(32, 2), (32, 32), (1, 32)]
    assert cfg.n_params == 2 * 32 + 32 + 32 * 32 + 32 + 32 + 1 == 1185


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="depth"):
        SirenConfig(depth=1)
    with pytest.raises(ValueError, match="w0"):
        SirenConfig(w0=0.0)


def test_flat_layout_is_weight_row_major_then_bias() -> None:
    cfg = SirenConfig(hidden_width=3, depth=2)
    flat = torch.arange(cfg.n_params, dtype=torch.float32)
    weights, biases = unflatten_params(flat, cfg)
    assert weights[0].tolist() == [[0, 1], [2, 3], [4, 5]]
    assert biases[0].tolist() == [6, 7, 8]
    assert weights[1].tolist() == [[9, 10, 11]]
    assert biases[1].tolist() == [12]


@settings(max_examples=25, deadline=None)
@given(width=st.integers(1, 6), depth=st.integers(2, 4), out=st.integers(1, 3),
       batch=st.integers(0, 3))
def test_flatten_unflatten_round_trip(width: int, depth: int, out: int, batch: int) -> None:
    cfg = SirenConfig(hidden_width=width, depth=depth, out_features=out)
    flat = torch.randn(batch, cfg.n_params)
    weights, biases = unflatten_params(flat, cfg)
    assert [tuple(w.shape[1:]) for w in weights] == cfg.layer_shapes()
    assert torch.equal(flatten_params(weights, biases), flat)


def test_unflatten_rejects_wrong_length() -> None:
    with pytest.raises(ValueError, match="1185"):
        unflatten_params(torch.zeros(10), SirenConfig())


def test_module_flat_round_trip_and_repr() -> None:
    cfg = CONFIGS[2]
    model = Siren(cfg, generator=torch.Generator().manual_seed(0))
    flat = model.flat_parameters()
    assert flat.shape == (cfg.n_params,)
    other = Siren.from_flat(flat, cfg)
    assert torch.equal(other.flat_parameters(), flat)
    assert repr(model) == ("Siren(in_features=2, hidden_width=16, depth=4, out_features=3, "
                           "w0=10.0, w0_hidden=20.0)")


def test_init_follows_sitzmann_bounds() -> None:
    cfg = SirenConfig()
    params = init_batched_params(4000, cfg, torch.Generator().manual_seed(1))
    weights, biases = unflatten_params(params, cfg)
    for (wb, bb), w, b in zip(init_bounds(cfg), weights, biases, strict=True):
        for x, bound in ((w, wb), (b, bb)):
            assert x.abs().max() <= bound
            assert x.abs().max() > 0.99 * bound
            # U(-a, a) has standard deviation a / sqrt(3)
            assert abs(x.std().item() - bound / math.sqrt(3)) < 0.02 * bound
    assert init_bounds(cfg)[0][0] == 1 / 2
    assert init_bounds(cfg)[1][0] == pytest.approx(math.sqrt(6 / 32) / 30)


def test_module_init_equals_batched_init_for_same_generator() -> None:
    cfg = SirenConfig()
    model = Siren(cfg, generator=torch.Generator().manual_seed(7))
    flat = init_batched_params(1, cfg, torch.Generator().manual_seed(7))[0]
    assert torch.equal(model.flat_parameters(), flat)
    model.reset_parameters(torch.Generator().manual_seed(8))
    assert not torch.equal(model.flat_parameters(), flat)


def test_seeded_init_depends_only_on_seed_and_index() -> None:
    cfg = SirenConfig()
    full = seeded_init_params(3, range(10), cfg)
    assert torch.equal(seeded_init_params(3, [7, 2], cfg), full[[7, 2]])
    assert not torch.equal(seeded_init_params(4, range(10), cfg), full)
    assert len({tuple(row.tolist()) for row in full}) == 10


def test_make_coordinates_matches_row_major_pixels() -> None:
    coords = make_coordinates(3, 4)
    assert coords.shape == (12, 2)
    assert coords[0].tolist() == [-1.0, -1.0]
    assert coords[3].tolist() == [-1.0, 1.0]  # end of first row: x varies fastest
    assert coords[-1].tolist() == [1.0, 1.0]
    assert make_coordinates(1, 1).tolist() == [[0.0, 0.0]]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"d{c.depth}w{c.hidden_width}")
def test_batched_forward_equals_per_inr_module(cfg: SirenConfig) -> None:
    params = init_batched_params(5, cfg, torch.Generator().manual_seed(0), dtype=torch.float64)
    params += 0.05 * torch.randn(params.shape, dtype=torch.float64)  # leave the init manifold
    coords = make_coordinates(6, 5, torch.float64)
    batched = batched_siren_forward(params, coords, cfg)
    per_coords = batched_siren_forward(params, coords.expand(5, -1, -1), cfg)
    grid = grid_siren_forward(params, 6, 5, cfg)
    assert batched.shape == (5, 30, cfg.out_features)
    for b in range(5):
        expected = Siren.from_flat(params[b], cfg)(coords)
        torch.testing.assert_close(batched[b], expected, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(per_coords[b], expected, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(grid[b], expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"d{c.depth}w{c.hidden_width}")
def test_grid_gradient_equals_autograd_of_module(cfg: SirenConfig) -> None:
    params = init_batched_params(3, cfg, torch.Generator().manual_seed(2), dtype=torch.float64)
    params += 0.05 * torch.randn(params.shape, dtype=torch.float64)
    targets = torch.rand(3, 4 * 7, cfg.out_features, dtype=torch.float64)
    mse, grad = grid_siren_mse_and_grad(params, targets, 4, 7, cfg)
    coords = make_coordinates(4, 7, torch.float64)
    for b in range(3):
        model = Siren.from_flat(params[b], cfg)
        loss = (model(coords) - targets[b]).square().mean()
        loss.backward()
        expected = flatten_params([m.weight.grad for m in model.linears],  # type: ignore[misc]
                                  [m.bias.grad for m in model.linears])  # type: ignore[misc]
        torch.testing.assert_close(mse[b], loss.detach(), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(grad[b], expected, rtol=1e-9, atol=1e-11)


def test_batched_forward_rejects_mismatched_coords() -> None:
    cfg = SirenConfig()
    with pytest.raises(ValueError, match="coords"):
        batched_siren_forward(torch.zeros(2, cfg.n_params), torch.zeros(3, 10, 2), cfg)


def test_grid_results_do_not_depend_on_micro_batch() -> None:
    cfg = SirenConfig()
    params = seeded_init_params(0, range(11), cfg)
    targets = torch.rand(11, 6 * 6, 1)
    mse, grad = grid_siren_mse_and_grad(params, targets, 6, 6, cfg, micro_batch=16)
    for micro in (1, 4):
        mse_m, grad_m = grid_siren_mse_and_grad(params, targets, 6, 6, cfg, micro_batch=micro)
        torch.testing.assert_close(mse_m, mse, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(grad_m, grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grid_siren_forward(params, 6, 6, cfg, micro_batch=3),
                               grid_siren_forward(params, 6, 6, cfg), rtol=1e-6, atol=1e-6)
    assert grid_siren_forward(params[:0], 6, 6, cfg).shape == (0, 36, 1)


def test_neuron_values_are_each_layer_of_the_module() -> None:
    cfg = SirenConfig(hidden_width=8, depth=3)
    params = init_batched_params(3, cfg, torch.Generator().manual_seed(4), dtype=torch.float64)
    points = torch.rand(5, 2, dtype=torch.float64) * 2 - 1
    values = siren_neuron_values(params, points, cfg)
    assert values.shape == (3, 2 + 8 + 8 + 1, 5)
    for b in range(3):
        model = Siren.from_flat(params[b], cfg)
        h = points
        expected = [points]
        for k, lin in enumerate(model.linears):
            h = lin(h) if k == len(model.linears) - 1 else torch.sin(cfg.layer_w0()[k] * lin(h))
            expected.append(h)
        torch.testing.assert_close(values[b], torch.cat(expected, dim=1).t(), rtol=1e-12,
                                   atol=1e-12)
        torch.testing.assert_close(values[b, -1], model(points)[:, 0], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="points"):
        siren_neuron_values(params, torch.zeros(5, 3), cfg)
