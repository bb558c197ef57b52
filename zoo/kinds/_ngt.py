"""Kind ``ngt``: NG-T, the relational transformer of Kofinas et al. 2024, on neural graphs."""

from __future__ import annotations

from typing import Any

from torch import nn

from zoo.inr.augment import NG_GNN_AUGMENT
from zoo.kinds._registry import ArchRequest, KindSpec, register_kind
from zoo.kinds._weights import WEIGHT_RECIPE, graph_arch, graph_micro_batch
from zoo.models.ngt import NGTConfig, RelationalTransformer

__all__ = ["NGT_KIND", "NG_T"]

#: The NG-T a new ``ngt`` model gets: the reference's ``model/rtransformer.yaml`` (d_node 64,
#: d_edge 32, 4 layers, 8 heads, Fourier features with sigma 1) with its MNIST script's
#: dropout 0.2; see :class:`~zoo.models.ngt.NGTConfig` for the rest.
NG_T: dict[str, Any] = {"dropout": 0.2}


def _arch(req: ArchRequest) -> dict[str, Any]:
    return graph_arch(req, "ngt", NGTConfig, NG_T, width=("d_node",), depth="n_layers")


def _build(arch: dict[str, Any]) -> nn.Module:
    return RelationalTransformer(NGTConfig.from_dict(arch["ngt"]))


NGT_KIND = register_kind(KindSpec(
    name="ngt", reads="neural-graphs",
    summary="NG-T relational transformer on INR weights as neural graphs",
    default_arch=_arch, build=_build, recipe=WEIGHT_RECIPE, augment=NG_GNN_AUGMENT,
    micro_batch=graph_micro_batch, probe_features=True))
