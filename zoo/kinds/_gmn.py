"""Kind ``gmn``: NG-GNN, the graph metanetwork of Kofinas et al. 2024, on neural graphs."""

from __future__ import annotations

from typing import Any

from torch import nn

from zoo.inr.augment import NG_GNN_AUGMENT
from zoo.kinds._registry import ArchRequest, KindSpec, register_kind
from zoo.kinds._weights import WEIGHT_RECIPE, graph_arch, graph_micro_batch
from zoo.models.gmn import GMNConfig, GraphMetanetwork

__all__ = ["GMN_KIND", "NG_GNN"]

#: The GMN a new model gets: NG-GNN as its reference implementation configures it for INR
#: classification (mkofinas/neural-graphs, ``model/pna.yaml`` with ``rev_edge_features`` and
#: dropout 0.2 as its MNIST script runs it), with one measured change: residual connections
#: around each layer (the reference has none), without which a 20-step toy task (classify
#: SIRENs by their output bias) ended at loss 1.36 instead of 0.01. Stored models keep the
#: arch they were built with.
NG_GNN: dict[str, Any] = {
    "hidden": 32, "num_layers": 4, "aggregators": ("mean", "min", "max", "std"),
    "scalers": ("identity", "amplification"), "activation": "silu", "residual": True,
    "receiver": True, "edge_gate": True, "rff_freqs": 128, "rff_sigma": 3.0,
    "edge_hidden": 32, "edge_updates": True, "reverse_features": "transpose",
    "readout": "output", "readout_layers": 2, "dropout": 0.2, "bidirectional": True,
}


def _arch(req: ArchRequest) -> dict[str, Any]:
    return graph_arch(req, "gmn", GMNConfig, NG_GNN, width=("hidden", "edge_hidden"),
                      depth="num_layers")


def _build(arch: dict[str, Any]) -> nn.Module:
    return GraphMetanetwork(GMNConfig.from_dict(arch["gmn"]))


GMN_KIND = register_kind(KindSpec(
    name="gmn", reads="neural-graphs",
    summary="NG-GNN graph metanetwork on INR weights as neural graphs",
    default_arch=_arch, build=_build, recipe=WEIGHT_RECIPE, augment=NG_GNN_AUGMENT,
    micro_batch=graph_micro_batch, probe_features=True))
