"""Edge-feature update between message-passing layers, used by :mod:`zoo.models.gmn`."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

__all__ = ["EdgeUpdate"]


class EdgeUpdate(nn.Module):
    r"""Update every edge's features from itself and its two end nodes (NG-GNN's EdgeMLP).

    .. math::
        \mathbf{e}'_{ji} = \mathbf{W}_2\, \phi\big(\mathbf{W}_e \mathbf{e}_{ji}
            + \mathbf{W}_s \mathbf{h}_j + \mathbf{W}_t \mathbf{h}_i + \mathbf{b}\big)
            + \mathbf{b}_2

    Edges and nodes are only combined through their incidences, so relabelling hidden
    neurons relabels the output edges the same way.

    Args:
        edge_dim: edge feature size :math:`D_e` (in and out).
        node_dim: node feature size :math:`F`.
        activation: the non-linearity :math:`\phi`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F)`, edge features
          :math:`(|\mathcal{E}|, D_e)`, senders and receivers :math:`(|\mathcal{E}|)`
        - **output:** edge features :math:`(|\mathcal{E}|, D_e)`
    """

    def __init__(self, edge_dim: int, node_dim: int, activation: Callable[[Tensor], Tensor]
                 ) -> None:
        super().__init__()
        self.lin_edge = nn.Linear(edge_dim, edge_dim)
        self.lin_src = nn.Linear(node_dim, edge_dim, bias=False)
        self.lin_dst = nn.Linear(node_dim, edge_dim, bias=False)
        self.lin_out = nn.Linear(edge_dim, edge_dim)
        self.activation = activation

    def forward(self, x: Tensor, edge_attr: Tensor, src: Tensor, dst: Tensor) -> Tensor:
        """New edge features, in the order of ``edge_attr``/``src``/``dst``."""
        h = (self.lin_edge(edge_attr) + self.lin_src(x).index_select(0, src)
             + self.lin_dst(x).index_select(0, dst))
        out: Tensor = self.lin_out(self.activation(h))
        return out
