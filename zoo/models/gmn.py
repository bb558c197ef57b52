"""Graph metanetwork (GMN): a PNA graph network over neural graphs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool
from torch_geometric.nn.inits import reset
from torch_geometric.utils import degree

from zoo.graphs.neural_graph import NeuralGraphSpec, edge_index_template
from zoo.models._pna import AGGREGATORS, SCALERS, DegreeBuckets, PNALayer

__all__ = ["GMNConfig", "GraphMetanetwork", "GraphPool", "PNALayer"]

_POOLS = ("mean", "max", "sum", "mean_max")


@dataclass(frozen=True)
class GMNConfig:
    """Hyperparameters of :class:`GraphMetanetwork` (JSON-ready via :meth:`to_dict`).

    Args:
        num_classes: output logits.
        deg_histogram: PNA in-degree histogram of the (bidirectional) input
            graphs, ``deg_histogram[k]`` = nodes with in-degree ``k``; build it
            with :meth:`from_spec` (or :meth:`GraphMetanetwork.degree_histogram`).
        num_pos_ids: size of the ``pos_id`` embedding table (``d0 + dL + 1``).
        num_layer_ids: size of the ``layer`` embedding table; 0 disables it.
            Layer indices are invariant under hidden-neuron permutations.
        hidden: node, edge and graph embedding width (default: 64).
        num_layers: message-passing layers (default: 3).
        dropout: dropout after each layer and readout block (default: 0.0).
        node_dim: input node feature size (default: 1, the bias).
        edge_dim: input edge feature size (default: 1; ``KH * KW`` for CNNs).
        aggregators: PNA aggregators (default: mean, min, max, std).
        scalers: PNA degree scalers (default: identity, amplification, attenuation).
        readout: node pooling before the readout MLP: ``mean``, ``max``,
            ``sum`` or ``mean_max`` (concatenated; default).
        readout_layers: hidden layers of the readout MLP (default: 1).
        bidirectional: also pass messages backwards along each edge, with a
            learned direction embedding (default: True).
        sin_emb: number of frequencies of the fixed sinusoidal embedding of every
            (standardised) scalar weight and bias, ``[v, sin(w_k v), cos(w_k v)]``
            as NG-GNN's graph constructor does; 0 feeds the raw scalars (default: 8).
        sin_max_freq: the frequencies ``w_k`` grow geometrically from 1 to this
            (``w_k = sin_max_freq^(k / (sin_emb - 1))``; default: 128, i.e. ``2^k``
            for 8 frequencies).
        edge_gate: modulate messages multiplicatively by their edge features
            (default: True).
    """

    num_classes: int
    deg_histogram: tuple[int, ...]
    num_pos_ids: int
    num_layer_ids: int = 0
    hidden: int = 64
    num_layers: int = 3
    dropout: float = 0.0
    node_dim: int = 1
    edge_dim: int = 1
    aggregators: tuple[str, ...] = ("mean", "min", "max", "std")
    scalers: tuple[str, ...] = ("identity", "amplification", "attenuation")
    readout: str = "mean_max"
    readout_layers: int = 1
    bidirectional: bool = True
    sin_emb: int = 8
    sin_max_freq: float = 128.0
    edge_gate: bool = True

    def __post_init__(self) -> None:
        for name in ("deg_histogram", "aggregators", "scalers"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        positive = ("num_classes", "num_pos_ids", "hidden", "num_layers", "node_dim", "edge_dim")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_layer_ids < 0 or self.readout_layers < 0:
            raise ValueError("num_layer_ids and readout_layers must be >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.sin_max_freq >= 1.0:
            raise ValueError(f"sin_max_freq must be >= 1, got {self.sin_max_freq}")
        if self.readout not in _POOLS:
            raise ValueError(f"readout must be one of {_POOLS}, got {self.readout!r}")
        if not self.deg_histogram or sum(self.deg_histogram) < 1:
            raise ValueError("deg_histogram must count at least one node")
        if not self.aggregators or set(self.aggregators) - set(AGGREGATORS):
            raise ValueError(f"aggregators must be a non-empty subset of {AGGREGATORS}")
        if not self.scalers or set(self.scalers) - set(SCALERS):
            raise ValueError(f"scalers must be a non-empty subset of {SCALERS}")

    @classmethod
    def from_spec(cls, spec: NeuralGraphSpec, num_classes: int, **overrides: Any) -> GMNConfig:
        """Config for graphs of ``spec``: pos/layer ids, edge_dim and degrees filled in."""
        bidirectional = bool(overrides.get("bidirectional", True))
        deg = GraphMetanetwork.degree_histogram(
            edge_index_template(spec), spec.num_nodes, bidirectional=bidirectional)
        base: dict[str, Any] = {"num_classes": num_classes, "num_pos_ids": spec.num_pos_ids,
                                "num_layer_ids": spec.num_layers + 1, "edge_dim": spec.edge_dim,
                                "deg_histogram": tuple(deg.tolist())}
        return cls(**{**base, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GMNConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        if unknown := set(data) - names:
            raise ValueError(f"unknown GMNConfig keys: {sorted(unknown)}")
        return cls(**data)

    def replace(self, **changes: Any) -> GMNConfig:
        """Copy with some fields changed."""
        return replace(self, **changes)


class ScalarSinEmbedding(nn.Module):
    r"""Fixed sinusoidal features of scalar weights and biases.

    .. math::
        \gamma(v) = [v, \sin(\omega_0 v), \cos(\omega_0 v), \dots,
            \sin(\omega_{K-1} v), \cos(\omega_{K-1} v)], \qquad
        \omega_k = \omega_{max}^{k / (K - 1)}

    A single linear map of a raw scalar gives the network little to separate
    nearby values with; NG-GNN embeds every weight this way.

    Shapes:
        - **input:** :math:`(N, D)`
        - **output:** :math:`(N, D (1 + 2K))`
    """

    freqs: Tensor

    def __init__(self, num_freqs: int, max_freq: float = 128.0) -> None:
        super().__init__()
        self.factor = 1 + 2 * num_freqs
        exponents = torch.arange(num_freqs, dtype=torch.float64) / max(num_freqs - 1, 1)
        self.register_buffer("freqs", (max_freq ** exponents).to(torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        """Embed every column of ``x`` (identity when there are no frequencies)."""
        if self.factor == 1:
            return x
        angles = (x.unsqueeze(-1) * self.freqs.to(x.dtype)).flatten(1)
        return torch.cat([x, torch.sin(angles), torch.cos(angles)], dim=1)


class GraphPool(nn.Module):
    """Invariant node pooling ``(|V|, F), batch (|V|,) -> (num_graphs, F or 2F)``.

    A module of its own so forward hooks see graph-level embeddings.

    Args:
        mode: ``mean``, ``max``, ``sum`` or ``mean_max`` (concatenation, ``2F``).
    """

    def __init__(self, mode: str = "mean") -> None:
        super().__init__()
        if mode not in _POOLS:
            raise ValueError(f"mode must be one of {_POOLS}, got {mode!r}")
        self.mode = mode

    def forward(self, x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        """Pool node features ``x`` into one row per graph."""
        if self.mode == "mean":
            return global_mean_pool(x, batch, num_graphs)
        if self.mode == "max":
            return global_max_pool(x, batch, num_graphs)
        if self.mode == "sum":
            return global_add_pool(x, batch, num_graphs)
        return torch.cat([global_mean_pool(x, batch, num_graphs),
                          global_max_pool(x, batch, num_graphs)], dim=-1)

    def extra_repr(self) -> str:
        """Show the pooling mode."""
        return f"mode={self.mode!r}"


class GraphMetanetwork(nn.Module):
    r"""Neural-graph metanetwork (NG-GNN) from the `"Graph Neural Networks for
    Learning Equivariant Representations of Neural Networks"
    <https://arxiv.org/abs/2403.12143>`_ paper (Kofinas et al., ICLR 2024).

    Classifies networks given as neural graphs (:mod:`zoo.graphs.neural_graph`).
    Nodes are encoded from their bias, a positional embedding that tells input
    and output neurons apart but gives all hidden neurons one shared id, and a
    layer embedding. With ``bidirectional`` every edge is also used backwards,
    and its feature gains a one-hot direction. Then, for :math:`t = 1..T`,

    .. math::
        \mathbf{h}^{(0)}_i &= \mathbf{W}_x x_i + \mathbf{P}[\mathrm{pos}_i]
            + \mathbf{Q}[\mathrm{layer}_i], \qquad
        \boldsymbol{\epsilon}_{ji} = [w_{ji} \,\|\, \mathrm{onehot}(\mathrm{dir}_{ji})] \\
        \mathbf{h}^{(t)}_i &= \mathbf{h}^{(t-1)}_i + \mathrm{Dropout}\,\mathrm{ReLU}\,
            \mathrm{LN}\big(\mathrm{PNA}^{(t)}(\mathbf{h}^{(t-1)},
            \boldsymbol{\epsilon})_i\big) \\
        \mathbf{g}^{(t)} &= \tfrac{1}{|\mathcal{V}|}\textstyle\sum_i \mathbf{h}^{(t)}_i, \qquad
        \hat{y} = \mathrm{head}\big(\mathrm{MLP}([\mathrm{mean}_i \mathbf{h}^{(T)}_i \,\|\,
            \max_i \mathbf{h}^{(T)}_i])\big)

    (:class:`~zoo.models._pna.PNALayer`: messages linear in :math:`\mathbf{h}_j` and
    :math:`\boldsymbol{\epsilon}_{ji}`, as PyG's ``PNAConv`` with its linear edge
    encoder would make them, but with far less edge memory traffic.)
    Every step commutes with relabelling hidden neurons, so the logits are
    invariant to hidden-neuron permutations of the input network; permuting
    input (or output) neurons changes them, as it changes the function.

    Args:
        config: a :class:`GMNConfig`.

    Shapes:
        - **input:** a :class:`~torch_geometric.data.Data` / ``Batch`` with
          ``x`` :math:`(|\mathcal{V}|, F_{node})`, ``edge_index``
          :math:`(2, |\mathcal{E}|)`, ``edge_attr`` :math:`(|\mathcal{E}|, D)`,
          ``pos_id`` :math:`(|\mathcal{V}|)`, ``layer`` :math:`(|\mathcal{V}|)`
          *(if num_layer_ids > 0)*, ``batch`` :math:`(|\mathcal{V}|)` *(optional)*
        - **output:** logits :math:`(G, C)`; hooks on
          :meth:`representation_layers` see :math:`(G, hidden)` then :math:`(G, C)`.
    """

    def __init__(self, config: GMNConfig) -> None:
        super().__init__()
        self.config = c = config
        self.scalar_emb = ScalarSinEmbedding(c.sin_emb, c.sin_max_freq)
        self.node_encoder = nn.Linear(c.node_dim * self.scalar_emb.factor, c.hidden)
        self.pos_embedding = nn.Embedding(c.num_pos_ids, c.hidden)
        self.layer_embedding = nn.Embedding(c.num_layer_ids, c.hidden) if c.num_layer_ids else None
        edge_in = c.edge_dim * self.scalar_emb.factor + (2 if c.bidirectional else 0)
        self.convs = nn.ModuleList(
            PNALayer(c.hidden, edge_in, c.aggregators, c.scalers, c.deg_histogram, c.edge_gate)
            for _ in range(c.num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(c.hidden) for _ in range(c.num_layers))
        self.pooled = nn.ModuleList(GraphPool("mean") for _ in range(c.num_layers))
        self.readout_pool = GraphPool(c.readout)
        width = 2 * c.hidden if c.readout == "mean_max" else c.hidden
        blocks = []
        for _ in range(c.readout_layers):
            blocks.append(nn.Sequential(nn.Linear(width, c.hidden), nn.ReLU()))
            width = c.hidden
        self.readout = nn.ModuleList(blocks)
        self.head = nn.Linear(width, c.num_classes)
        self.dropout = nn.Dropout(c.dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise every learnable parameter."""
        for module in self.children():
            reset(module)

    @staticmethod
    def degree_histogram(
        edge_index: Tensor, num_nodes: int, *, bidirectional: bool = True
    ) -> Tensor:
        """PNA in-degree histogram ``(max_deg + 1,)`` of a template graph.

        With ``bidirectional`` the reversed edges the model adds are counted too.
        """
        if bidirectional:
            edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
        deg = degree(edge_index[1], num_nodes, dtype=torch.long)
        return torch.bincount(deg)

    def representation_layers(self) -> list[str]:
        """Module names to hook, in order: ``pooled.0 .. pooled.{T-1}`` (mean-pooled
        node embeddings after each message-passing layer), ``readout.0 ..``
        (post-ReLU readout MLP layers), then ``head`` (logits)."""
        names = [f"pooled.{i}" for i in range(self.config.num_layers)]
        return names + [f"readout.{i}" for i in range(len(self.readout))] + ["head"]

    def forward(self, data: Data) -> Tensor:
        """Logits ``(num_graphs, num_classes)`` for a batch of neural graphs."""
        x, edge_index, edge_attr = data.x, data.edge_index, data.edge_attr
        batch = data.batch
        if batch is None:
            batch, num_graphs = x.new_zeros(x.shape[0], dtype=torch.long), 1
        else:
            num_graphs = int(data.num_graphs) if isinstance(data, Batch) else int(batch.max()) + 1
        h = self.node_encoder(self.scalar_emb(x)) + self.pos_embedding(data.pos_id)
        edge_attr = self.scalar_emb(edge_attr)
        if self.layer_embedding is not None:
            h = h + self.layer_embedding(data.layer)
        if self.config.bidirectional:
            num_edges = edge_attr.shape[0]
            direction = torch.repeat_interleave(
                torch.eye(2, dtype=edge_attr.dtype, device=edge_attr.device), num_edges, dim=0)
            edge_attr = torch.cat([edge_attr.repeat(2, 1), direction], dim=1)
            edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
        buckets = DegreeBuckets.from_edge_index(edge_index, x.shape[0])
        edge_attr = edge_attr[buckets.perm]
        for conv, norm, pool in zip(self.convs, self.norms, self.pooled, strict=True):
            h = h + self.dropout(torch.relu(norm(conv(h, edge_attr, buckets))))
            pool(h, batch, num_graphs)
        g = self.readout_pool(h, batch, num_graphs)
        for block in self.readout:
            g = self.dropout(block(g))
        out: Tensor = self.head(g)
        return out

    def __repr__(self) -> str:
        c = self.config
        return (f"{self.__class__.__name__}(hidden={c.hidden}, num_layers={c.num_layers}, "
                f"num_classes={c.num_classes}, aggregators={list(c.aggregators)}, "
                f"scalers={list(c.scalers)}, readout={c.readout!r}, "
                f"bidirectional={c.bidirectional})")
