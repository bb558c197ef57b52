"""NG-T relational transformer: symmetry, batch forms, the factorised attention against the
per-pair formulas, training signal, config and representation hooks."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch

from tests.zoo.test_gmn import SIREN, output_bias_losses, permuted_population, siren_population
from zoo.graphs import batch_population, flat_from_mlp_params, mlp_params_from_flat, mlp_to_graph
from zoo.models.ngt import NGTConfig, RelationalAttention, RelationalTransformer, RTEdgeUpdate

#: The reference defaults, then every switch flipped (mean pooling, no LN, additive
#: values, reverse-edge features, no edge updates) on a narrower model.
VARIANTS: dict[str, dict[str, Any]] = {
    "reference": {},
    "switches": {"rev_edge_features": True, "modulate_v": False, "use_ln": False,
                 "pooling": "mean", "readout_layers": 2, "d_node": 32, "n_heads": 4},
    "no_edge_updates": {"edge_updates": False, "n_layers": 2},
}


def make_ngt(seed: int = 0, **overrides: Any) -> RelationalTransformer:
    torch.manual_seed(seed)
    return RelationalTransformer(NGTConfig.from_spec(SIREN, num_classes=10, **overrides)).eval()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_invariant_to_hidden_permutations(name: str) -> None:
    model = make_ngt(**VARIANTS[name]).double()
    flat = siren_population(4, seed=1).double()
    permuted = permuted_population(flat, seed=2)
    assert not torch.allclose(flat, permuted)
    with torch.no_grad():
        out = model(batch_population(flat, SIREN))
        out_perm = model(batch_population(permuted, SIREN))
    assert out.shape == (4, 10)
    torch.testing.assert_close(out_perm, out, rtol=0, atol=1e-10)
    assert (out[0] - out[1]).abs().max() > 1e-4  # different networks, different outputs


@pytest.mark.parametrize("name", ["reference", "switches"])
def test_swapping_input_neurons_changes_the_output(name: str) -> None:
    model = make_ngt(**VARIANTS[name]).double()
    flat = siren_population(3, seed=3).double()
    swapped = []
    for row in flat:
        weights, biases = mlp_params_from_flat(row, SIREN.layer_sizes)
        swapped.append(flat_from_mlp_params([weights[0][:, [1, 0]], *weights[1:]], biases))
    with torch.no_grad():
        out = model(batch_population(flat, SIREN))
        out_swapped = model(batch_population(torch.stack(swapped), SIREN))
    assert (out - out_swapped).abs().amax(dim=1).min() > 1e-6


def test_batch_forms_agree_and_a_single_graph_matches_its_row() -> None:
    flat = siren_population(3, seed=4)
    graphs = [mlp_to_graph(*mlp_params_from_flat(row, SIREN.layer_sizes)) for row in flat]
    model = make_ngt(seed=5)
    with torch.no_grad():
        fast = model(batch_population(flat, SIREN))
        slow = model(Batch.from_data_list(graphs))
        single = model(graphs[1])
        again = make_ngt(seed=5)(batch_population(flat, SIREN))
        model.chunk_size = 2  # chunks of 2 and 1 graphs
        chunked = model(batch_population(flat, SIREN))
    assert torch.equal(fast, slow) and torch.equal(fast, again)
    torch.testing.assert_close(single[0], fast[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(chunked, fast, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="whole graphs"):
        model(mlp_to_graph([torch.randn(4, 2), torch.randn(1, 4)], [torch.randn(4),
                                                                     torch.randn(1)]))


def test_dense_graph_layout() -> None:
    """Edge ``i -> j`` sits at ``[i, j]``; reverse features put ``w`` at ``[j, i]`` too."""
    flat = siren_population(2, seed=6)
    weights, _ = mlp_params_from_flat(flat[1], SIREN.layer_sizes)
    model = make_ngt(rev_edge_features=True)
    x, raw, mask = model.to_dense(batch_population(flat, SIREN))
    assert x.shape == (2, 67, 1) and raw.shape == (2, 67, 67, 3) and mask.shape == (2, 67, 67)
    block = raw[1, 2:34, 34:66]  # hidden layer 1 -> hidden layer 2: W_1 (32, 32) transposed
    torch.testing.assert_close(block[..., 0], weights[1].T)
    torch.testing.assert_close(raw[1, 34:66, 2:34, 1], weights[1])
    torch.testing.assert_close(block[..., 2], weights[1].T)
    assert int(mask[0].sum()) == 2 * SIREN.num_edges and torch.equal(mask, mask.transpose(1, 2))
    assert int(make_ngt().to_dense(batch_population(flat, SIREN))[2][0].sum()) == SIREN.num_edges


def naive_attention(attn: RelationalAttention, h: Tensor, e: Tensor) -> Tensor:
    """The reference's per-pair formulation: q_ij, k_ij, v_ij materialised."""
    g, n, _ = h.shape
    nh, dh = attn.n_heads, attn.d_hid // attn.n_heads

    def heads(t: Tensor) -> Tensor:  # (..., H * dh) -> (..., H, dh)
        return t.view(*t.shape[:-1], nh, dh)

    q, k, v = (heads(t) for t in attn.lin_qkv(h).chunk(3, dim=-1))  # (G, N, H, dh)
    parts = [heads(t) for t in (e @ attn.lin_edge.weight.T).chunk(attn.lin_edge.out_features
                                                                   // attn.d_hid, dim=-1)]
    q_ij = q.unsqueeze(2) + parts[1]
    k_ij = k.unsqueeze(1) + parts[2]
    v_ij = (v.unsqueeze(1) * parts[3] if attn.modulate_v else v.unsqueeze(1)) + parts[0]
    alpha = torch.softmax(attn.scale * (q_ij * k_ij).sum(-1), dim=2)  # (G, N, N, H)
    out = (alpha.unsqueeze(-1) * v_ij).sum(2).reshape(g, n, -1)
    result: Tensor = attn.lin_out(out)
    return result


@pytest.mark.parametrize("modulate_v", [True, False])
def test_factorised_attention_matches_the_per_pair_formulas(modulate_v: bool) -> None:
    torch.manual_seed(0)
    attn = RelationalAttention(6, 5, 8, 2, modulate_v).double()
    h = torch.randn(3, 7, 6, dtype=torch.float64, requires_grad=True)
    e = torch.randn(3, 7, 7, 5, dtype=torch.float64, requires_grad=True)
    got, want = attn(h, e), naive_attention(attn, h, e)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    inputs = [h, e, *attn.parameters()]
    for a, b in zip(torch.autograd.grad(got.sin().sum(), inputs),
                    torch.autograd.grad(want.sin().sum(), inputs), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_edge_update_matches_the_concatenated_formula() -> None:
    torch.manual_seed(1)
    update = RTEdgeUpdate(d_node=4, d_edge=3, d_hid=5, dropout=0.0).double()
    h = torch.randn(2, 6, 4, dtype=torch.float64)
    e = torch.randn(2, 6, 6, 3, dtype=torch.float64)
    pair = torch.cat([e, e.transpose(1, 2)], dim=-1)
    z = update.lin_pair(pair) + update.lin_src(h).unsqueeze(2) + update.lin_dst(h).unsqueeze(1)
    mid = update.norm0(e + update.lin_pair_out(nn.functional.gelu(z)))
    torch.testing.assert_close(update(h, e), update.norm1(mid + update.mlp(mid)))


def test_every_parameter_gets_a_gradient() -> None:
    model = make_ngt(dropout=0.2).train()
    batch = batch_population(siren_population(3, seed=8), SIREN)
    model(batch).square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_training_signal_separates_output_biases() -> None:
    """20 Adam steps separate SIRENs by the sign of their output bias (a narrow model)."""
    model = make_ngt(d_node=16, d_edge=8, d_attn_hid=16, n_heads=2, d_node_hid=32,
                     d_edge_hid=16, d_out_hid=32, n_layers=2, rff_freqs=32).train()
    losses = output_bias_losses(model, lr=3e-3, steps=20)
    assert losses[-1] < 0.5 * losses[0]


def test_config_round_trip_and_bad_values() -> None:
    config = NGTConfig.from_spec(SIREN, num_classes=10)
    assert config.layer_sizes == (2, 32, 32, 1) and config.num_nodes == 67
    assert (config.d_node, config.d_edge, config.n_layers, config.n_heads) == (64, 32, 4, 8)
    assert (config.rff_freqs, config.rff_sigma, config.pooling) == (128, 1.0, "cat")
    assert NGTConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["layer_sizes"] == [2, 32, 32, 1]
    assert config.replace(d_node=8).d_node == 8
    with pytest.raises(ValueError, match="unknown"):
        NGTConfig.from_dict({**config.to_dict(), "colour": 1})
    bad_changes: list[dict[str, Any]] = [
        {"n_heads": 3}, {"dropout": 1.0}, {"pooling": "max"}, {"d_node": 0},
        {"layer_sizes": (2,)}, {"rff_sigma": 0.0}, {"readout_layers": -1}, {"n_layers": 0}]
    for bad in bad_changes:
        with pytest.raises(ValueError):
            config.replace(**bad)
    model = RelationalTransformer(config)
    assert "d_node=64" in repr(model) and "n_layers=4" in repr(model)
    # positions: 2 inputs, one per hidden layer, 1 output
    assert model.pos_embedding.num_embeddings == 5
    assert model.pos_index.tolist() == [0, 1] + [2] * 32 + [3] * 32 + [4]
    assert model.layers[-1].edge_update is None and model.layers[0].edge_update is not None
    before = model.head.weight.clone(), model.layers[0].attn.lin_edge.weight.clone()
    freqs = model.edge_fourier.freqs.clone()
    model.reset_parameters()
    assert not torch.equal(before[0], model.head.weight)
    assert not torch.equal(before[1], model.layers[0].attn.lin_edge.weight)
    assert torch.equal(freqs, model.edge_fourier.freqs)


def test_representation_layer_hooks() -> None:
    model = make_ngt(readout_layers=2)
    names = model.representation_layers()
    assert names == ["pooled.0", "pooled.1", "pooled.2", "pooled.3", "readout.0", "readout.1",
                     "head"]
    modules = dict(model.named_modules())
    seen: dict[str, Tensor] = {}
    handles = [modules[name].register_forward_hook(
        lambda _m, _i, out, name=name: seen.__setitem__(name, out)) for name in names]
    with torch.no_grad():
        logits = model(batch_population(siren_population(5), SIREN))
    for handle in handles:
        handle.remove()
    assert list(seen) == names
    widths = [64] * 4 + [128, 128, 10]
    for name, width in zip(names, widths, strict=True):
        assert seen[name].shape == (5, width), name
    assert torch.equal(seen["head"], logits)
    assert not torch.allclose(seen["pooled.0"], seen["pooled.3"])


def test_checkpointing_gives_the_same_gradients() -> None:
    torch.manual_seed(3)
    config = NGTConfig.from_spec(SIREN, num_classes=3, d_node=16, d_edge=8, d_attn_hid=16,
                                 n_heads=2, n_layers=2, rff_freqs=16)
    plain = RelationalTransformer(config, chunk_size=2).double()
    saved = RelationalTransformer(config, chunk_size=2, checkpoint=True).double()
    saved.load_state_dict(plain.state_dict())
    batch = batch_population(siren_population(3, seed=9).double(), SIREN)
    grads = []
    for model in (plain, saved):
        model(batch).square().sum().backward()
        grads.append([p.grad for p in model.parameters()])
    for a, b in zip(*grads, strict=True):
        assert a is not None and b is not None
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="chunk_size"):
        RelationalTransformer(config, chunk_size=0)
