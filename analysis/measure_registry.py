"""The similarity-measure registry: one :class:`MeasureSpec` per measure, in one table.

Everything that depends on which measures exist reads this table: the query layer
(:mod:`analysis.similarity`: validation, parameters, the cache key), the CLI (``--measure``
choices, each parameter's flag and default) and the README's measure table. Adding a
measure is one module with an all-pairs function plus one :func:`register_measure` call
(or one entry in :data:`BUILTIN`).

An **all-pairs function** computes a block of pairs in batched linear algebra::

    fn(xs, ys=None, *, estimator, labels_x=None, labels_y=None, **params) -> (kx, ky)

``xs``/``ys`` are sequences of ``(n, ...)`` arrays of the same ``n`` samples; ``ys=None``
asks for the square ``(kx, kx)`` matrix of ``xs`` (each pair once, mirrored). Bad input
raises ``ValueError`` naming the representation by its label. The function takes plain
arrays and returns a plain array, so a block can be shipped to another process.

The module imports nothing heavy (functions are named as ``"module:attribute"`` and
imported on first use), so command-line start-up can read the table for free.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "BUILTIN",
    "MeasureSpec",
    "ParamSpec",
    "measure_names",
    "measure_spec",
    "measure_specs",
    "register_measure",
]

#: Bumped whenever a measure's numbers could change; part of every cache key.
DEFAULT_CODE_VERSION = "1"


@dataclass(frozen=True)
class ParamSpec:
    """One numeric parameter of a measure.

    Attributes:
        name: Keyword passed to the all-pairs function and key in the cache's ``params``.
        default: Value used when the query does not give one.
        help: One line for ``--help`` (the flag is ``--`` + name with ``-`` for ``_``).
        minimum: Smallest accepted value (inclusive), or ``None``.
        maximum: Largest accepted value (inclusive), or ``None``.
        exclusive_minimum: Whether ``minimum`` itself is rejected.
        estimators: The estimators the parameter applies to (``None``: all of them); it is
            left out of the cache key for the others.
    """

    name: str
    default: float | int
    help: str
    minimum: float | int | None = None
    maximum: float | int | None = None
    exclusive_minimum: bool = False
    estimators: tuple[str, ...] | None = None

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--sigma-fraction``."""
        return "--" + self.name.replace("_", "-")

    def parse(self, value: Any) -> float | int:
        """``value`` as this parameter's type, range-checked (``ValueError`` naming the flag)."""
        kind = type(self.default)
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.flag} must be a number, got {value!r}") from None
        if kind is int and number != value:
            raise ValueError(f"{self.flag} must be an integer, got {value!r}")
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"{self.flag} must be finite, got {value!r}")
        low = self.minimum
        if low is not None and (number < low or (self.exclusive_minimum and number == low)):
            bound = f"> {low}" if self.exclusive_minimum else f">= {low}"
            raise ValueError(f"{self.flag} must be {bound}, got {value!r}")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"{self.flag} must be <= {self.maximum}, got {value!r}")
        return number


