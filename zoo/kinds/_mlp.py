"""Kinds ``mlp`` (an MLP on image pixels) and ``mlp-weights`` (the same MLP on flattened INR
weights: the literature's weight-space baseline)."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from zoo.inr.augment import NG_GNN_AUGMENT
from zoo.kinds._registry import ArchRequest, KindSpec, register_kind
from zoo.kinds._weights import WEIGHT_RECIPE, population_arch
from zoo.models.mlp import MLPClassifier
from zoo.models.siren import SirenConfig

__all__ = ["MLP_KIND", "MLP_WEIGHTS_KIND"]


def _mlp_arch(in_features: int, req: ArchRequest) -> dict[str, Any]:
    arch: dict[str, Any] = {"in_features": in_features,
                            "hidden": [req.hidden or 256] * (req.layers or 2),
                            "num_classes": req.num_classes}
    if req.dropout:
        arch["dropout"] = req.dropout
    return arch


def _weights_arch(req: ArchRequest) -> dict[str, Any]:
    siren = SirenConfig(**population_arch(req.population_arch, "mlp-weights"))
    return _mlp_arch(siren.n_params, req)


def _pixels_arch(req: ArchRequest) -> dict[str, Any]:
    return _mlp_arch(int(np.prod(req.sample_shape)), req)


def _build(arch: dict[str, Any]) -> nn.Module:
    return MLPClassifier(arch["in_features"], tuple(arch["hidden"]), arch["num_classes"],
                         arch.get("dropout", 0.0))


MLP_WEIGHTS_KIND = register_kind(KindSpec(
    name="mlp-weights", reads="inr-weights",
    summary="MLP on flattened INR weights (the weight-space baseline)",
    default_arch=_weights_arch, build=_build, recipe=WEIGHT_RECIPE, augment=NG_GNN_AUGMENT))
MLP_KIND = register_kind(KindSpec(
    name="mlp", reads="pixels", summary="MLP on image pixels",
    default_arch=_pixels_arch, build=_build))
