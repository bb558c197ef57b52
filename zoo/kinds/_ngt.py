"""Kind ``ngt``: NG-T, the relational transformer of Kofinas et al. 2024, on neural graphs."""

from __future__ import annotations

from typing import Any

from torch import nn

from zoo.inr.augment import NG_GNN_AUGMENT
from zoo.kinds._registry import ArchRequest, KindSpec, register_kind
from zoo.kinds._weights import WEIGHT_RECIPE, graph_micro_batch, population_arch, siren_spec
from zoo.models.ngt import NGTConfig, RelationalTransformer

__all__ = ["NGT_KIND", "NG_T"]

#: The NG-T a new ``ngt`` model gets: the reference's ``model/rtransformer.yaml`` (d_node 64,
#: d_edge 32, 4 layers, 8 heads, Fourier features with sigma 1) with its MNIST script's
#: dropout 0.2; see :class:`~zoo.models.ngt.NGTConfig` for the rest.
NG_T: dict[str, Any] = {"dropout": 0.2}


def _arch(req: ArchRequest) -> dict[str, Any]:
    spec = siren_spec(population_arch(req.population_arch, "ngt"))
    overrides: dict[str, Any] = dict(NG_T)
    if req.hidden:
        overrides["d_node"] = req.hidden
    if req.layers:
        overrides["n_layers"] = req.layers
    if req.dropout:
        overrides["dropout"] = req.dropout
    if req.probe_features:
        overrides["node_dim"] = 1 + req.probe_features
    arch: dict[str, Any] = {"spec": list(spec.layer_sizes),
                            "ngt": NGTConfig.from_spec(spec, req.num_classes,
                                                       **overrides).to_dict()}
    if req.probe_features:
        arch["probe_features"] = req.probe_features
    return arch


def _build(arch: dict[str, Any]) -> nn.Module:
    return RelationalTransformer(NGTConfig.from_dict(arch["ngt"]))


NGT_KIND = register_kind(KindSpec(
    name="ngt", reads="neural-graphs",
    summary="NG-T relational transformer on INR weights as neural graphs",
    default_arch=_arch, build=_build, recipe=WEIGHT_RECIPE, augment=NG_GNN_AUGMENT,
    micro_batch=graph_micro_batch, probe_features=True))