@dataclass(frozen=True)
class MeasureSpec:
    """Everything the zoo knows about one similarity measure.

    Attributes:
        name: Canonical name (``--measure``), also stored in the cache as ``cache_name``.
        title: Human-readable name for tables and plots.
        kind: ``"similarity"`` (larger = more alike) or ``"distance"`` (0 = identical).
        symmetric: Whether ``m(X, Y) == m(Y, X)``; the cache then stores each pair once.
        invariances: Transforms of either representation that leave the value unchanged.
        estimators: Accepted estimators, the default first.
        all_pairs: ``"module:function"`` of the all-pairs function (see the module docs).
        params: The measure's numeric parameters.
        streamed: Estimators computed from row blocks streamed from the store instead.
        stream_pairs: ``"module:function"`` taking an iterable of minibatches (each a list
            of ``k`` arrays) and ``labels``, returning ``(k, k)``; for ``streamed``.
        stream_full: ``"module:function"`` computing the square block of a full-batch
            estimator from row blocks, ``fn(blocks, estimator, labels, k) -> (k, k)`` with
            ``blocks()`` yielding the same aligned row blocks on each call; the query uses it
            when the reps would not fit in memory comfortably (``None``: never).
        cache_name: The ``measure`` column of cached values (never change it once used).
        aliases: Other accepted names (``linear`` for ``linear_cka``).
        reference: The paper defining it.
        code_version: Part of the cache key; bump when the numbers could change.
        family: A group of measures with a CLI shortcut (``cka``: ``zoo cka`` and
            ``zoo cka-matrix`` offer these, by their first alias).
    """

    name: str
    title: str
    kind: Literal["similarity", "distance"]
    symmetric: bool
    invariances: tuple[str, ...]
    estimators: tuple[str, ...]
    all_pairs: str
    params: tuple[ParamSpec, ...] = ()
    streamed: tuple[str, ...] = ()
    stream_pairs: str | None = None
    stream_full: str | None = None
    cache_name: str = ""
    aliases: tuple[str, ...] = ()
    reference: str = ""
    code_version: str = DEFAULT_CODE_VERSION
    family: str = ""

    def __post_init__(self) -> None:
        if not self.cache_name:
            object.__setattr__(self, "cache_name", self.name)
        if not self.estimators:
            raise ValueError(f"measure {self.name!r} declares no estimator")
        if self.streamed and self.stream_pairs is None:
            raise ValueError(f"measure {self.name!r} streams but names no stream_pairs")

    @property
    def default_estimator(self) -> str:
        """The estimator used when a query names none."""
        return self.estimators[0]

    def resolve(self, estimator: str | None, given: Mapping[str, Any]) -> tuple[str, dict]:
        """The estimator and the full, checked parameters of a query (``ValueError`` if bad).

        Unknown parameter names are rejected; missing ones take their defaults; parameters
        that do not apply to the estimator are dropped (so they stay out of the cache key).
        """
        est = self.default_estimator if estimator is None else estimator
        if est not in self.estimators:
            raise ValueError(f"{self.name} has no estimator {est!r}: use "
                             f"{'|'.join(self.estimators)}")
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            names = ", ".join(known) or "none"
            raise ValueError(f"{self.name} has no parameter {unknown[0]!r} (its parameters: "
                             f"{names})")
        out: dict[str, Any] = {}
        for p in self.params:
            if p.estimators is None or est in p.estimators:
                out[p.name] = p.parse(given.get(p.name, p.default))
        return est, out

    def params_json(self, params: Mapping[str, Any]) -> str:
        """Canonical JSON of resolved parameters: the ``params`` part of the cache key."""
        return json.dumps(dict(params), sort_keys=True, separators=(",", ":"))

    def function(self, which: Literal["all_pairs", "stream_pairs", "stream_full"] = "all_pairs"
                 ) -> Callable[..., Any]:
        """The all-pairs (or streaming) function, imported on first use."""
        target = getattr(self, which)
        if target is None:
            raise ValueError(f"measure {self.name!r} has no {which} function")
        return _load(target)

    def pairs(self, xs: Sequence[Any], ys: Sequence[Any] | None = None, *, estimator: str,
              params: Mapping[str, Any], labels_x: Sequence[str] | None = None,
              labels_y: Sequence[str] | None = None) -> Any:
        """Values of every pair of a block: ``(kx, ky)``, or ``(kx, kx)`` when ``ys`` is None.

        ``params`` must be resolved (:meth:`resolve`); the work is the all-pairs function's.
        """
        return self.function()(xs, ys, estimator=estimator, labels_x=labels_x,
                               labels_y=labels_y, **params)


@functools.cache
def _load(target: str) -> Callable[..., Any]:
    """Import ``"module:attribute"``."""
    module, _, attr = target.partition(":")
    fn: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    return fn


_CKA_INVARIANCES = ("orthogonal transform", "isotropic scaling", "translation")
_KORNBLITH = ("Kornblith et al., Similarity of Neural Network Representations Revisited, "
              "ICML 2019")

