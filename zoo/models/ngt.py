"""Neural-graph transformer (NG-T): a relational transformer over dense neural graphs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint
from torch_geometric.data import Data
from torch_geometric.nn.inits import reset

from zoo.graphs.neural_graph import NeuralGraphSpec
from zoo.models._fourier import GaussianFourierEmbedding

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


def _xavier(*modules: nn.Module) -> None:
    """The reference's init of transformer linears: Xavier-uniform weights, zero biases."""
    for m in modules:
        assert isinstance(m, nn.Linear)
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class NodeMean(nn.Module):
    """Mean over nodes ``(G, N, F) -> (G, F)``; a module so forward hooks see it."""

    def forward(self, h: Tensor) -> Tensor:
        """Pool the node axis."""
        return h.mean(dim=1)


class RelationalAttention(nn.Module):
    r"""Multi-head attention whose queries, keys and values also read the edge between
    the two nodes (relational attention, Diao & Loynd 2023), per head :math:`h`:

    .. math::
        \mathbf{q}_{ij} = \mathbf{W}_q \mathbf{h}_i + \mathbf{U}_q \mathbf{e}_{ij}, \quad
        \mathbf{k}_{ij} = \mathbf{W}_k \mathbf{h}_j + \mathbf{U}_k \mathbf{e}_{ij}, \quad
        \mathbf{v}_{ij} = \mathbf{W}_v \mathbf{h}_j \odot \mathbf{U}_m \mathbf{e}_{ij}
            + \mathbf{U}_v \mathbf{e}_{ij} \\
        \alpha_{ij} = \mathrm{softmax}_j\big(\mathbf{q}_{ij}^\top \mathbf{k}_{ij} /
            \sqrt{d_{attn}}\big), \qquad
        \mathbf{o}_i = \mathbf{W}_o \big\Vert_h \textstyle\sum_j \alpha_{ij} \mathbf{v}_{ij}

    (without ``modulate_v``: :math:`\mathbf{W}_v \mathbf{h}_j + \mathbf{U}_v \mathbf{e}_{ij}`).
    As in the reference, the scale is the full width :math:`d_{attn}` and every node attends
    to every node. Node-edge cross terms and the additive edge value are computed from
    node-sized tensors, e.g. :math:`\mathbf{U}_v \sum_j \alpha_{ij} \mathbf{e}_{ij}`.

    Args:
        d_node, d_edge, d_hid: node, edge and attention (all heads) widths
            :math:`F, D_e, d_{attn}`.
        n_heads: number of heads :math:`H`.
        modulate_v: modulate the values by the edge (default: True).

    Shapes:
        - **input:** nodes :math:`(G, N, F)`, edges :math:`(G, N, N, D_e)`
        - **output:** :math:`(G, N, F)`
    """

    def __init__(self, d_node: int, d_edge: int, d_hid: int, n_heads: int,
                 modulate_v: bool = True) -> None:
        super().__init__()
        self.n_heads, self.d_hid, self.modulate_v = n_heads, d_hid, modulate_v
        self.scale = 1.0 / math.sqrt(d_hid)
        self.lin_qkv = nn.Linear(d_node, 3 * d_hid, bias=False)
        # rows: U_v (applied after aggregation), then the per-pair U_q, U_k (, U_m)
        self.lin_edge = nn.Linear(d_edge, (4 if modulate_v else 3) * d_hid, bias=False)
        self.lin_out = nn.Linear(d_hid, d_node)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform weights, zero biases."""
        _xavier(self.lin_qkv, self.lin_edge, self.lin_out)

    def forward(self, h: Tensor, e: Tensor) -> Tensor:
        """Attend from every node to every node through their edge."""
        g, n, _ = h.shape
        nh, dh = self.n_heads, self.d_hid // self.n_heads
        q, k, v = self.lin_qkv(h).view(g, n, 3, nh, dh).unbind(2)  # (G, N, H, dh)
        weight = self.lin_edge.weight.view(-1, nh, dh, self.lin_edge.in_features)
        w_v, w_q, w_k = weight[0], weight[1], weight[2]  # (H, dh, D_e) each

        def per_pair(rows: int) -> Tensor:  # U e_ij for one block of rows: (G, N, N, H, dh)
            block = self.lin_edge.weight[rows * self.d_hid : (rows + 1) * self.d_hid]
            return F.linear(e, block).view(g, n, n, nh, dh)

        # Scores in (G, N_i, N_j, H), the layout of the per-pair tensors: no big transposes.
        scores = (per_pair(1) * per_pair(2)).sum(-1)
        scores = scores + torch.einsum("gihc,gjhc->gijh", q, k)
        scores = scores + torch.einsum("gihd,gijd->gijh", torch.einsum("gihc,hcd->gihd", q, w_k), e)
        scores = scores + torch.einsum("gjhd,gijd->gijh", torch.einsum("gjhc,hcd->gjhd", k, w_q), e)
        attn = torch.softmax(self.scale * scores, dim=2)
        if self.modulate_v:  # sum_j a_ij (v_j (.) U_m e_ij)
            out = (per_pair(3) * v.unsqueeze(1) * attn.unsqueeze(-1)).sum(2)  # (G, N, H, dh)
        else:
            out = torch.einsum("gijh,gjhc->gihc", attn, v)
        out = out + torch.einsum("gihd,hcd->gihc", torch.einsum("gijh,gijd->gihd", attn, e), w_v)
        result: Tensor = self.lin_out(out.reshape(g, n, self.d_hid))
        return result


class RTEdgeUpdate(nn.Module):
    r"""Edge update of the relational transformer: every pair reads both directions and
    its two end nodes, then a per-pair MLP, each with a residual and a LayerNorm,

    .. math::
        \mathbf{e}'_{ij} &= \mathrm{LN}\big(\mathbf{e}_{ij} + \mathbf{W}_2\,
            \mathrm{GELU}(\mathbf{A}\mathbf{e}_{ij} + \mathbf{B}\mathbf{e}_{ji}
            + \mathbf{S}\mathbf{h}_i + \mathbf{T}\mathbf{h}_j)\big) \\
        \mathbf{e}''_{ij} &= \mathrm{LN}\big(\mathbf{e}'_{ij} + \mathrm{MLP}(\mathbf{e}'_{ij})\big)

    Shapes:
        - **input:** nodes :math:`(G, N, F)`, edges :math:`(G, N, N, D_e)`
        - **output:** edges :math:`(G, N, N, D_e)`
    """

    def __init__(self, d_node: int, d_edge: int, d_hid: int, dropout: float,
                 use_ln: bool = True) -> None:
        super().__init__()
        self.lin_pair = nn.Linear(2 * d_edge, d_hid)  # [e_ij, e_ji]
        self.lin_src = nn.Linear(d_node, d_hid)
        self.lin_dst = nn.Linear(d_node, d_hid)
        self.lin_pair_out = nn.Linear(d_hid, d_edge)
        self.mlp = nn.Sequential(nn.Linear(d_edge, d_hid, bias=False), nn.GELU(),
                                 nn.Linear(d_hid, d_edge), nn.Dropout(dropout))
        self.norm0 = nn.LayerNorm(d_edge) if use_ln else nn.Identity()
        self.norm1 = nn.LayerNorm(d_edge) if use_ln else nn.Identity()
        self.act, self.dropout = nn.GELU(), nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform weights, zero biases, unit LayerNorms."""
        _xavier(self.lin_pair, self.lin_src, self.lin_dst, self.lin_pair_out, *list(self.mlp)[::2])
        for norm in (self.norm0, self.norm1):
            reset(norm)

    def forward(self, h: Tensor, e: Tensor) -> Tensor:
        """Updated edge features."""
        # one GEMM for both directions: rows of A then B, stacked
        stacked = torch.cat(self.lin_pair.weight.chunk(2, dim=1), dim=0)
        fwd, rev = F.linear(e, stacked).chunk(2, dim=-1)
        z = (fwd + rev.transpose(1, 2) + self.lin_pair.bias
             + self.lin_src(h).unsqueeze(2) + self.lin_dst(h).unsqueeze(1))
        e = self.norm0(e + self.dropout(self.lin_pair_out(self.act(z))))
        out: Tensor = self.norm1(e + self.mlp(e))
        return out


