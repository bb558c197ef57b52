"""Neural-graph conversion: layout, exact round trips, symmetry and batching."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor
from torch_geometric.data import Batch, Data

from zoo.graphs import (
    NeuralGraphSpec,
    batch_population,
    cnn_to_graph,
    edge_index_template,
    flat_from_mlp_params,
    graph_to_cnn,
    graph_to_mlp,
    mlp_params_from_flat,
    mlp_to_graph,
    permute_hidden,
)


def random_mlp(
    sizes: list[int], seed: int = 0, dtype: torch.dtype = torch.float32
) -> tuple[list[Tensor], list[Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    weights = [torch.randn(b, a, generator=gen, dtype=dtype) for a, b in itertools.pairwise(sizes)]
    biases = [torch.randn(b, generator=gen, dtype=dtype) for b in sizes[1:]]
    return weights, biases


def run_mlp(weights: list[Tensor], biases: list[Tensor], x: Tensor) -> Tensor:
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        x = x @ w.T + b
        if i < len(weights) - 1:
            x = torch.sin(30.0 * x) if i == 0 else torch.tanh(x)
    return x


def test_flat_layout_and_round_trip() -> None:
    sizes = [2, 3, 1]
    flat = torch.arange(13, dtype=torch.float32)  # 6 + 3 + 3 + 1
    (w0, w1), (b0, b1) = mlp_params_from_flat(flat, sizes)
    assert torch.equal(w0, torch.tensor([[0.0, 1], [2, 3], [4, 5]]))
    assert torch.equal(b0, torch.tensor([6.0, 7, 8]))
    assert torch.equal(w1, torch.tensor([[9.0, 10, 11]]))
    assert torch.equal(b1, torch.tensor([12.0]))
    assert torch.equal(flat_from_mlp_params([w0, w1], [b0, b1]), flat)
    batch = torch.randn(4, 13)
    weights, biases = mlp_params_from_flat(batch, sizes)
    assert weights[0].shape == (4, 3, 2) and biases[1].shape == (4, 1)
    assert torch.equal(weights[1][2], batch[2, 9:12].view(1, 3))
    assert torch.equal(flat_from_mlp_params(weights, biases), batch)
    with pytest.raises(ValueError, match="do not match"):
        mlp_params_from_flat(torch.zeros(12), sizes)


def test_spec_properties_and_validation() -> None:
    spec = NeuralGraphSpec((2, 32, 32, 1))
    assert spec.num_nodes == 67 and spec.num_edges == 2 * 32 + 32 * 32 + 32
    assert spec.num_params == spec.num_edges + 65 and spec.num_pos_ids == 4
    assert spec.edge_dim == 1 and spec.node_offsets == (0, 2, 34, 66, 67)
    assert NeuralGraphSpec.from_dict(spec.to_dict()) == spec
    cnn = NeuralGraphSpec([1, 4, 5], [(3, 3)])  # type: ignore[arg-type]  # lists coerced
    assert cnn.layer_sizes == (1, 4, 5) and cnn.kernel_grid == (3, 3) and cnn.edge_dim == 9
    assert cnn.num_params == 4 * (9 + 1) + 5 * (4 + 1)
    assert NeuralGraphSpec.from_dict(cnn.to_dict()) == cnn
    for bad in [dict(layer_sizes=(3,)), dict(layer_sizes=(2, 0, 1)),
                dict(layer_sizes=(2, 3), kernel_sizes=((3, 3), (3, 3)))]:
        with pytest.raises(ValueError):
            NeuralGraphSpec(**bad)  # type: ignore[arg-type]


def test_mlp_to_graph_layout() -> None:
    weights, biases = random_mlp([2, 3, 1])
    g = mlp_to_graph(weights, biases, y=7)
    assert g.num_nodes == 6 and g.x.shape == (6, 1) and g.edge_attr.shape == (9, 1)
    assert torch.equal(g.x[:2, 0], torch.zeros(2))
    assert torch.equal(g.x[2:5, 0], biases[0]) and torch.equal(g.x[5:, 0], biases[1])
    assert g.layer.tolist() == [0, 0, 1, 1, 1, 2]
    assert g.pos_id.tolist() == [0, 1, 3, 3, 3, 2]
    assert g.y.tolist() == [7]
    offsets = [0, 2, 5]
    for (src, dst), attr in zip(g.edge_index.T.tolist(), g.edge_attr[:, 0], strict=True):
        layer = int(g.layer[src])
        assert int(g.layer[dst]) == layer + 1
        assert attr == weights[layer][dst - offsets[layer + 1], src - offsets[layer]]
    assert len({tuple(e) for e in g.edge_index.T.tolist()}) == 9
    assert torch.equal(edge_index_template(NeuralGraphSpec((2, 3, 1))), g.edge_index)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5), seed=st.integers(0, 10**6))
def test_graph_round_trip_is_exact(sizes: list[int], seed: int) -> None:
    weights, biases = random_mlp(sizes, seed)
    g = mlp_to_graph(weights, biases)
    shuffle = torch.randperm(g.num_edges, generator=torch.Generator().manual_seed(seed))
    g.edge_index, g.edge_attr = g.edge_index[:, shuffle], g.edge_attr[shuffle]
    back_w, back_b = graph_to_mlp(g, NeuralGraphSpec(tuple(sizes)))
    assert all(torch.equal(a, b) for a, b in zip(back_w, weights, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(back_b, biases, strict=True))


def test_graph_to_mlp_rejects_wrong_spec() -> None:
    g = mlp_to_graph(*random_mlp([2, 3, 1]))
    with pytest.raises(ValueError, match="does not match"):
        graph_to_mlp(g, NeuralGraphSpec((2, 4, 1)))


def hidden_perms(sizes: list[int], seed: int) -> list[Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randperm(d, generator=gen) for d in sizes[1:-1]]


def test_permute_hidden_keeps_the_function() -> None:
    sizes = [2, 16, 8, 3]
    weights, biases = random_mlp(sizes, 1, torch.float64)
    perms = hidden_perms(sizes, 2)
    new_w, new_b = permute_hidden(weights, biases, perms)
    assert not torch.equal(new_w[1], weights[1])
    x = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    torch.testing.assert_close(run_mlp(new_w, new_b, x), run_mlp(weights, biases, x),
                               rtol=0, atol=1e-12)
    # Permuting an input column is a different function.
    swapped = [weights[0][:, [1, 0]], *weights[1:]]
    assert not torch.allclose(run_mlp(swapped, biases, x), run_mlp(weights, biases, x))
    with pytest.raises(ValueError, match="not a permutation"):
        permute_hidden(weights, biases, [torch.zeros(16, dtype=torch.long), perms[1]])


def edge_set(g: Data, relabel: Tensor | None = None) -> set[tuple[int, int, float]]:
    ei = g.edge_index if relabel is None else relabel[g.edge_index]
    return {(s, d, a) for (s, d), a in zip(ei.T.tolist(), g.edge_attr[:, 0].tolist(), strict=True)}


def test_permute_hidden_gives_an_isomorphic_graph() -> None:
    sizes = [2, 5, 4, 1]
    weights, biases = random_mlp(sizes, 3)
    perms = hidden_perms(sizes, 4)
    g, h = mlp_to_graph(weights, biases), mlp_to_graph(*permute_hidden(weights, biases, perms))
    # Node n of h is node sigma[n] of g.
    offsets = NeuralGraphSpec(tuple(sizes)).node_offsets
    sigma = torch.arange(g.num_nodes)
    for layer, p in enumerate(perms, start=1):
        sigma[offsets[layer] : offsets[layer + 1]] = offsets[layer] + p
    assert not torch.equal(sigma, torch.arange(g.num_nodes))
    for key in ("x", "layer", "pos_id"):
        assert torch.equal(h[key], g[key][sigma]), key
    assert edge_set(h, relabel=sigma) == edge_set(g)
    assert edge_set(h) != edge_set(g)  # not trivially identical


def assert_batches_equal(a: Batch, b: Batch) -> None:
    keys = sorted(b.keys())
    assert sorted(a.keys()) == keys
    for key in keys:
        if torch.is_tensor(b[key]):
            assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key
    assert a.num_graphs == b.num_graphs
    for key, slices in b._slice_dict.items():
        assert torch.equal(a._slice_dict[key], slices), key
        assert torch.equal(a._inc_dict[key], b._inc_dict[key]), key


@pytest.mark.parametrize("sizes", [[2, 32, 32, 1], [3, 1], [1, 4, 2, 5, 2]])
def test_batch_population_equals_from_data_list(sizes: list[int]) -> None:
    spec = NeuralGraphSpec(tuple(sizes))
    gen = torch.Generator().manual_seed(5)
    flat = torch.randn(6, spec.num_params, generator=gen)
    y = torch.randint(0, 10, (6,), generator=gen)
    fast = batch_population(flat, spec, y=y)
    slow = Batch.from_data_list([
        mlp_to_graph(*mlp_params_from_flat(row, sizes), y=int(label))
        for row, label in zip(flat, y, strict=True)
    ])
    assert_batches_equal(fast, slow)
    for i, graph in enumerate(fast.to_data_list()):
        weights, biases = graph_to_mlp(graph, spec)
        assert torch.equal(flat_from_mlp_params(weights, biases), flat[i])
    assert_batches_equal(batch_population(flat, spec), Batch.from_data_list(
        [mlp_to_graph(*mlp_params_from_flat(row, sizes)) for row in flat]))


def test_batch_population_validates() -> None:
    spec = NeuralGraphSpec((2, 3, 1))
    with pytest.raises(ValueError, match="flat_params"):
        batch_population(torch.zeros(2, 12), spec)
    with pytest.raises(ValueError, match="rows"):
        batch_population(torch.zeros(2, 13), spec, y=torch.zeros(3))
    with pytest.raises(ValueError, match="MLP"):
        batch_population(torch.zeros(2, 13), NeuralGraphSpec((2, 3, 1), ((3, 3),)))


def random_cnn(seed: int = 0) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    conv_w = [torch.randn(4, 3, 3, 3, generator=gen), torch.randn(5, 4, 5, 5, generator=gen),
              torch.randn(6, 5, 1, 3, generator=gen)]
    conv_b = [torch.randn(c, generator=gen) for c in (4, 5, 6)]
    lin_w = [torch.randn(7, 6, generator=gen), torch.randn(2, 7, generator=gen)]
    lin_b = [torch.randn(7, generator=gen), torch.randn(2, generator=gen)]
    return conv_w, conv_b, lin_w, lin_b


def test_cnn_to_graph_shapes_padding_and_round_trip() -> None:
    conv_w, conv_b, lin_w, lin_b = random_cnn()
    g = cnn_to_graph(conv_w, conv_b, lin_w, lin_b, y=3)
    spec = NeuralGraphSpec((3, 4, 5, 6, 7, 2), ((3, 3), (5, 5), (1, 3)))
    assert g.num_nodes == 27 and g.x.shape == (27, 1)
    assert g.edge_attr.shape == (3 * 4 + 4 * 5 + 5 * 6 + 6 * 7 + 7 * 2, 25)
    assert g.pos_id.tolist() == [0, 1, 2] + [5] * 22 + [3, 4]
    # A 3x3 kernel sits in the centre of the 5x5 grid, zero elsewhere.
    first = g.edge_attr[0].view(5, 5)  # edge: input channel 0 -> out channel 0
    assert torch.equal(first[1:4, 1:4], conv_w[0][0, 0]) and first.abs().sum() == first[
        1:4, 1:4].abs().sum()
    # A 1x3 kernel: middle row, centred columns.
    one_by_three = g.edge_attr[12 + 20].view(5, 5)
    assert torch.equal(one_by_three[2, 1:4], conv_w[2][0, 0, 0])
    assert one_by_three.abs().sum() == one_by_three[2, 1:4].abs().sum()
    # A linear weight sits at the centre slot, the rest zero.
    lin_edge = g.edge_attr[12 + 20 + 30]
    assert lin_edge[12] == lin_w[0][0, 0] and lin_edge.abs().sum() == lin_edge[12].abs()
    back = graph_to_cnn(g, spec)
    for got, want in zip(back, (conv_w, conv_b, lin_w, lin_b), strict=True):
        assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))
    with pytest.raises(ValueError, match="MLP"):
        graph_to_cnn(g, NeuralGraphSpec(spec.layer_sizes))
    with pytest.raises(ValueError, match="CNN"):
        graph_to_mlp(g, spec)


def test_cnn_without_linear_layers_and_bad_shapes() -> None:
    conv_w, conv_b, _, _ = random_cnn(1)
    g = cnn_to_graph(conv_w[:1], conv_b[:1], [], [])
    assert g.num_nodes == 7 and g.edge_attr.shape == (12, 9)
    with pytest.raises(ValueError, match="fan-in"):
        cnn_to_graph(conv_w, conv_b, [torch.zeros(7, 5)], [torch.zeros(7)])
