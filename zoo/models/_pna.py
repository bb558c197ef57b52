"""Principal neighbourhood aggregation layer used by :mod:`zoo.models.gmn`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from zoo.native.pna import block_stats, block_stats_backward

__all__ = ["AGGREGATORS", "SCALERS", "DegreeBuckets", "PNALayer"]

AGGREGATORS = ("mean", "min", "max", "std", "sum")
SCALERS = ("identity", "amplification", "attenuation", "linear", "inverse_linear")


@dataclass(frozen=True)
class DegreeBuckets:
    """Edges grouped so that neighbourhood reductions are dense tensor reductions.

    Receivers are ordered by (in-degree, node id); the edges of each receiver
    are contiguous in that order, so the ``n`` receivers of in-degree ``d``
    own one block of ``n * d`` edges that views as ``(n, d, F)``. Neural
    graphs have a handful of distinct degrees, so this beats segment/scatter
    reductions by a wide margin on CPU. Build once per batch, share across layers.

    Attributes:
        perm: ``(E,)`` edge permutation into bucket order.
        src: ``(E,)`` sender of each edge, in bucket order.
        dst: ``(E,)`` receiver of each edge, in bucket order.
        deg: ``(N,)`` in-degree of each node.
        inverse: ``(N,)`` row of each node in the bucket-ordered node list.
        sizes: ``(degree, count)`` per distinct in-degree, ascending.
    """

    perm: Tensor
    src: Tensor
    dst: Tensor
    deg: Tensor
    inverse: Tensor
    sizes: tuple[tuple[int, int], ...]

    @classmethod
    def from_edge_index(cls, edge_index: Tensor, num_nodes: int) -> DegreeBuckets:
        """Bucket the edges ``(2, E)`` of a graph with ``num_nodes`` nodes by receiver."""
        deg = torch.bincount(edge_index[1], minlength=num_nodes)
        node_order = torch.argsort(deg, stable=True)
        inverse = torch.empty_like(node_order)
        inverse[node_order] = torch.arange(num_nodes, device=deg.device)
        perm = torch.argsort(inverse[edge_index[1]], stable=True)
        degrees, counts = torch.unique_consecutive(deg[node_order], return_counts=True)
        sizes = tuple(zip(degrees.tolist(), counts.tolist(), strict=True))
        return cls(perm, edge_index[0, perm], edge_index[1, perm], deg, inverse, sizes)


def _transpose_matmul(a: Tensor, b: Tensor, chunk: int = 1024) -> Tensor:
    """``a.T @ b`` for tall ``a`` ``(E, p)``, ``b`` ``(E, q)``, as a chunked ``bmm``.

    BLAS handles this skinny shape (huge inner dimension) badly on CPU; the
    chunked batch product is a single memory pass.
    """
    full = a.shape[0] // chunk * chunk
    out = torch.bmm(a[:full].view(-1, chunk, a.shape[1]).transpose(1, 2),
                    b[:full].view(-1, chunk, b.shape[1])).sum(dim=0)
    return out + a[full:].t() @ b[full:]


class _AddEdgeTerm(torch.autograd.Function):
    """``msg += edge_attr @ weight.T`` in place, with a fast weight gradient."""

    @staticmethod
    def forward(ctx: Any, msg: Tensor, edge_attr: Tensor, weight: Tensor) -> Tensor:
        ctx.save_for_backward(edge_attr, weight)
        ctx.mark_dirty(msg)
        return msg.addmm_(edge_attr, weight.t())

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        edge_attr, weight = ctx.saved_tensors
        grad_attr = grad @ weight if ctx.needs_input_grad[1] else None
        grad_weight = _transpose_matmul(grad, edge_attr) if ctx.needs_input_grad[2] else None
        return grad, grad_attr, grad_weight


class _BlockStats(torch.autograd.Function):
    """Sum, min, max and sum of squares of ``(n, d, F)`` over ``d``, with a lean backward.

    Unrequested statistics come back as ``(n, 0)`` placeholders. The gradient of min/max
    goes to the first extreme among ties, as for ``torch.min/max(x, dim)``. Both passes
    are one compiled kernel each where available (:mod:`zoo.native.pna`); autograd's own
    backward of these reductions costs several extra passes over the edges.
    """

    @staticmethod
    def forward(ctx: Any, block: Tensor, want_min: bool, want_max: bool,
                want_sq: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        total, mn, mx, sq, i_min, i_max = block_stats(block, want_min, want_max, want_sq)
        ctx.save_for_backward(block, i_min, i_max)
        ctx.wants = (want_min, want_max, want_sq)
        return total, mn, mx, sq

    @staticmethod
    def backward(ctx: Any, g_sum: Tensor | None, g_min: Tensor | None, g_max: Tensor | None,
                 g_sq: Tensor | None) -> tuple[Tensor, None, None, None]:
        block, i_min, i_max = ctx.saved_tensors
        want_min, want_max, want_sq = ctx.wants
        grad = block_stats_backward(block, g_sum, g_min if want_min else None,
                                    g_max if want_max else None, g_sq if want_sq else None,
                                    i_min, i_max)
        return grad, None, None, None


def _block_stats(
    block: Tensor, want_min: bool, want_max: bool, want_sq: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """:class:`_BlockStats` when gradients are needed, else the kernels without indices."""
    if block.requires_grad:
        out: tuple[Tensor, Tensor, Tensor, Tensor] = _BlockStats.apply(
            block, want_min, want_max, want_sq)
        return out
    return block_stats(block, want_min, want_max, want_sq, with_indices=False)[:4]


class PNALayer(nn.Module):
    r"""Principal neighbourhood aggregation with edge features, from the
    `"Principal Neighbourhood Aggregation for Graph Nets"
    <https://arxiv.org/abs/2004.05718>`_ paper, written for large edge counts.

    Same family as :class:`torch_geometric.nn.conv.PNAConv` with one pre- and
    one post-layer, with two differences: the message omits PNAConv's receiver
    term (for mean/min/max it only shifts every message to :math:`i` by the
    same vector, and :math:`\mathbf{h}_i` enters the update directly), and
    neighbourhoods are reduced densely per in-degree bucket
    (:class:`DegreeBuckets`) with hand-written backward passes, so a layer
    touches far fewer :math:`(|\mathcal{E}|, F)` tensors (~4x faster forward,
    ~7x forward+backward than PNAConv on 256 SIREN graphs on CPU):

    .. math::
        \mathbf{m}_{ji} = (\mathbf{W}_s \mathbf{h}_j + [\mathbf{W}_r \mathbf{h}_i] + \mathbf{b})
            \odot (1 + [\mathbf{W}_g \boldsymbol{\epsilon}_{ji}])
            + \mathbf{W}_e \boldsymbol{\epsilon}_{ji}, \qquad
        \mathbf{h}'_i = \mathbf{W}_o \Big[\mathbf{h}_i \,\Big\|\,
            \bigoplus_{s \in S} \bigoplus_{a \in A} s(d_i)\,
            a_{j \in \mathcal{N}(i)} \mathbf{m}_{ji}\Big] + \mathbf{b}_o

    with :math:`s(d) \in \{1, \log(d+1)/\delta, \delta/\log(d+1), d/\bar d, \bar d/d\}`,
    :math:`\delta`, :math:`\bar d` the mean log-degree and degree of ``deg_histogram``.
    Aggregating an empty neighbourhood gives 0.

    Args:
        channels: node feature size :math:`F` (in and out).
        edge_dim: edge feature size :math:`D`.
        aggregators: subset of ``mean, min, max, std, sum``.
        scalers: subset of ``identity, amplification, attenuation, linear, inverse_linear``.
        deg_histogram: in-degree histogram of the training graphs.
        edge_gate: the FiLM-style factor :math:`1 + \mathbf{W}_g \boldsymbol{\epsilon}_{ji}`
            (NG-GNN's ``modulate_edges``).
        receiver: the receiver term :math:`\mathbf{W}_r \mathbf{h}_i` inside the modulated
            message (NG-GNN's message of ``[x_i, x_j]``); without a gate it would only shift
            all messages to :math:`i` alike.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F)`, edge features
          :math:`(|\mathcal{E}|, D)` in ``buckets.perm`` order, a
          :class:`DegreeBuckets` of the graph
        - **output:** node features :math:`(|\mathcal{V}|, F)`
    """

    def __init__(self, channels: int, edge_dim: int, aggregators: tuple[str, ...],
                 scalers: tuple[str, ...], deg_histogram: tuple[int, ...],
                 edge_gate: bool = False, receiver: bool = False) -> None:
        super().__init__()
        self.aggregators, self.scalers = tuple(aggregators), tuple(scalers)
        self.lin_src = nn.Linear(channels, channels)
        self.lin_dst = nn.Linear(channels, channels, bias=False) if receiver else None
        self.lin_edge = nn.Linear(edge_dim, channels, bias=False)
        # Optional multiplicative (FiLM-style) edge modulation, as NG-GNN's modulate_edges:
        # the message then carries sender state x edge weight, like a neuron's input w_ji a_j.
        self.lin_gate = nn.Linear(edge_dim, channels, bias=False) if edge_gate else None
        self.lin_out = nn.Linear((1 + len(aggregators) * len(scalers)) * channels, channels)
        hist = torch.tensor(deg_histogram, dtype=torch.float64)
        d = torch.arange(len(hist), dtype=torch.float64)
        self.avg_log = float((hist * torch.log(d + 1)).sum() / hist.sum()) or 1.0
        self.avg_lin = float((hist * d).sum() / hist.sum()) or 1.0
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise the three linear maps."""
        for lin in (self.lin_src, self.lin_edge, self.lin_out):
            lin.reset_parameters()
        for optional in (self.lin_gate, self.lin_dst):
            if optional is not None:
                optional.reset_parameters()

    def forward(self, x: Tensor, edge_attr: Tensor, buckets: DegreeBuckets) -> Tensor:
        """Update node features; ``edge_attr`` must be in ``buckets.perm`` order."""
        msg = self.lin_src(x).index_select(0, buckets.src)
        if self.lin_dst is not None:
            msg = msg + torch.nn.functional.linear(x, self.lin_dst.weight).index_select(
                0, buckets.dst)
        if self.lin_gate is not None:  # m_ji = (W_s h_j) * (1 + W_g e_ji) + W_e e_ji
            msg = msg * (1.0 + torch.nn.functional.linear(edge_attr, self.lin_gate.weight))
        msg = _AddEdgeTerm.apply(msg, edge_attr, self.lin_edge.weight)
        channels, rows = x.shape[1], []
        wants = ("min" in self.aggregators, "max" in self.aggregators, "std" in self.aggregators)
        blocks = msg.split([d * n for d, n in buckets.sizes])
        for (d, n), flat in zip(buckets.sizes, blocks, strict=True):
            if d == 0:
                rows.append(msg.new_zeros(n, len(self.aggregators) * channels))
                continue
            total, mn, mx, sq = _block_stats(flat.view(n, d, channels), *wants)
            mean = total / d
            parts = {"sum": total, "mean": mean, "min": mn, "max": mx}
            if "std" in self.aggregators:
                parts["std"] = torch.sqrt(torch.relu(sq / d - mean * mean) + 1e-5)
            rows.append(torch.cat([parts[name] for name in self.aggregators], dim=1))
        agg = torch.cat(rows).index_select(0, buckets.inverse)
        # lin_out([x || s_1 agg || s_2 agg ...]) with per-node scalars s_k(d_i), computed as
        # W_x x + sum_k s_k * (W_k agg) so the wide concatenation is never built.
        weight, num_scalers = self.lin_out.weight, len(self.scalers)
        w_agg = weight[:, channels:].reshape(channels, num_scalers, -1)
        per_scaler = (agg @ w_agg.permute(2, 1, 0).reshape(agg.shape[1], -1)).view(
            -1, num_scalers, channels)
        scales = self._scales(buckets.deg).to(agg).unsqueeze(2)
        result: Tensor = torch.addmm(self.lin_out.bias, x, weight[:, :channels].t())
        return result + (per_scaler * scales).sum(dim=1)

    def _scales(self, deg: Tensor) -> Tensor:
        """Degree scalers ``(|V|, len(scalers))``; degrees clamped to >= 1 as in PNA."""
        d = deg.clamp(min=1).to(torch.float64)
        table = {"identity": torch.ones_like(d), "amplification": torch.log(d + 1) / self.avg_log,
                 "attenuation": self.avg_log / torch.log(d + 1), "linear": d / self.avg_lin,
                 "inverse_linear": self.avg_lin / d}
        return torch.stack([table[name] for name in self.scalers], dim=1)

    def extra_repr(self) -> str:
        """Key hyperparameters."""
        return (f"channels={self.lin_src.in_features}, edge_dim={self.lin_edge.in_features}, "
                f"aggregators={list(self.aggregators)}, scalers={list(self.scalers)}")
