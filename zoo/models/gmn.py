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
from zoo.models._edge_update import EdgeUpdate
from zoo.models._fourier import GaussianFourierEmbedding, ScalarSinEmbedding
from zoo.models._pna import AGGREGATORS, SCALERS, DegreeBuckets, PNALayer

__all__ = ["GMNConfig", "GraphMetanetwork", "GraphPool", "PNALayer", "ScalarSinEmbedding"]

_POOLS = ("mean", "max", "sum", "mean_max")
#: Readouts: a node pooling of :class:`GraphPool`, or ``output`` (the output neurons' own
#: final features, concatenated in neuron order, as NG-GNN's ``cat`` pooling of the last layer).
_READOUTS = (*_POOLS, "output")
_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "silu": nn.SiLU}
_REVERSE_FEATURES = ("onehot", "transpose")


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
        receiver: messages also read the receiver's state, ``W_r h_i``, inside the
            modulation (NG-GNN's message of ``[x_i, x_j]``; default: False).
        activation: ``relu`` or ``silu`` after each layer's LayerNorm (default: relu).
        residual: add each layer's output to its input (default: True; NG-GNN: False).
        rff_freqs: random Fourier features of every scalar instead of ``sin_emb``:
            this many Gaussian frequencies (0: off, the default; NG-GNN: 128).
        rff_sigma: their standard deviation (default 3.0, NG-GNN's ``inp_factor``).
        edge_hidden: width of learned edge features (0, the default: every layer reads
            the embedded raw weights; NG-GNN: the node width).
        edge_updates: update the learned edge features from their end nodes after every
            layer but the last (needs ``edge_hidden``; default: False).
        reverse_features: how a bidirectional graph tells an edge's directions apart:
            ``onehot`` (a direction one-hot beside the embedded weight, the default) or
            ``transpose`` (NG-GNN's ``[w, w^T, w + w^T]``, embedded together).
        num_outputs: output neurons of the input networks (read by the ``output`` readout).
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
    receiver: bool = False
    activation: str = "relu"
    residual: bool = True
    rff_freqs: int = 0
    rff_sigma: float = 3.0
    edge_hidden: int = 0
    edge_updates: bool = False
    reverse_features: str = "onehot"
    num_outputs: int = 1

    def __post_init__(self) -> None:
        for name in ("deg_histogram", "aggregators", "scalers"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        positive = ("num_classes", "num_pos_ids", "hidden", "num_layers", "node_dim", "edge_dim")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_layer_ids < 0 or self.readout_layers < 0:
            raise ValueError("num_layer_ids and readout_layers must be >= 0")
        self._check_ranges()
        self._check_choices()

    def _check_ranges(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.sin_max_freq >= 1.0:
            raise ValueError(f"sin_max_freq must be >= 1, got {self.sin_max_freq}")
        if min(self.rff_freqs, self.edge_hidden) < 0 or self.num_outputs < 1:
            raise ValueError("rff_freqs and edge_hidden must be >= 0, num_outputs >= 1")
        if not self.rff_sigma > 0:
            raise ValueError(f"rff_sigma must be > 0, got {self.rff_sigma}")

    def _check_choices(self) -> None:
        if self.readout not in _READOUTS:
            raise ValueError(f"readout must be one of {_READOUTS}, got {self.readout!r}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(_ACTIVATIONS)}, "
                             f"got {self.activation!r}")
        if self.reverse_features not in _REVERSE_FEATURES:
            raise ValueError(f"reverse_features must be one of {_REVERSE_FEATURES}, "
                             f"got {self.reverse_features!r}")
        if self.edge_updates and not self.edge_hidden:
            raise ValueError("edge_updates need learned edge features: set edge_hidden")
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
                                "num_outputs": spec.layer_sizes[-1],
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
        edge_raw = c.edge_dim * (3 if c.bidirectional and c.reverse_features == "transpose"
                                 else 1)
        self.node_fourier: GaussianFourierEmbedding | None = None
        self.edge_fourier: GaussianFourierEmbedding | None = None
        if c.rff_freqs:
            self.node_fourier = GaussianFourierEmbedding(c.node_dim, c.rff_freqs, c.rff_sigma)
            self.edge_fourier = GaussianFourierEmbedding(edge_raw, c.rff_freqs, c.rff_sigma)
            node_in, edge_in = 2 * c.rff_freqs, 2 * c.rff_freqs
        else:
            node_in = c.node_dim * self.scalar_emb.factor
            edge_in = edge_raw * self.scalar_emb.factor
        if c.bidirectional and c.reverse_features == "onehot":
            edge_in += 2
        self.node_encoder = nn.Linear(node_in, c.hidden)
        self.edge_encoder = nn.Linear(edge_in, c.edge_hidden) if c.edge_hidden else None
        edge_width = c.edge_hidden or edge_in
        self.pos_embedding = nn.Embedding(c.num_pos_ids, c.hidden)
        self.layer_embedding = nn.Embedding(c.num_layer_ids, c.hidden) if c.num_layer_ids else None
        self.convs = nn.ModuleList(
            PNALayer(c.hidden, edge_width, c.aggregators, c.scalers, c.deg_histogram,
                     c.edge_gate, c.receiver)
            for _ in range(c.num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(c.hidden) for _ in range(c.num_layers))
        self.act = _ACTIVATIONS[c.activation]()
        self.edge_updates = nn.ModuleList(
            EdgeUpdate(c.edge_hidden, c.hidden, self.act)
            for _ in range(c.num_layers - 1 if c.edge_updates else 0))
        self.pooled = nn.ModuleList(GraphPool("mean") for _ in range(c.num_layers))
        self.readout_pool = GraphPool(c.readout) if c.readout in _POOLS else None
        width = {"mean_max": 2 * c.hidden, "output": c.num_outputs * c.hidden}.get(
            c.readout, c.hidden)
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
        c = self.config
        x, edge_index, edge_attr = data.x, data.edge_index, data.edge_attr
        batch = data.batch
        if batch is None:
            batch, num_graphs = x.new_zeros(x.shape[0], dtype=torch.long), 1
        else:
            num_graphs = int(data.num_graphs) if isinstance(data, Batch) else int(batch.max()) + 1
        h = self._encode(x, self.node_fourier, self.node_encoder) + self.pos_embedding(data.pos_id)
        if self.layer_embedding is not None:
            h = h + self.layer_embedding(data.layer)
        edge_attr, edge_index = self._edge_inputs(edge_attr, edge_index)
        buckets = DegreeBuckets.from_edge_index(edge_index, x.shape[0])
        edge_attr = edge_attr[buckets.perm]
        for t, (conv, norm, pool) in enumerate(zip(self.convs, self.norms, self.pooled,
                                                   strict=True)):
            update = self.dropout(self.act(norm(conv(h, edge_attr, buckets))))
            h = h + update if c.residual else update
            pool(h, batch, num_graphs)
            if t < len(self.edge_updates):
                edge_attr = self.edge_updates[t](h, edge_attr, buckets.src, buckets.dst)
        return self._read_out(h, data, batch, num_graphs)

    def _read_out(self, h: Tensor, data: Data, batch: Tensor, num_graphs: int) -> Tensor:
        """Logits ``(G, C)`` from the final node features ``h`` ``(|V|, F)``."""
        c = self.config
        if self.readout_pool is not None:
            g = self.readout_pool(h, batch, num_graphs)
        else:  # the output neurons of each graph, in node (= neuron) order
            first_output = c.num_pos_ids - 1 - c.num_outputs
            is_output = (data.pos_id >= first_output) & (data.pos_id < c.num_pos_ids - 1)
            g = h[is_output].reshape(num_graphs, c.num_outputs * c.hidden)
        for block in self.readout:
            g = self.dropout(block(g))
        out: Tensor = self.head(g)
        return out

    def _embed(self, values: Tensor, fourier: GaussianFourierEmbedding | None) -> Tensor:
        """Scalar features ``(n, D)`` through the configured embedding."""
        return fourier(values) if fourier is not None else self.scalar_emb(values)

    def _encode(self, values: Tensor, fourier: GaussianFourierEmbedding | None,
                layer: nn.Linear) -> Tensor:
        """``layer(_embed(values))``, fused for Fourier features."""
        return fourier.linear(values, layer) if fourier is not None else layer(
            self.scalar_emb(values))

    def _edge_inputs(self, edge_attr: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        """Embedded edge features and the edges they belong to (reversed ones appended)."""
        c = self.config
        if c.bidirectional and c.reverse_features == "transpose":
            zeros = torch.zeros_like(edge_attr)
            edge_attr = torch.cat([torch.cat([edge_attr, zeros, edge_attr], dim=1),
                                   torch.cat([zeros, edge_attr, edge_attr], dim=1)])
        if self.edge_encoder is not None and c.reverse_features == "transpose":
            if c.bidirectional:
                edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
            return self._encode(edge_attr, self.edge_fourier, self.edge_encoder), edge_index
        embedded = self._embed(edge_attr, self.edge_fourier)
        if c.bidirectional and c.reverse_features == "onehot":
            num_edges = embedded.shape[0]
            direction = torch.repeat_interleave(
                torch.eye(2, dtype=embedded.dtype, device=embedded.device), num_edges, dim=0)
            embedded = torch.cat([embedded.repeat(2, 1), direction], dim=1)
        if c.bidirectional:
            edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
        if self.edge_encoder is not None:
            embedded = self.edge_encoder(embedded)
        return embedded, edge_index

    def __repr__(self) -> str:
        c = self.config
        return (f"{self.__class__.__name__}(hidden={c.hidden}, num_layers={c.num_layers}, "
                f"num_classes={c.num_classes}, aggregators={list(c.aggregators)}, "
                f"scalers={list(c.scalers)}, readout={c.readout!r}, "
                f"bidirectional={c.bidirectional})")
