"""The benchmark's baseline: the default GMN's architecture with PyG's ``PNAConv`` layers.

Same node and edge encoders (Fourier features, reverse-edge features), same width, edge
updates, LayerNorm/SiLU/residual and output-neuron readout as
:class:`zoo.models.gmn.GraphMetanetwork` built from ``kinds.default_arch("gmn")``; only the
message passing is PyG's generic ``PNAConv`` (scatter-based aggregation, its messages of
``[x_i, x_j, encoded edge]``) instead of the zoo's degree-bucketed ``PNALayer``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch
from torch_geometric.nn import PNAConv

from zoo.models._edge_update import EdgeUpdate
from zoo.models.gmn import GMNConfig, GraphMetanetwork

__all__ = ["PyGNGGNN"]


class PyGNGGNN(nn.Module):
    """``GraphMetanetwork(config)`` with every ``PNALayer`` replaced by PyG's ``PNAConv``.

    Shapes: a neural-graph ``Batch`` in, logits ``(G, C)`` out (as the zoo's GMN).
    """

    def __init__(self, config: GMNConfig) -> None:
        super().__init__()
        if not config.edge_hidden or config.readout != "output":
            raise ValueError("the baseline mirrors the default GMN (edge_hidden, output readout)")
        self.inner = GraphMetanetwork(config)  # encoders, norms, edge updates, readout, head
        c = config
        deg = torch.tensor(c.deg_histogram, dtype=torch.long)
        self.inner.convs = nn.ModuleList(
            PNAConv(c.hidden, c.hidden, list(c.aggregators), list(c.scalers), deg,
                    edge_dim=c.edge_hidden, towers=1, pre_layers=1, post_layers=1)
            for _ in range(c.num_layers))
        self.edge_updates: nn.ModuleList = self.inner.edge_updates

    def forward(self, data: Batch) -> Tensor:
        """Logits ``(num_graphs, num_classes)``."""
        m, c = self.inner, self.inner.config
        num_graphs = int(data.num_graphs)
        h = m._encode(data.x, m.node_fourier, m.node_encoder) + m.pos_embedding(data.pos_id)
        if m.layer_embedding is not None:
            h = h + m.layer_embedding(data.layer)
        edge_attr, edge_index = m._edge_inputs(data.edge_attr, data.edge_index)
        for t, (conv, norm) in enumerate(zip(m.convs, m.norms, strict=True)):
            update = m.dropout(m.act(norm(conv(h, edge_index, edge_attr))))
            h = h + update if c.residual else update
            if t < len(self.edge_updates):
                update_edges: EdgeUpdate = self.edge_updates[t]
                edge_attr = update_edges(h, edge_attr, edge_index[0], edge_index[1])
        return m._read_out(h, data, data.batch, num_graphs)
