"""Neural-graph transformer (NG-T): a relational transformer over dense neural graphs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint
from torch_geometric.data import Data
from torch_geometric.nn.inits import reset

from zoo.graphs.neural_graph import NeuralGraphSpec
from zoo.models._fourier import GaussianFourierEmbedding
from zoo.models._relational import NodeMean, RelationalAttention, RTEdgeUpdate, RTLayer

__all__ = ["NGTConfig", "NodeMean", "RTEdgeUpdate", "RTLayer", "RelationalAttention",
           "RelationalTransformer"]

_POOLINGS = ("cat", "mean")


@dataclass(frozen=True)
class NGTConfig:
    """Hyperparameters of :class:`RelationalTransformer` (JSON-ready via :meth:`to_dict`).

    Defaults are those of the reference ``rtransformer.yaml`` for INR classification.

    Args:
        layer_sizes: neurons per layer ``(d0, ..., dL)`` of the encoded networks; every
            graph of a batch has this layout (build it with :meth:`from_spec`).
        num_classes: output logits.
        node_dim, edge_dim: input node and edge feature sizes (default: 1, 1: bias, weight).
        d_node, d_edge: node and edge widths (default: 64, 32).
        d_attn_hid: attention width, all heads together (default: 128).
        d_node_hid, d_edge_hid, d_out_hid: hidden widths of the node, edge and readout
            MLPs (default: 128, 64, 128).
        n_layers: transformer layers (default: 4).
        n_heads: attention heads; must divide ``d_attn_hid`` (default: 8).
        dropout: after each residual branch (default: 0.0; the reference trains with 0.2).
        modulate_v: edge-modulated values (:class:`RelationalAttention`; default: True).
        use_ln: post-LayerNorm after every residual (default: True).
        edge_updates: update edge features after every layer but the last (default: True).
        rev_edge_features: edge input ``[w_ij, w_ji, w_ij + w_ji]`` instead of ``w_ij``
            (default: False, as the reference configures INR classification).
        pooling: ``cat`` (the output neurons' features, concatenated in neuron order, the
            reference's ``cat``/``last``) or ``mean`` (over all nodes; default: cat).
        readout_layers: hidden ``Linear + ReLU`` layers of the readout MLP (default: 1).
        rff_freqs, rff_sigma: random Fourier frequencies per scalar input and their standard
            deviation (default: 128, 1.0 = the reference's ``sin_emb_dim``, ``inp_factor``).
    """

    layer_sizes: tuple[int, ...]
    num_classes: int
    node_dim: int = 1
    edge_dim: int = 1
    d_node: int = 64
    d_edge: int = 32
    d_attn_hid: int = 128
    d_node_hid: int = 128
    d_edge_hid: int = 64
    d_out_hid: int = 128
    n_layers: int = 4
    n_heads: int = 8
    dropout: float = 0.0
    modulate_v: bool = True
    use_ln: bool = True
    edge_updates: bool = True
    rev_edge_features: bool = False
    pooling: str = "cat"
    readout_layers: int = 1
    rff_freqs: int = 128
    rff_sigma: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "layer_sizes", tuple(int(d) for d in self.layer_sizes))
        if len(self.layer_sizes) < 2 or min(self.layer_sizes) < 1:
            raise ValueError(f"layer_sizes needs >= 2 positive sizes, got {self.layer_sizes}")
        positive = ("num_classes", "node_dim", "edge_dim", "d_node", "d_edge", "d_attn_hid",
                    "d_node_hid", "d_edge_hid", "d_out_hid", "n_layers", "n_heads", "rff_freqs")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_attn_hid % self.n_heads:
            raise ValueError(f"n_heads {self.n_heads} must divide d_attn_hid {self.d_attn_hid}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.pooling not in _POOLINGS:
            raise ValueError(f"pooling must be one of {_POOLINGS}, got {self.pooling!r}")
        if self.readout_layers < 0 or not self.rff_sigma > 0:
            raise ValueError("readout_layers must be >= 0 and rff_sigma > 0")

    @classmethod
    def from_spec(cls, spec: NeuralGraphSpec, num_classes: int, **overrides: Any) -> NGTConfig:
        """Config for graphs of ``spec`` (layout and ``edge_dim`` filled in)."""
        base = {"layer_sizes": spec.layer_sizes, "num_classes": num_classes,
                "edge_dim": spec.edge_dim}
        return cls(**{**base, **overrides})

    @property
    def num_nodes(self) -> int:
        """Nodes per graph."""
        return sum(self.layer_sizes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NGTConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        if unknown := set(data) - {f.name for f in fields(cls)}:
            raise ValueError(f"unknown NGTConfig keys: {sorted(unknown)}")
        return cls(**data)

    def replace(self, **changes: Any) -> NGTConfig:
        """Copy with some fields changed."""
        return replace(self, **changes)


class RelationalTransformer(nn.Module):
    r"""Neural-graph transformer (NG-T) from the `"Graph Neural Networks for Learning
    Equivariant Representations of Neural Networks" <https://arxiv.org/abs/2403.12143>`_
    paper (Kofinas et al., ICLR 2024).

    A batch of neural graphs (:mod:`zoo.graphs.neural_graph`) is made dense, nodes
    :math:`(G, N, \cdot)` and edges :math:`(G, N, N, \cdot)` with :math:`\mathbf{w}_{ij}`
    the weight of edge :math:`i \to j` (zero where there is none). Every scalar goes
    through random Fourier features :math:`\gamma` and one linear map (the reference's two
    consecutive linear maps span the same functions); nodes add a learned
    position embedding: one per input neuron, one per output neuron and *one shared by
    all neurons of a hidden layer*. Then :math:`T` :class:`RTLayer` s and a readout:

    .. math::
        \mathbf{h}^{(0)}_i = \mathbf{W}_x \gamma(\mathbf{x}_i) + \mathbf{P}[\mathrm{pos}_i],
        \quad \mathbf{e}^{(0)}_{ij} = \mathbf{W}_e \gamma(\mathbf{w}_{ij}), \quad
        (\mathbf{h}^{(t)}, \mathbf{e}^{(t)}) = \mathrm{RT}^{(t)}(\mathbf{h}^{(t-1)},
            \mathbf{e}^{(t-1)}) \\
        \mathbf{g}^{(t)} = \tfrac{1}{N}\textstyle\sum_i \mathbf{h}^{(t)}_i, \qquad
        \hat{y} = \mathrm{head}\big(\mathrm{MLP}(\Vert_{i \in \mathrm{out}}
            \mathbf{h}^{(T)}_i)\big)

    Every step commutes with relabelling the neurons of a hidden layer, so the logits are
    invariant to hidden-neuron permutations; permuting input or output neurons changes them.

    Args:
        config: a :class:`NGTConfig`.
        chunk_size: graphs pushed through the layers together; an execution detail that
            changes neither parameters nor results beyond float rounding (default: 4).
        checkpoint: recompute each chunk's layers in the backward pass instead of keeping
            their edge tensors: far less memory, more time (default: False).

    Shapes:
        - **input:** a :class:`~torch_geometric.data.Data` / ``Batch`` of graphs with the
          layout ``config.layer_sizes``, nodes in layer order: ``x``
          :math:`(G N, F_{node})`, ``edge_index`` :math:`(2, |\mathcal{E}|)`,
          ``edge_attr`` :math:`(|\mathcal{E}|, D)`
        - **output:** logits :math:`(G, C)`; hooks on :meth:`representation_layers` see
          :math:`(G, d_{node})`, then :math:`(G, d_{out\_hid})`, then :math:`(G, C)`.
          Memory: the :math:`(G, N, N, \cdot)` edge tensors of every layer are kept for the
          backward pass (about 5.5 GB at :math:`G = 64`, :math:`N = 67`, float32).
    """

    pos_index: Tensor

    def __init__(self, config: NGTConfig, chunk_size: int = 4, checkpoint: bool = False
                 ) -> None:
        super().__init__()
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.config = c = config
        self.chunk_size, self.checkpoint = chunk_size, checkpoint
        sizes = c.layer_sizes
        edge_in = c.edge_dim * (3 if c.rev_edge_features else 1)
        self.node_fourier = GaussianFourierEmbedding(c.node_dim, c.rff_freqs, c.rff_sigma)
        self.edge_fourier = GaussianFourierEmbedding(edge_in, c.rff_freqs, c.rff_sigma)
        self.node_encoder = nn.Linear(2 * c.rff_freqs, c.d_node)
        self.edge_encoder = nn.Linear(2 * c.rff_freqs, c.d_edge)
        # ids: one per input neuron, one shared by each hidden layer, one per output neuron
        hidden = [sizes[0] + t for t, d in enumerate(sizes[1:-1]) for _ in range(d)]
        num_ids = sizes[0] + len(sizes) - 2 + sizes[-1]
        pos = [*range(sizes[0]), *hidden, *range(num_ids - sizes[-1], num_ids)]
        self.register_buffer("pos_index", torch.tensor(pos), persistent=False)
        self.pos_embedding = nn.Embedding(num_ids, c.d_node)
        self.layers = nn.ModuleList(
            RTLayer(c, edge_update=c.edge_updates and t < c.n_layers - 1)
            for t in range(c.n_layers))
        self.pooled = nn.ModuleList(NodeMean() for _ in range(c.n_layers))
        width = c.d_node * (sizes[-1] if c.pooling == "cat" else 1)
        blocks = []
        for _ in range(c.readout_layers):
            blocks.append(nn.Sequential(nn.Linear(width, c.d_out_hid), nn.ReLU()))
            width = c.d_out_hid
        self.readout = nn.ModuleList(blocks)
        self.head = nn.Linear(width, c.num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise every learnable parameter (Fourier frequencies are kept)."""
        for module in self.children():
            reset(module)

    def representation_layers(self) -> list[str]:
        """Module names to hook, in order: ``pooled.0 .. pooled.{T-1}`` (mean-pooled node
        embeddings after each layer), ``readout.0 ..`` (post-ReLU readout MLP layers),
        then ``head`` (logits)."""
        names = [f"pooled.{t}" for t in range(self.config.n_layers)]
        return names + [f"readout.{i}" for i in range(len(self.readout))] + ["head"]

    def to_dense(self, data: Data) -> tuple[Tensor, Tensor, Tensor]:
        """Nodes ``(G, N, F_node)``, raw edges ``(G, N, N, D)`` (``[w, w^T, w + w^T]`` with
        ``rev_edge_features``) and the mask ``(G, N, N)`` of real edges (and reverses)."""
        n = self.config.num_nodes
        x, (src, dst), edge_attr = data.x, data.edge_index, data.edge_attr
        g = x.shape[0] // n
        if x.shape[0] != g * n or g == 0:
            raise ValueError(f"{x.shape[0]} nodes are not whole graphs of {n} nodes "
                             f"(layer_sizes {self.config.layer_sizes})")
        flat = src * n + dst % n  # = graph * N^2 + local_src * N + local_dst
        raw = edge_attr.new_zeros(g * n * n, edge_attr.shape[1]).index_copy(0, flat, edge_attr)
        mask = torch.zeros(g * n * n, dtype=torch.bool, device=x.device).index_fill(0, flat, True)
        raw, mask = raw.view(g, n, n, -1), mask.view(g, n, n)
        if self.config.rev_edge_features:
            rev = raw.transpose(1, 2)
            raw = torch.cat([raw, rev, raw + rev], dim=-1)
            mask = mask | mask.transpose(1, 2)
        return x.view(g, n, -1), raw, mask

    def forward(self, data: Data) -> Tensor:
        """Logits ``(num_graphs, num_classes)`` for a batch of neural graphs."""
        x, raw, mask = self.to_dense(data)
        g, n, _ = x.shape
        # Chunks of graphs keep the (G, N, N, ·) tensors small enough for the allocator to
        # reuse (3x faster on CPU at G = 64); each hooked module still runs once.
        per_layer: list[list[Tensor]] = [[] for _ in self.layers]
        for start in range(0, g, self.chunk_size):
            part = (x[start : start + self.chunk_size], raw[start : start + self.chunk_size],
                    mask[start : start + self.chunk_size])
            if self.checkpoint and torch.is_grad_enabled():
                outs = checkpoint(self._run_layers, *part, use_reentrant=False)
            else:
                outs = self._run_layers(*part)
            for t, h in enumerate(outs):
                per_layer[t].append(h)
        for pool, hs in zip(self.pooled, per_layer, strict=True):
            pool(torch.cat(hs))
        h = torch.cat(per_layer[-1])
        if self.config.pooling == "cat":
            out = h[:, n - self.config.layer_sizes[-1] :].reshape(g, -1)
        else:
            out = h.mean(dim=1)
        for block in self.readout:
            out = block(out)
        logits: Tensor = self.head(out)
        return logits

    def _run_layers(self, x: Tensor, raw: Tensor, mask: Tensor) -> tuple[Tensor, ...]:
        """Node features ``(G, N, d_node)`` after each layer, from dense inputs."""
        h, e = self._embed(x, raw, mask)
        outs = []
        for layer in self.layers:
            h, e = layer(h, e)
            outs.append(h)
        return tuple(outs)

    def _embed(self, x: Tensor, raw: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Initial nodes ``(G, N, d_node)`` and edges ``(G, N, N, d_edge)``."""
        g, n, _ = x.shape
        h = self.node_encoder(self.node_fourier(x)) + self.pos_embedding(self.pos_index)
        # Pairs without an edge all hold the embedding of a zero weight: embed it once.
        where = mask.reshape(-1).nonzero().view(-1)
        embedded = self.edge_encoder(self.edge_fourier(raw.reshape(g * n * n, -1)[where]))
        zero = self.edge_encoder(self.edge_fourier(raw.new_zeros(1, raw.shape[-1])))
        e = zero.expand(g * n * n, -1).index_copy(0, where, embedded).view(g, n, n, -1)
        return h, e

    def __repr__(self) -> str:
        c = self.config
        return (f"{self.__class__.__name__}(layer_sizes={list(c.layer_sizes)}, "
                f"d_node={c.d_node}, d_edge={c.d_edge}, n_layers={c.n_layers}, "
                f"n_heads={c.n_heads}, num_classes={c.num_classes}, pooling={c.pooling!r})")
