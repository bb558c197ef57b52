"""The flat MLP / SIREN parameter layout has one owner (zoo.models._layout)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo.graphs import NeuralGraphSpec, batch_population, mlp_to_graph
from zoo.inputs import normalise_weights, weight_stats
from zoo.models._layout import LayerSlice, join_flat, mlp_layout, mlp_param_count, split_flat
from zoo.models.siren import Siren, SirenConfig


def test_slices_tile_the_flat_vector_weight_then_bias() -> None:
    layout = mlp_layout((2, 4, 3, 1))
    assert layout == (LayerSlice(slice(0, 8), slice(8, 12), (4, 2)),
                      LayerSlice(slice(12, 24), slice(24, 27), (3, 4)),
                      LayerSlice(slice(27, 30), slice(30, 31), (1, 3)))
    assert mlp_param_count((2, 4, 3, 1)) == 31
    with pytest.raises(ValueError, match="positive layer sizes"):
        mlp_layout((3,))


def test_siren_and_neural_graph_read_the_same_layout() -> None:
    config = SirenConfig(hidden_width=5, depth=4, out_features=2)
    spec = NeuralGraphSpec(config.layer_sizes)
    assert config.param_slices() == spec.param_slices() == mlp_layout((2, 5, 5, 5, 2))
    assert config.n_params == spec.num_params == config.param_slices()[-1].bias.stop
    assert config.layer_shapes() == [(5, 2), (5, 5), (5, 5), (2, 5)]


def test_module_parameters_sit_where_the_slices_say() -> None:
    config = SirenConfig(hidden_width=6, depth=3)
    model = Siren(config, torch.Generator().manual_seed(0))
    flat = model.flat_parameters()
    for sl, layer in zip(config.param_slices(), model.linears, strict=True):
        assert torch.equal(flat[sl.weight].reshape(sl.shape), layer.weight.detach())
        assert torch.equal(flat[sl.bias], layer.bias.detach())
    weights, biases = split_flat(flat.unsqueeze(0).repeat(3, 1), config.layer_sizes)
    assert [tuple(w.shape) for w in weights] == [(3, *sl.shape) for sl in config.param_slices()]
    assert torch.equal(join_flat(weights, biases)[1], flat)


def test_graph_nodes_and_edges_follow_the_slices() -> None:
    config = SirenConfig(hidden_width=4, depth=3)
    flat = torch.randn(2, config.n_params, generator=torch.Generator().manual_seed(1))
    spec = NeuralGraphSpec(config.layer_sizes)
    batch = batch_population(flat, spec)
    slices = config.param_slices()
    weights = [flat[1, sl.weight].reshape(sl.shape) for sl in slices]
    one = mlp_to_graph(weights, [flat[1, sl.bias] for sl in slices])
    n = spec.num_nodes
    assert torch.equal(batch.x[n:, 0], one.x[:, 0])
    assert torch.equal(batch.edge_attr[spec.num_edges:], one.edge_attr)


def test_weight_stats_are_per_layer_and_type() -> None:
    arch = {"hidden_width": 3, "depth": 2}
    params = np.random.default_rng(0).normal(size=(5, SirenConfig(**arch).n_params))
    stats = weight_stats(params, arch)
    for sl, (wm, _, bm, _) in zip(SirenConfig(**arch).param_slices(), stats, strict=True):
        assert wm == pytest.approx(params[:, sl.weight].mean())
        assert bm == pytest.approx(params[:, sl.bias].mean())
    normed = normalise_weights(params, arch, stats)
    for sl in SirenConfig(**arch).param_slices():
        assert abs(float(normed[:, sl.weight].mean())) < 1e-6
