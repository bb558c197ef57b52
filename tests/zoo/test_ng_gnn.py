"""NG-GNN ingredients of the GMN: Fourier features, edge updates, reverse-edge features,
receiver messages, output-neuron readout; each keeps the hidden-permutation symmetry."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch

from tests.zoo.test_gmn import (
    SIREN,
    make_gmn,
    output_bias_losses,
    permuted_population,
    siren_population,
)
from zoo.graphs import batch_population, mlp_params_from_flat, mlp_to_graph
from zoo.kinds import NG_GNN
from zoo.models._edge_update import EdgeUpdate
from zoo.models._fourier import GaussianFourierEmbedding
from zoo.models.gmn import GMNConfig, GraphMetanetwork

#: One configuration per ingredient on top of the old default, then the full NG-GNN.
INGREDIENTS: dict[str, dict[str, Any]] = {
    "rff": {"rff_freqs": 16},
    "receiver": {"receiver": True},
    "edge_updates": {"edge_hidden": 8, "edge_updates": True},
    "transpose": {"reverse_features": "transpose"},
    "output_readout": {"readout": "output", "readout_layers": 2},
    "silu_no_residual": {"activation": "silu", "residual": False},
    "ng_gnn": dict(NG_GNN, dropout=0.0),
    "ng_gnn_reference": dict(NG_GNN, dropout=0.0, residual=False),
}


@pytest.mark.parametrize("name", sorted(INGREDIENTS))
def test_every_ingredient_is_invariant_to_hidden_permutations(name: str) -> None:
    model = make_gmn(**INGREDIENTS[name]).double()
    flat = siren_population(4, seed=11).double()
    permuted = permuted_population(flat, seed=12)
    with torch.no_grad():
        out = model(batch_population(flat, SIREN))
        out_perm = model(batch_population(permuted, SIREN))
    torch.testing.assert_close(out_perm, out, rtol=0, atol=1e-10)
    assert (out[0] - out[1]).abs().max() > 1e-6  # different networks, different outputs


@pytest.mark.parametrize("name", ["transpose", "ng_gnn"])
def test_swapping_input_neurons_changes_the_output(name: str) -> None:
    model = make_gmn(**INGREDIENTS[name]).double()
    flat = siren_population(2, seed=13).double()
    weights, biases = mlp_params_from_flat(flat[0], SIREN.layer_sizes)
    swapped = torch.cat([torch.cat([weights[0][:, [1, 0]].reshape(-1), biases[0]]),
                         flat[0, 3 * 32:]]).unsqueeze(0)
    with torch.no_grad():
        a = model(batch_population(flat[:1], SIREN))
        b = model(batch_population(swapped, SIREN))
    assert (a - b).abs().max() > 1e-6


def test_reverse_edges_tell_directions_apart() -> None:
    """With transposed features an edge and its reverse are embedded differently, so a
    network and its 'mirror' (every edge flipped) are not confused."""
    model = make_gmn(**INGREDIENTS["ng_gnn"]).double()
    edge = torch.tensor([[0.7]], dtype=torch.float64)
    embedded, index = model._edge_inputs(edge, torch.tensor([[0], [1]]))
    assert index.tolist() == [[0, 1], [1, 0]] and embedded.shape == (2, 32)
    assert not torch.allclose(embedded[0], embedded[1])


def test_batch_forms_agree_for_the_output_readout() -> None:
    flat = siren_population(3, seed=14)
    graphs = [mlp_to_graph(*mlp_params_from_flat(row, SIREN.layer_sizes)) for row in flat]
    model = make_gmn(seed=2, **INGREDIENTS["ng_gnn"])
    with torch.no_grad():
        fast = model(batch_population(flat, SIREN))
        slow = model(Batch.from_data_list(graphs))
        single = model(graphs[2])
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(single[0], fast[2], rtol=1e-5, atol=1e-6)


def test_fourier_features_match_the_float64_formula_and_survive_a_checkpoint() -> None:
    torch.manual_seed(0)
    emb = GaussianFourierEmbedding(3, 5, sigma=3.0).double()
    x = torch.randn(7, 3, dtype=torch.float64)
    b = emb.freqs
    expected = torch.cat([torch.cos(2 * math.pi * x @ b.t()), torch.sin(2 * math.pi * x @ b.t())],
                         dim=1)
    torch.testing.assert_close(emb(x), expected, rtol=0, atol=1e-12)
    assert 2.0 < float(b.std()) < 4.0  # sigma = 3
    model = make_gmn(seed=3, **INGREDIENTS["ng_gnn"])
    clone = make_gmn(seed=4, **INGREDIENTS["ng_gnn"])
    assert model.node_fourier is not None and clone.node_fourier is not None
    assert not torch.equal(model.node_fourier.freqs, clone.node_fourier.freqs)
    clone.load_state_dict(model.state_dict())
    batch = batch_population(siren_population(2, seed=5), SIREN)
    with torch.no_grad():
        assert torch.equal(model(batch), clone(batch))


def test_edge_update_matches_a_per_edge_loop() -> None:
    torch.manual_seed(1)
    update = EdgeUpdate(edge_dim=4, node_dim=3, activation=nn.SiLU()).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    edges = torch.randn(6, 4, dtype=torch.float64)
    src, dst = torch.tensor([0, 1, 2, 3, 4, 0]), torch.tensor([1, 2, 3, 4, 0, 2])
    out = update(x, edges, src, dst)
    for k in range(6):
        pre = (update.lin_edge(edges[k]) + update.lin_src.weight @ x[src[k]]
               + update.lin_dst.weight @ x[dst[k]])
        torch.testing.assert_close(out[k], update.lin_out(nn.functional.silu(pre)))


def test_ng_gnn_training_signal_reaches_every_parameter() -> None:
    model = make_gmn(**INGREDIENTS["ng_gnn"]).train()
    losses = output_bias_losses(model, lr=3e-3, steps=20)
    assert losses[-1] < 0.5 * losses[0]
    for name, p in model.named_parameters():  # every ingredient takes part
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_old_configs_rebuild_the_old_model() -> None:
    """A stored arch from before these options (no new keys) builds the model it was
    trained as: same parameter names and shapes as the old default."""
    old = GMNConfig.from_spec(SIREN, num_classes=10).to_dict()
    for key in ("receiver", "activation", "residual", "rff_freqs", "rff_sigma", "edge_hidden",
                "edge_updates", "reverse_features", "num_outputs"):
        old.pop(key)
    model = GraphMetanetwork(GMNConfig.from_dict(old))
    names = {k for k, _ in model.named_parameters()}
    assert not any("edge_updates" in k or "lin_dst" in k or "edge_encoder" in k for k in names)
    assert model.node_encoder.in_features == 17 and model.readout_pool is not None


def test_bad_ingredient_settings_are_refused() -> None:
    config = GMNConfig.from_spec(SIREN, num_classes=10)
    for bad in ({"activation": "tanh"}, {"reverse_features": "mirror"}, {"rff_freqs": -1},
                {"rff_sigma": 0.0}, {"edge_updates": True}, {"readout": "first"}):
        with pytest.raises(ValueError):
            config.replace(**bad)


def test_fused_fourier_linear_equals_the_plain_composition(backend: str) -> None:
    """``linear`` (one sin+cos pass, split weight) gives ``layer(embedding(x))``, with the
    compiled kernels and with torch operators; gradients reach the layer alike."""
    torch.manual_seed(2)
    emb = GaussianFourierEmbedding(3, 128, sigma=3.0)
    layer = nn.Linear(256, 32)
    x = torch.randn(500, 3)
    fused = emb.linear(x, layer)
    plain = layer(emb(x))
    torch.testing.assert_close(fused, plain, rtol=1e-4, atol=2e-5)
    (g_fused,) = torch.autograd.grad(fused.square().sum(), layer.weight)
    (g_plain,) = torch.autograd.grad(plain.square().sum(), layer.weight)
    torch.testing.assert_close(g_fused, g_plain, rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="features"):
        emb.linear(x, nn.Linear(10, 2))
