"""Neural graphs: networks as graphs with one node per neuron (see :mod:`.neural_graph`)."""

from zoo.graphs.neural_graph import (
    NeuralGraphSpec,
    batch_population,
    cnn_to_graph,
    edge_index_template,
    flat_from_mlp_params,
    graph_to_cnn,
    graph_to_mlp,
    mlp_params_from_flat,
    mlp_to_graph,
    permute_hidden,
)

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
