"""The layers of NG-T (:mod:`zoo.models.ngt`): relational attention, edge update, layer."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn.inits import reset

if TYPE_CHECKING:
    from zoo.models.ngt import NGTConfig

__all__ = ["NodeMean", "RTEdgeUpdate", "RTLayer", "RelationalAttention"]


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