class RTLayer(nn.Module):
    r"""One relational-transformer layer (post-LN, GELU node MLP):

    .. math::
        \mathbf{h}' = \mathrm{LN}\big(\mathbf{h} + \mathbf{W}\,\mathrm{RA}(\mathbf{h},
            \mathbf{e})\big), \quad
        \mathbf{h}'' = \mathrm{LN}\big(\mathbf{h}' + \mathrm{MLP}(\mathbf{h}')\big), \quad
        \mathbf{e}' = \mathrm{EdgeUpdate}(\mathbf{h}'', \mathbf{e})

    Shapes:
        - **input:** nodes :math:`(G, N, F)`, edges :math:`(G, N, N, D_e)`
        - **output:** the same
    """

    def __init__(self, c: NGTConfig, edge_update: bool) -> None:
        super().__init__()
        self.attn = RelationalAttention(c.d_node, c.d_edge, c.d_attn_hid, c.n_heads,
                                        c.modulate_v)
        self.lin = nn.Linear(c.d_node, c.d_node)
        self.mlp = nn.Sequential(nn.Linear(c.d_node, c.d_node_hid, bias=False), nn.GELU(),
                                 nn.Linear(c.d_node_hid, c.d_node), nn.Dropout(c.dropout))
        self.norm0 = nn.LayerNorm(c.d_node) if c.use_ln else nn.Identity()
        self.norm1 = nn.LayerNorm(c.d_node) if c.use_ln else nn.Identity()
        self.dropout = nn.Dropout(c.dropout)
        self.edge_update = (RTEdgeUpdate(c.d_node, c.d_edge, c.d_edge_hid, c.dropout, c.use_ln)
                            if edge_update else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform weights, zero biases, unit LayerNorms."""
        _xavier(self.lin, *list(self.mlp)[::2])
        for module in (self.attn, self.norm0, self.norm1, self.edge_update or nn.Identity()):
            reset(module)

    def forward(self, h: Tensor, e: Tensor) -> tuple[Tensor, Tensor]:
        """Updated ``(nodes, edges)``."""
        h = self.norm0(h + self.dropout(self.lin(self.attn(h, e))))
        h = self.norm1(h + self.mlp(h))
        if self.edge_update is not None:
            e = self.edge_update(h, e)
        return h, e


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
