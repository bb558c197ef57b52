"""Neural graphs: a network as a graph with one node per neuron.

Following Kofinas et al. 2024, "Graph Neural Networks for Learning Equivariant
Representations of Neural Networks" (https://arxiv.org/abs/2403.12143), an MLP
with layer sizes ``[d0, ..., dL]`` becomes a directed graph with
``N = d0 + ... + dL`` nodes (ordered layer by layer) and one edge per weight:

* ``x`` ``(N, 1)``: the neuron's bias (0 for input neurons);
* ``edge_index`` ``(2, E)``: neuron ``j`` of layer ``l`` -> neuron ``i`` of
  layer ``l + 1``, edges ordered layer by layer, then row-major over ``(i, j)``
  (the order of ``W_l.reshape(-1)``);
* ``edge_attr`` ``(E, D)``: ``W_l[i, j]`` (``D = 1`` for MLPs);
* ``layer`` ``(N,)``: layer index of each neuron (0 for inputs);
* ``pos_id`` ``(N,)``: input neuron ``k`` -> ``k``, output neuron ``m`` ->
  ``d0 + m``, every hidden neuron -> the one shared id ``d0 + dL``. Hidden
  neurons can be permuted without changing the function, so nothing a model
  sees may tell them apart; inputs and outputs have fixed meanings.

Flat parameter layout (:mod:`zoo.models._layout`, the one SIRENs use): for each
layer, the weight ``(d_{l+1}, d_l)`` row-major, then the bias ``(d_{l+1},)``.

CNNs: one node per channel; a conv kernel ``(kh, kw)`` becomes the feature of
edge ``in channel -> out channel``. Kernels are zero-padded *centred* to the
largest kernel ``(KH, KW)`` of the network and flattened, so ``D = KH * KW``
and spatial taps stay aligned across layers. The linear layers after global
pooling are ordinary edges whose weight sits in the centre slot (where a 1x1
kernel would be) and whose other slots are zero.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Batch, Data

from zoo.graphs._spec import NeuralGraphSpec, flat_from_mlp_params, mlp_params_from_flat

__all__ = [
    "NeuralGraphSpec",
    "batch_population",
    "cnn_to_graph",
    "edge_index_template",
    "flat_from_mlp_params",
    "graph_to_cnn",
    "graph_to_mlp",
    "mlp_params_from_flat",
    "mlp_to_graph",
    "permute_hidden",
]


def _check_layers(weights: Sequence[Tensor], biases: Sequence[Tensor], kernel: bool) -> None:
    if len(weights) != len(biases):
        raise ValueError(f"{len(weights)} weights but {len(biases)} biases")
    ndim = 4 if kernel else 2
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        if w.dim() != ndim or b.shape != (w.shape[0],):
            raise ValueError(f"layer {i}: weight {tuple(w.shape)} / bias {tuple(b.shape)} bad")
        if i > 0 and w.shape[1] != weights[i - 1].shape[0]:
            raise ValueError(f"layer {i}: fan-in {w.shape[1]} != {weights[i - 1].shape[0]}")


def edge_index_template(spec: NeuralGraphSpec) -> Tensor:
    """``edge_index`` ``(2, E)`` of one graph of ``spec`` in canonical edge order."""
    s, off = spec.layer_sizes, spec.node_offsets
    parts = []
    for layer in range(spec.num_layers):
        e = torch.arange(s[layer] * s[layer + 1])
        parts.append(torch.stack([off[layer] + e % s[layer], off[layer + 1] + e // s[layer]]))
    return torch.cat(parts, dim=1)


def _node_attrs(spec: NeuralGraphSpec) -> tuple[Tensor, Tensor]:
    """``layer`` and ``pos_id`` ``(N,)`` of one graph."""
    s = spec.layer_sizes
    layer = torch.repeat_interleave(torch.arange(len(s)), torch.tensor(s))
    pos_id = torch.full((spec.num_nodes,), s[0] + s[-1], dtype=torch.long)
    pos_id[: s[0]] = torch.arange(s[0])
    pos_id[spec.num_nodes - s[-1] :] = s[0] + torch.arange(s[-1])
    return layer, pos_id


def _as_y(y: int | Tensor | None) -> Tensor | None:
    if y is None:
        return None
    y = torch.as_tensor(y)
    return y.reshape(1) if y.dim() == 0 else y


def _layers_to_graph(
    spec: NeuralGraphSpec, feats: list[Tensor], biases: Sequence[Tensor], y: int | Tensor | None
) -> Data:
    """Build a graph from per-layer edge features ``(out, in, D)`` and biases."""
    ref = biases[0]
    x = torch.cat([ref.new_zeros(spec.layer_sizes[0])] + [b.reshape(-1) for b in biases])
    edge_attr = torch.cat([f.reshape(-1, spec.edge_dim) for f in feats])
    layer, pos_id = _node_attrs(spec)
    data = Data(x=x.unsqueeze(1), edge_index=edge_index_template(spec), edge_attr=edge_attr,
                layer=layer, pos_id=pos_id, num_nodes=spec.num_nodes)
    if (yt := _as_y(y)) is not None:
        data.y = yt
    return data


def _graph_to_layers(data: Data, spec: NeuralGraphSpec) -> tuple[list[Tensor], list[Tensor]]:
    """Dense per-layer edge features ``(out, in, D)`` and biases, from any edge order."""
    if data.num_nodes != spec.num_nodes or data.edge_attr.shape != (spec.num_edges, spec.edge_dim):
        raise ValueError(f"graph ({data.num_nodes} nodes, edge_attr "
                         f"{tuple(data.edge_attr.shape)}) does not match {spec}")
    s, off = spec.layer_sizes, spec.node_offsets
    src, dst = data.edge_index
    feats, biases = [], []
    for layer in range(spec.num_layers):
        mask = (src >= off[layer]) & (src < off[layer + 1])
        dense = data.edge_attr.new_zeros(s[layer + 1], s[layer], spec.edge_dim)
        dense[dst[mask] - off[layer + 1], src[mask] - off[layer]] = data.edge_attr[mask]
        feats.append(dense)
        biases.append(data.x[off[layer + 1] : off[layer + 2], 0].clone())
    return feats, biases


def mlp_to_graph(
    weights: Sequence[Tensor], biases: Sequence[Tensor], *, y: int | Tensor | None = None
) -> Data:
    """Neural graph of one MLP (layout in the module docstring).

    Args:
        weights: ``W_l`` ``(d_{l+1}, d_l)`` per layer.
        biases: ``b_l`` ``(d_{l+1},)`` per layer.
        y: optional label, stored as ``y`` ``(1,)`` (tensors kept as given).
    """
    _check_layers(weights, biases, kernel=False)
    if not weights:
        raise ValueError("an MLP needs at least one layer")
    spec = NeuralGraphSpec((weights[0].shape[1], *(w.shape[0] for w in weights)))
    return _layers_to_graph(spec, [w.unsqueeze(-1) for w in weights], biases, y)


def graph_to_mlp(data: Data, spec: NeuralGraphSpec) -> tuple[list[Tensor], list[Tensor]]:
    """Exact inverse of :func:`mlp_to_graph`; edges may come in any order."""
    if spec.kernel_sizes:
        raise ValueError("spec describes a CNN; use graph_to_cnn")
    feats, biases = _graph_to_layers(data, spec)
    return [f[..., 0] for f in feats], biases


def _center(spec: NeuralGraphSpec, kh: int, kw: int) -> tuple[int, int, int, int]:
    """``F.pad`` amounts ``(left, right, top, bottom)`` centring ``(kh, kw)`` in the grid."""
    gh, gw = spec.kernel_grid
    top, left = (gh - kh) // 2, (gw - kw) // 2
    return left, gw - kw - left, top, gh - kh - top


def cnn_to_graph(
    conv_weights: Sequence[Tensor],
    conv_biases: Sequence[Tensor],
    linear_weights: Sequence[Tensor],
    linear_biases: Sequence[Tensor],
    *,
    y: int | Tensor | None = None,
) -> Data:
    """Neural graph of a CNN: conv layers, global pooling, then linear layers.

    Args:
        conv_weights: ``(c_out, c_in, kh, kw)`` per conv layer (at least one).
        conv_biases: ``(c_out,)`` per conv layer.
        linear_weights: ``(out, in)`` per linear layer after pooling; the first
            has ``in`` = last conv's ``c_out``.
        linear_biases: ``(out,)`` per linear layer.
        y: optional label.

    Returns a graph with ``edge_attr`` ``(E, KH * KW)`` (see module docstring).
    """
    _check_layers(conv_weights, conv_biases, kernel=True)
    _check_layers(linear_weights, linear_biases, kernel=False)
    if not conv_weights:
        raise ValueError("a CNN needs at least one conv layer; use mlp_to_graph")
    if linear_weights and linear_weights[0].shape[1] != conv_weights[-1].shape[0]:
        raise ValueError("first linear fan-in must equal the last conv's channels")
    spec = NeuralGraphSpec(
        (conv_weights[0].shape[1], *(w.shape[0] for w in [*conv_weights, *linear_weights])),
        tuple((w.shape[2], w.shape[3]) for w in conv_weights),
    )
    gh, gw = spec.kernel_grid
    feats = [F.pad(w, _center(spec, w.shape[2], w.shape[3])).flatten(2) for w in conv_weights]
    centre = ((gh - 1) // 2) * gw + (gw - 1) // 2
    for w in linear_weights:
        f = w.new_zeros(*w.shape, spec.edge_dim)
        f[..., centre] = w
        feats.append(f)
    return _layers_to_graph(spec, feats, [*conv_biases, *linear_biases], y)


def graph_to_cnn(
    data: Data, spec: NeuralGraphSpec
) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
    """Exact inverse of :func:`cnn_to_graph`: ``(conv_w, conv_b, linear_w, linear_b)``."""
    if not spec.kernel_sizes:
        raise ValueError("spec describes an MLP; use graph_to_mlp")
    feats, biases = _graph_to_layers(data, spec)
    gh, gw = spec.kernel_grid
    n_conv = len(spec.kernel_sizes)
    conv_w = []
    for f, (kh, kw) in zip(feats[:n_conv], spec.kernel_sizes, strict=True):
        left, _, top, _ = _center(spec, kh, kw)
        conv_w.append(f.reshape(*f.shape[:2], gh, gw)[..., top : top + kh, left : left + kw])
    centre = ((gh - 1) // 2) * gw + (gw - 1) // 2
    lin_w = [f[..., centre] for f in feats[n_conv:]]
    return conv_w, biases[:n_conv], lin_w, biases[n_conv:]


@functools.lru_cache(maxsize=32)
def _param_indices(spec: NeuralGraphSpec) -> tuple[Tensor, Tensor]:
    """Positions of the biases and of the weights in the flat layout (cached per spec).

    Index tensors instead of boolean masks: a masked column selection was the
    slowest part of batching on a busy 2-core machine.
    """
    is_bias = torch.zeros(spec.num_params, dtype=torch.bool)
    for sl in spec.param_slices():
        is_bias[sl.bias] = True
    return torch.nonzero(is_bias).view(-1), torch.nonzero(~is_bias).view(-1)


def batch_population(
    flat_params: Tensor, spec: NeuralGraphSpec, *, y: Tensor | None = None,
    node_features: Tensor | None = None,
) -> Batch:
    """Batch of neural graphs for ``B`` MLPs sharing one architecture, vectorised.

    Equal to ``Batch.from_data_list([mlp_to_graph(...) for each row])`` but built
    from one edge template offset per graph and one gather of the flat params.

    Args:
        flat_params: ``(B, P)`` flat MLP parameters (layout in module docstring).
        spec: the shared MLP architecture.
        y: optional labels ``(B,)``.
        node_features: optional ``(B, num_nodes, K)`` extra features per neuron (e.g.
            its values at probe inputs), appended to the bias: ``x`` becomes ``(·, 1 + K)``.
    """
    if spec.kernel_sizes:
        raise ValueError("batch_population supports MLP populations only")
    if flat_params.dim() != 2 or flat_params.shape[1] != spec.num_params:
        raise ValueError(f"flat_params {tuple(flat_params.shape)} != (B, {spec.num_params})")
    num_graphs, n, e = flat_params.shape[0], spec.num_nodes, spec.num_edges
    device, s = flat_params.device, spec.layer_sizes
    bias_idx, weight_idx = (t.to(device) for t in _param_indices(spec))
    x = flat_params.new_zeros(num_graphs, n)
    x[:, s[0] :] = flat_params.index_select(1, bias_idx)
    edge_attr = flat_params.index_select(1, weight_idx).reshape(-1, 1)
    graph = torch.arange(num_graphs, device=device)
    template = edge_index_template(spec).to(device)
    edge_index = (template.unsqueeze(1) + (graph * n).view(1, -1, 1)).reshape(2, -1)
    layer_id, pos_id = (t.to(device).repeat(num_graphs) for t in _node_attrs(spec))
    x = x.unsqueeze(2)
    if node_features is not None:
        if node_features.shape[:2] != (num_graphs, n):
            raise ValueError(f"node_features {tuple(node_features.shape)} must be "
                             f"({num_graphs}, {n}, K)")
        x = torch.cat([x, node_features.to(x.dtype)], dim=2)
    batch = Batch(x=x.reshape(num_graphs * n, -1), edge_index=edge_index, edge_attr=edge_attr,
                  layer=layer_id, pos_id=pos_id, num_nodes=num_graphs * n,
                  batch=graph.repeat_interleave(n), ptr=torch.arange(num_graphs + 1,
                                                                     device=device) * n)
    keys = ["x", "edge_index", "edge_attr", "layer", "pos_id"]
    slices = {k: torch.arange(num_graphs + 1) * (e if k.startswith("edge") else n) for k in keys}
    incs = {k: torch.zeros(num_graphs, dtype=torch.long) for k in keys}
    incs["edge_index"] = torch.arange(num_graphs) * n
    if y is not None:
        if y.shape[:1] != (num_graphs,):
            raise ValueError(f"y {tuple(y.shape)} must have {num_graphs} rows")
        batch.y = y
        slices["y"] = torch.arange(num_graphs + 1)
        incs["y"] = torch.zeros(num_graphs, dtype=torch.long)
    batch._num_graphs = num_graphs
    batch._slice_dict = slices
    batch._inc_dict = incs
    return batch


def permute_hidden(
    weights: Sequence[Tensor], biases: Sequence[Tensor], perms: Sequence[Tensor]
) -> tuple[list[Tensor], list[Tensor]]:
    """Permute the hidden neurons of an MLP; the function it computes is unchanged.

    Args:
        weights: ``(d_{l+1}, d_l)`` per layer.
        biases: ``(d_{l+1},)`` per layer.
        perms: one permutation ``(d_l,)`` per hidden layer ``l = 1 .. L-1``;
            new neuron ``i`` of layer ``l`` is old neuron ``perms[l - 1][i]``.
    """
    _check_layers(weights, biases, kernel=False)
    if len(perms) != len(weights) - 1:
        raise ValueError(f"need {len(weights) - 1} permutations, got {len(perms)}")
    for layer, p in enumerate(perms, start=1):
        if not torch.equal(torch.sort(p).values, torch.arange(weights[layer].shape[1])):
            raise ValueError(f"perms[{layer - 1}] is not a permutation of hidden layer {layer}")
    new_w, new_b = [], []
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        out_p = perms[layer] if layer < len(perms) else torch.arange(w.shape[0])
        in_p = perms[layer - 1] if layer > 0 else torch.arange(w.shape[1])
        new_w.append(w[out_p][:, in_p])
        new_b.append(b[out_p])
    return new_w, new_b
