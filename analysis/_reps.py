"""Which arrays a similarity query compares: representations, probe sets, layer aliases.

A :class:`Listing` holds, for the models of one query, their activation records on the
probe set chosen for it: one catalog statement per model plus one for the probe set, read
once and then used to resolve the probe set, every layer alias and every array record
(the query layer used to list the same activations four or five times).

Layer names may be aliases resolved per model from the order its activations were
recorded in: ``logits`` (last recorded layer), ``penultimate`` (the one before),
``first``, or ``all`` (every recorded layer). ``predictions`` is never compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from store import AlignmentError, Catalog, InvalidInputError, NotFoundError, ProbeSetRecord
from store.records import ActivationRecord

__all__ = [
    "NOT_COMPARED",
    "Listing",
    "Rep",
    "activation_records",
    "list_reps",
    "resolve_layers",
    "resolve_probe",
]

NOT_COMPARED = ("predictions",)


@dataclass(frozen=True, order=True)
class Rep:
    """One representation: a model's layer (activations on some probe set)."""

    model_id: int
    layer: str

    def __str__(self) -> str:
        return f"{self.model_id}:{self.layer}"


@dataclass(frozen=True)
class Listing:
    """The activations of some models on one probe set, listed once.

    Attributes:
        probe: The probe set compared on.
        by_model: Per model id, its activation records on ``probe`` in recording order.
    """

    probe: ProbeSetRecord
    by_model: dict[int, tuple[ActivationRecord, ...]]

    def layers(self, model_id: int) -> list[str]:
        """The comparable recorded layers of a model, in recording order."""
        return [a.layer for a in self.by_model[model_id] if a.layer not in NOT_COMPARED]

    def resolve(self, model_id: int, spec: str) -> list[str]:
        """Expand a layer spec (names separated by commas, or an alias) for one model."""
        layers = self.layers(model_id)
        if not layers:
            raise NotFoundError(f"model {model_id} has no activations on probe set "
                                f"{self.probe.name!r}: run `zoo record` (a trained model) or "
                                "`zoo activations import` (any model, INRs too)")
        out: list[str] = []
        for name in (s.strip() for s in spec.split(",") if s.strip()):
            if name == "all":
                out.extend(layers)
            elif name in ("logits", "last") and name not in layers:
                out.append(layers[-1])
            elif name == "penultimate" and name not in layers:
                if len(layers) < 2:
                    raise InvalidInputError(f"model {model_id} has only one recorded layer")
                out.append(layers[-2])
            elif name == "first" and name not in layers:
                out.append(layers[0])
            elif name in layers:
                out.append(name)
            else:
                raise NotFoundError(f"model {model_id} has no recorded layer {name!r} "
                                    f"(recorded: {', '.join(layers)})")
        return list(dict.fromkeys(out))

    def record(self, rep: Rep) -> ActivationRecord | None:
        """The activation record of ``rep`` on the probe set, or ``None``."""
        for a in self.by_model.get(rep.model_id, ()):
            if a.layer == rep.layer:
                return a
        return None


def _by_model(catalog: Catalog, model_ids: Sequence[int]) -> dict[int, list[ActivationRecord]]:
    """Every activation record of each model (one statement per model)."""
    out = {}
    for m in dict.fromkeys(model_ids):
        acts = catalog.list_activations(m)
        if not acts:
            catalog.get_model(m)  # an unknown id is named as such
            raise NotFoundError(f"model {m} has no recorded activations: run `zoo record` "
                                "(a trained model) or `zoo activations import` (any model)")
        out[m] = acts
    return out


def _choose_probe(catalog: Catalog, per_model: dict[int, list[ActivationRecord]],
                  probe: str | int | None) -> ProbeSetRecord:
    if probe is not None:
        return catalog.get_probe_set(probe)
    sets = {m: {a.probe_set_id for a in acts} for m, acts in per_model.items()}
    shared = set.intersection(*sets.values())
    if len(shared) == 1:
        return catalog.get_probe_set(shared.pop())
    names = {p.id: p.name for p in catalog.list_probe_sets()}
    if not shared:
        desc = "; ".join(f"model {m} on {', '.join(repr(names[p]) for p in sorted(ps))}"
                         for m, ps in sets.items())
        raise AlignmentError(f"the models share no probe set ({desc}): record them on the "
                             "same probe set to compare them")
    raise InvalidInputError("the models share several probe sets "
                            f"({', '.join(repr(names[p]) for p in sorted(shared))}): "
                            "choose one with --probe")


def list_reps(catalog: Catalog, model_ids: Sequence[int], probe: str | int | None) -> Listing:
    """List the activations of ``model_ids`` once and pick the probe set to compare on.

    The probe set is the given one, or the one all models share; ``AlignmentError`` names
    the probe sets when they share none (representations are compared only on the same
    ordered samples).
    """
    if not model_ids:
        raise InvalidInputError("no models to compare")
    per_model = _by_model(catalog, model_ids)
    chosen = _choose_probe(catalog, per_model, probe)
    return Listing(chosen, {m: tuple(a for a in acts if a.probe_set_id == chosen.id)
                            for m, acts in per_model.items()})


def resolve_probe(catalog: Catalog, model_ids: Sequence[int], probe: str | int | None) -> int:
    """The probe set id to compare on: the given one, or the one all models share."""
    if probe is not None:
        for m in model_ids:
            catalog.get_model(m)  # an unknown id is named as such
        return catalog.get_probe_set(probe).id
    return list_reps(catalog, model_ids, None).probe.id


def resolve_layers(catalog: Catalog, model_id: int, spec: str, probe_id: int) -> list[str]:
    """Expand a layer spec (names separated by commas, or an alias) for one model."""
    return list_reps(catalog, [model_id], probe_id).resolve(model_id, spec)


def activation_records(catalog: Catalog, listing: Listing, reps: Sequence[Rep]
                       ) -> dict[Rep, ActivationRecord]:
    """The activation record of every rep, checked to have one row per probe sample."""
    n = listing.probe.n_samples
    out = {}
    for rep in dict.fromkeys(reps):
        rec = listing.record(rep)
        if rec is None:  # raises, naming what is stored
            rec = catalog.get_activation(rep.model_id, rep.layer, listing.probe.id)
        if rec.shape[0] != n:
            raise AlignmentError(f"activations of {rep} have {rec.shape[0]} rows but the probe "
                                 f"set has {n} samples: re-record them")
        out[rep] = rec
    return out
