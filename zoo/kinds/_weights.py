"""What the INR-weight kinds share: the neural-graph layout of a SIREN population and
the training recipe scaled from NG-GNN's."""

from __future__ import annotations

from typing import Any, Protocol

from zoo.graphs import NeuralGraphSpec
from zoo.kinds._registry import ArchRequest
from zoo.models.siren import SirenConfig

__all__ = [
    "WEIGHT_RECIPE",
    "graph_arch",
    "graph_micro_batch",
    "population_arch",
    "siren_spec",
]

#: Training settings of the weight kinds by default (:class:`~zoo.train.TrainConfig` fields):
#: NG-GNN's ``base.yaml`` (AdamW with AMSGrad, weight decay 5e-4, gradient clipping 10, a
#: linear warm-up) scaled to a zoo of thousands rather than 45,000 training INRs: warm-up
#: over 100 updates instead of 1,000 (2 epochs of mnist-5k at batch 64; 1,000 would be 18).
WEIGHT_RECIPE: dict[str, Any] = {"weight_decay": 5e-4, "grad_clip": 10.0, "amsgrad": True,
                                 "warmup_steps": 100}


def siren_spec(arch: dict[str, Any]) -> NeuralGraphSpec:
    """The neural-graph layout of INRs with the SIREN architecture dict ``arch``."""
    return NeuralGraphSpec(SirenConfig(**arch).layer_sizes)


def graph_micro_batch(batch_size: int) -> int | None:
    """Samples per forward/backward of a graph kind at ``batch_size`` (``None``: whole).

    GMN batches of 64 neural graphs make edge tensors of ~37 MB that stream from memory on
    every elementwise pass; pieces of 16 stay in cache and trained 1.5x faster here with
    the same updates (gradients accumulated).
    """
    if batch_size > 16 and batch_size % 16 == 0:
        return 16
    return None


def population_arch(request_arch: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    """The population's SIREN arch a weight kind is sized to (an error when missing)."""
    if request_arch is None:
        raise ValueError(f"kind {kind!r} reads INR weights: its arch needs the population's")
    return request_arch


class GraphConfig(Protocol):
    """What a graph metanetwork's config class offers (GMNConfig, NGTConfig)."""

    @classmethod
    def from_spec(cls, spec: NeuralGraphSpec, num_classes: int, **overrides: Any) -> Any: ...


def graph_arch(req: ArchRequest, kind: str, config: type[GraphConfig],
               defaults: dict[str, Any], width: tuple[str, ...], depth: str
               ) -> dict[str, Any]:
    """The arch dict of a neural-graph kind: ``{"spec": layer sizes, kind: config dict}``
    (plus ``probe_features``), the config built from the population's graph layout with
    ``defaults`` under the request's overrides (``hidden`` sets every field in ``width``,
    ``layers`` the field ``depth``; probe features widen the node inputs)."""
    spec = siren_spec(population_arch(req.population_arch, kind))
    overrides = dict(defaults)
    if req.hidden:
        overrides.update(dict.fromkeys(width, req.hidden))
    if req.layers:
        overrides[depth] = req.layers
    if req.dropout:
        overrides["dropout"] = req.dropout
    if req.probe_features:
        overrides["node_dim"] = 1 + req.probe_features
    arch: dict[str, Any] = {
        "spec": list(spec.layer_sizes),
        kind: config.from_spec(spec, req.num_classes, **overrides).to_dict()}
    if req.probe_features:
        arch["probe_features"] = req.probe_features
    return arch