#: The measures that ship with the zoo, in the order the CLI lists them.
BUILTIN: tuple[MeasureSpec, ...] = (
    MeasureSpec(
        name="linear_cka", title="linear CKA", kind="similarity", symmetric=True,
        invariances=_CKA_INVARIANCES, estimators=("biased", "unbiased", "minibatch"),
        all_pairs="analysis.measures.cka_matrix:linear_cka_pairs",
        params=(ParamSpec("batch_size", 256, "Rows per minibatch for --estimator minibatch.",
                          minimum=4, estimators=("minibatch",)),),
        streamed=("minibatch",),
        stream_pairs="analysis.measures.minibatch_cka:minibatch_cka_matrix",
        stream_full="analysis.measures.streamed_cka:linear_cka_streamed",
        aliases=("linear",), reference=_KORNBLITH + "; minibatch: Nguyen et al., ICLR 2021",
        family="cka",
    ),
    MeasureSpec(
        name="rbf_cka", title="RBF CKA", kind="similarity", symmetric=True,
        invariances=_CKA_INVARIANCES, estimators=("biased", "unbiased"),
        all_pairs="analysis.measures.rbf_cka:rbf_cka_pairs",
        params=(ParamSpec("sigma_fraction", 0.8, "RBF bandwidth as a fraction of the median "
                          "pairwise distance.", minimum=0.0, exclusive_minimum=True),),
        aliases=("rbf",), reference=_KORNBLITH, family="cka",
    ),
    MeasureSpec(
        name="procrustes", title="Procrustes distance", kind="distance", symmetric=True,
        invariances=_CKA_INVARIANCES, estimators=("exact",),
        all_pairs="analysis.measures.procrustes:procrustes_pairs",
        reference="Ding, Denain, Steinhardt, Grounding Representation Similarity with "
                  "Statistical Testing, NeurIPS 2021",
    ),
    MeasureSpec(
        name="svcca", title="SVCCA", kind="similarity", symmetric=True,
        invariances=_CKA_INVARIANCES, estimators=("exact",),
        all_pairs="analysis.measures.svcca:svcca_pairs",
        params=(ParamSpec("keep", 0.99, "SVCCA: fraction of the variance the kept singular "
                          "directions explain.", minimum=0.0, maximum=1.0,
                          exclusive_minimum=True),),
        reference="Raghu, Gilmer, Yosinski, Sohl-Dickstein, SVCCA, NeurIPS 2017",
    ),
    MeasureSpec(
        name="mknn", title="mutual k-NN alignment", kind="similarity", symmetric=True,
        invariances=("orthogonal transform", "isotropic scaling"), estimators=("exact",),
        all_pairs="analysis.measures.mutual_knn:mutual_knn_pairs",
        params=(ParamSpec("k", 10, "mknn: neighbours per sample.", minimum=1),),
        reference="Huh, Cheung, Wang, Isola, The Platonic Representation Hypothesis, ICML 2024",
    ),
)

_REGISTRY: dict[str, MeasureSpec] = {}
_ALIASES: dict[str, str] = {}


def register_measure(spec: MeasureSpec) -> None:
    """Add a measure to the registry (``ValueError`` if its name or an alias is taken)."""
    for name in (spec.name, *spec.aliases):
        if name in _REGISTRY or name in _ALIASES:
            raise ValueError(f"a measure named {name!r} is already registered")
    if any(s.cache_name == spec.cache_name for s in _REGISTRY.values()):
        raise ValueError(f"cache name {spec.cache_name!r} is already used by another measure")
    _REGISTRY[spec.name] = spec
    _ALIASES.update({a: spec.name for a in spec.aliases})


for _spec in BUILTIN:
    register_measure(_spec)


def measure_names(aliases: bool = False) -> list[str]:
    """Registered measure names in registration order (with their aliases if asked)."""
    names = list(_REGISTRY)
    return names + list(_ALIASES) if aliases else names


def measure_specs(family: str | None = None) -> list[MeasureSpec]:
    """Registered specs in registration order, optionally only one ``family``."""
    return [s for s in _REGISTRY.values() if family is None or s.family == family]


def measure_spec(name: str) -> MeasureSpec:
    """The spec of a measure by name or alias (``ValueError`` listing the names if unknown)."""
    spec = _REGISTRY.get(_ALIASES.get(name, name))
    if spec is None:
        raise ValueError(f"unknown measure {name!r}: use {'|'.join(measure_names())}")
    return spec
