"""Graph metanetwork: symmetry, representation hooks, the PNA layer, training signal."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch
from torch_geometric.utils import scatter

from zoo.graphs import (
    NeuralGraphSpec,
    batch_population,
    cnn_to_graph,
    flat_from_mlp_params,
    mlp_params_from_flat,
    mlp_to_graph,
    permute_hidden,
)
from zoo.models._pna import DegreeBuckets, _AddEdgeTerm, _BlockStats, _transpose_matmul
from zoo.models.gmn import GMNConfig, GraphMetanetwork, PNALayer

SIREN = NeuralGraphSpec((2, 32, 32, 1))


def siren_population(n: int, seed: int = 0) -> Tensor:
    """Randomly initialised SIREN-shaped MLPs ``(n, P)`` (SIREN init bounds)."""
    gen = torch.Generator().manual_seed(seed)
    sizes, parts = SIREN.layer_sizes, []
    for i, (d_in, d_out) in enumerate(itertools.pairwise(sizes)):
        bound = 1.0 / d_in if i == 0 else math.sqrt(6.0 / d_in) / 30.0
        parts.append((torch.rand(n, d_out * d_in + d_out, generator=gen) * 2 - 1) * bound)
    return torch.cat(parts, dim=1)


def make_gmn(seed: int = 0, **overrides: object) -> GraphMetanetwork:
    torch.manual_seed(seed)
    return GraphMetanetwork(GMNConfig.from_spec(SIREN, num_classes=10, **overrides)).eval()


def permuted_population(flat: Tensor, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for row in flat:
        weights, biases = mlp_params_from_flat(row, SIREN.layer_sizes)
        perms = [torch.randperm(d, generator=gen) for d in SIREN.layer_sizes[1:-1]]
        rows.append(flat_from_mlp_params(*permute_hidden(weights, biases, perms)))
    return torch.stack(rows)


def test_invariant_to_hidden_permutations() -> None:
    model = make_gmn().double()
    flat = siren_population(4).double()
    permuted = permuted_population(flat, seed=1)
    assert not torch.allclose(flat, permuted)
    with torch.no_grad():
        out = model(batch_population(flat, SIREN))
        out_perm = model(batch_population(permuted, SIREN))
    assert out.shape == (4, 10)
    torch.testing.assert_close(out_perm, out, rtol=0, atol=1e-10)
    assert (out[0] - out[1]).abs().max() > 1e-4  # different networks, different outputs
    model32 = make_gmn()
    with torch.no_grad():
        torch.testing.assert_close(model32(batch_population(permuted.float(), SIREN)),
                                   model32(batch_population(flat.float(), SIREN)),
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_input_permutation_changes_the_output(bidirectional: bool) -> None:
    model = make_gmn(bidirectional=bidirectional).double()
    flat = siren_population(3, seed=2).double()
    swapped = []
    for row in flat:
        weights, biases = mlp_params_from_flat(row, SIREN.layer_sizes)
        swapped.append(flat_from_mlp_params([weights[0][:, [1, 0]], *weights[1:]], biases))
    with torch.no_grad():
        out = model(batch_population(flat, SIREN))
        out_swapped = model(batch_population(torch.stack(swapped), SIREN))
    assert (out - out_swapped).abs().amax(dim=1).min() > 1e-6


def test_batch_forms_agree_and_forward_is_deterministic() -> None:
    flat = siren_population(3, seed=3)
    graphs = [mlp_to_graph(*mlp_params_from_flat(row, SIREN.layer_sizes)) for row in flat]
    model = make_gmn(seed=5)
    with torch.no_grad():
        fast = model(batch_population(flat, SIREN))
        slow = model(Batch.from_data_list(graphs))
        single = model(graphs[1])
        again = make_gmn(seed=5)(batch_population(flat, SIREN))
    assert torch.equal(fast, slow) and torch.equal(fast, again)
    torch.testing.assert_close(single[0], fast[1], rtol=1e-5, atol=1e-6)


def test_representation_layer_hooks() -> None:
    model = make_gmn(readout_layers=2)
    names = model.representation_layers()
    assert names == ["pooled.0", "pooled.1", "pooled.2", "readout.0", "readout.1", "head"]
    modules = dict(model.named_modules())
    seen: dict[str, Tensor] = {}
    handles = [modules[name].register_forward_hook(
        lambda _m, _i, out, name=name: seen.__setitem__(name, out)) for name in names]
    with torch.no_grad():
        logits = model(batch_population(siren_population(5), SIREN))
    for handle in handles:
        handle.remove()
    assert list(seen) == names
    for name in names[:-1]:
        assert seen[name].shape == (5, 64), name
    assert torch.equal(seen["head"], logits)
    assert not torch.allclose(seen["pooled.0"], seen["pooled.2"])


def reference_pna(layer: PNALayer, x: Tensor, edge_index: Tensor, eps: Tensor) -> Tensor:
    """Plain scatter implementation of the PNALayer equations, any edge order."""
    src, dst = edge_index
    n = x.shape[0]
    msg = layer.lin_src(x)[src]
    if layer.lin_gate is not None:
        msg = msg * (1 + eps @ layer.lin_gate.weight.T)
    msg = msg + eps @ layer.lin_edge.weight.T
    deg = torch.bincount(dst, minlength=n).to(x.dtype).unsqueeze(1)
    mean = scatter(msg, dst, 0, n, "mean")
    aggs = {"mean": mean, "sum": scatter(msg, dst, 0, n, "sum"),
            "min": scatter(msg, dst, 0, n, "min"), "max": scatter(msg, dst, 0, n, "max"),
            "std": torch.sqrt(torch.relu(scatter(msg * msg, dst, 0, n, "mean") - mean**2)
                              + 1e-5) * (deg > 0)}
    agg = torch.cat([aggs[a] for a in layer.aggregators], dim=1)
    d = deg.clamp(min=1)
    scales = {"identity": torch.ones_like(d), "amplification": torch.log(d + 1) / layer.avg_log,
              "attenuation": layer.avg_log / torch.log(d + 1), "linear": d / layer.avg_lin,
              "inverse_linear": layer.avg_lin / d}
    out: Tensor = layer.lin_out(torch.cat([x] + [agg * scales[s] for s in layer.scalers], 1))
    return out


@pytest.mark.parametrize("edge_gate", [False, True])
def test_pna_layer_matches_reference(edge_gate: bool) -> None:
    torch.manual_seed(0)
    n, e = 12, 40
    edge_index = torch.randint(0, n, (2, e))
    edge_index[1, edge_index[1] == 11] = 0  # node 11 receives nothing
    x, eps = torch.randn(n, 8, dtype=torch.float64), torch.randn(e, 3, dtype=torch.float64)
    hist = tuple(torch.bincount(torch.bincount(edge_index[1], minlength=n)).tolist())
    layer = PNALayer(8, 3, ("mean", "min", "max", "std", "sum"),
                     ("identity", "amplification", "attenuation", "linear", "inverse_linear"),
                     hist, edge_gate).double()
    buckets = DegreeBuckets.from_edge_index(edge_index, n)
    assert buckets.sizes[0] == (0, int((buckets.deg == 0).sum())) and len(buckets.sizes) > 2
    x.requires_grad_(True)
    eps.requires_grad_(True)
    got = layer(x, eps[buckets.perm], buckets)
    want = reference_pna(layer, x, edge_index, eps)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    with torch.no_grad():  # the inference path uses other kernels
        torch.testing.assert_close(layer(x, eps[buckets.perm], buckets), want,
                                   rtol=1e-10, atol=1e-10)
    inputs = [x, eps, *layer.parameters()]
    grads_got = torch.autograd.grad(got.square().sum(), inputs)
    grads_want = torch.autograd.grad(want.square().sum(), inputs)
    for g_got, g_want in zip(grads_got, grads_want, strict=True):
        torch.testing.assert_close(g_got, g_want, rtol=1e-8, atol=1e-8)
    assert "aggregators=['mean', 'min', 'max', 'std', 'sum']" in repr(layer)


def test_custom_gradients_match_autograd_including_ties() -> None:
    gen = torch.Generator().manual_seed(3)
    block = torch.randn(5, 4, 3, dtype=torch.float64, generator=gen)
    block[0, 1] = block[0, 3] = block[0].amax(0) + 1  # ties for the max of node 0
    block[1, 0] = block[1, 2] = block[1].amin(0) - 1  # ties for the min of node 1
    block.requires_grad_(True)
    weights = [torch.randn(5, 3, dtype=torch.float64, generator=gen) for _ in range(4)]
    stats = _BlockStats.apply(block, True, True, True)
    # Ties: the gradient goes to the first extreme, as with torch.max(x, dim).
    ref = (block.sum(1), block.min(1).values, block.max(1).values, (block * block).sum(1))
    loss = torch.stack([(w * s).sum() for w, s in zip(weights, stats, strict=True)]).sum()
    ref_loss = torch.stack([(w * s).sum() for w, s in zip(weights, ref, strict=True)]).sum()
    (g,) = torch.autograd.grad(loss, block)
    (g_ref,) = torch.autograd.grad(ref_loss, block)
    torch.testing.assert_close(g, g_ref, rtol=1e-12, atol=1e-12)
    msg = torch.randn(7, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    attr = torch.randn(7, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    weight = torch.randn(4, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda m, a, w: _AddEdgeTerm.apply(m * 1.0, a, w), (msg, attr, weight))
    a, b = torch.randn(10, 4, dtype=torch.float64), torch.randn(10, 3, dtype=torch.float64)
    for chunk in (1, 4, 10, 16):  # exact chunks, a remainder, one chunk, no full chunk
        torch.testing.assert_close(_transpose_matmul(a, b, chunk), a.T @ b)


def output_bias_losses(model: nn.Module, lr: float, steps: int) -> list[float]:
    """Losses of ``steps`` Adam steps on a toy task: classify 32 SIRENs by the sign of their
    output bias. After the first backward pass every parameter must have a finite gradient."""
    flat = siren_population(32, seed=7)
    labels = torch.arange(32) % 2
    flat[:, -1] = (labels.float() * 2 - 1) * 0.5
    batch = batch_population(flat, SIREN, y=labels)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(batch), batch.y)
        loss.backward()
        if step == 0:
            for name, p in model.named_parameters():
                assert p.grad is not None and torch.isfinite(p.grad).all(), name
        opt.step()
        losses.append(loss.item())
    return losses


def test_training_signal_reaches_every_parameter() -> None:
    """A few Adam steps separate SIRENs by the sign of their output bias."""
    losses = output_bias_losses(make_gmn(hidden=16, num_layers=2, bidirectional=False).train(),
                                lr=1e-2, steps=15)
    assert losses[-1] < 0.5 * losses[0]


def test_config_and_module_conveniences() -> None:
    config = GMNConfig.from_spec(SIREN, num_classes=10)
    assert config.num_pos_ids == 4 and config.num_layer_ids == 4 and config.edge_dim == 1
    # Bidirectional in-degrees: inputs 32, hidden 2 + 32 and 32 + 1, output 32.
    assert config.deg_histogram[32:] == (3, 32, 32) and sum(config.deg_histogram) == 67
    assert GMNConfig.from_dict(config.to_dict()) == config
    assert config.replace(hidden=8).hidden == 8
    with pytest.raises(ValueError, match="unknown"):
        GMNConfig.from_dict({**config.to_dict(), "colour": 1})
    bad_changes: list[dict[str, Any]] = [
        {"readout": "median"}, {"aggregators": ("mode",)}, {"dropout": 1.0}, {"hidden": 0},
        {"sin_max_freq": 0.5}]
    for bad in bad_changes:
        with pytest.raises(ValueError):
            config.replace(**bad)
    model = GraphMetanetwork(config)
    assert "hidden=64" in repr(model) and "num_layers=3" in repr(model)
    before = model.head.weight.clone()
    model.reset_parameters()
    assert not torch.equal(before, model.head.weight)


def test_scalar_sin_embedding_frequencies_and_values() -> None:
    from zoo.models.gmn import ScalarSinEmbedding

    torch.testing.assert_close(ScalarSinEmbedding(8).freqs, 2.0 ** torch.arange(8.0))
    emb = ScalarSinEmbedding(3, max_freq=4.0)
    torch.testing.assert_close(emb.freqs, torch.tensor([1.0, 2.0, 4.0]))
    x = torch.tensor([[0.5, -1.0]])  # [N=1, D=2]
    out = emb(x)
    assert out.shape == (1, 2 * 7)
    angles = torch.tensor([0.5, 1.0, 2.0, -1.0, -2.0, -4.0])  # per column, then per frequency
    torch.testing.assert_close(out, torch.cat([x[0], angles.sin(), angles.cos()]).unsqueeze(0))
    assert torch.equal(ScalarSinEmbedding(0)(x), x)


def test_gmn_runs_on_cnn_graphs() -> None:
    gen = torch.Generator().manual_seed(0)
    graphs = []
    for label in range(3):
        conv_w = [torch.randn(4, 1, 3, 3, generator=gen), torch.randn(6, 4, 5, 5, generator=gen)]
        conv_b = [torch.randn(4, generator=gen), torch.randn(6, generator=gen)]
        lin = [torch.randn(10, 6, generator=gen)], [torch.randn(10, generator=gen)]
        graphs.append(cnn_to_graph(conv_w, conv_b, *lin, y=label))
    spec = NeuralGraphSpec((1, 4, 6, 10), ((3, 3), (5, 5)))
    torch.manual_seed(0)
    model = GraphMetanetwork(GMNConfig.from_spec(spec, num_classes=2, hidden=16)).eval()
    assert model(Batch.from_data_list(graphs)).shape == (3, 2)
