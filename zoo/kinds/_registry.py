"""The kind registry: one :class:`KindSpec` per trainable model kind, in one table.

A kind says what it reads (:data:`READS`), how its default architecture is sized to its
input, how a model is built from a stored architecture dict, the training recipe and
weight-space augmentation it trains with by default, its micro-batch policy and which
layers a recording hooks. Everything else (``zoo train``'s choices, input loading,
``zoo reproduce``'s defaults, the README's table) reads the table, so adding a kind is one
module with a :func:`register_kind` call — or, from another package, an entry point in
the ``zoo.kinds`` group naming a :class:`KindSpec` (loaded by :func:`load_plugins`, as
fsspec loads ``fsspec.specs``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from store import InvalidInputError

if TYPE_CHECKING:
    from torch import nn

    from zoo.inr.augment import WeightAugment

__all__ = [
    "ENTRY_POINT_GROUP",
    "READS",
    "ArchRequest",
    "KindSpec",
    "get_kind",
    "kind_names",
    "load_plugins",
    "register_kind",
    "unregister_kind",
]

#: What a kind reads. ``images``: a dataset's images ``[C, H, W]``; ``pixels``: the same
#: flattened ``[C * H * W]``; ``inr-weights``: a population's flat INR parameter vectors
#: ``[P]``; ``neural-graphs``: the same INRs as neural graphs (:mod:`zoo.graphs`).
READS: tuple[str, ...] = ("images", "pixels", "inr-weights", "neural-graphs")
Reads = Literal["images", "pixels", "inr-weights", "neural-graphs"]
#: The entry-point group third-party kinds register in (each entry names a KindSpec).
ENTRY_POINT_GROUP = "zoo.kinds"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class ArchRequest:
    """What a default architecture is sized to (see :attr:`KindSpec.default_arch`).

    ``population_arch`` is the SIREN architecture dict of the population (weight kinds),
    ``sample_shape`` the dataset's per-sample shape (``[H, W]`` or ``[H, W, C]``);
    ``hidden``, ``layers``, ``dropout`` and ``probe_features`` are the user's overrides
    (``None``: the kind's default).
    """

    num_classes: int
    population_arch: dict[str, Any] | None = None
    sample_shape: tuple[int, ...] = ()
    hidden: int | None = None
    layers: int | None = None
    dropout: float | None = None
    probe_features: int = 0


def _no_micro_batch(batch_size: int) -> int | None:
    return None


def _representation_layers(model: nn.Module) -> list[str]:
    """A model's own ``representation_layers()``, else every leaf module's name."""
    own = getattr(model, "representation_layers", None)
    if callable(own):
        return list(own())
    return [name for name, m in model.named_modules() if name and not list(m.children())]


@dataclass(frozen=True)
class KindSpec:
    """One trainable model kind.

    Args:
        name: the kind's name in the catalog and on the command line (lowercase,
            digits and ``-``; at most 40 characters).
        reads: what its models read, one of :data:`READS`.
        summary: one line for ``--help`` and the docs.
        default_arch: the architecture dict of a new model, sized by an
            :class:`ArchRequest`; it must rebuild the model exactly through ``build``.
        build: a freshly initialised model from an architecture dict.
        recipe: :class:`~zoo.train.TrainConfig` fields it trains with unless told
            otherwise (default: none).
        augment: the weight-space augmentation it trains with by default (``None``:
            none; only weight readers can be augmented).
        micro_batch: samples per forward/backward at a batch size (``None``: whole).
        layers: the layers a recording hooks by default, in depth order, the last
            being the output (default: the model's ``representation_layers()``).
        probe_features: whether its arch accepts probe features (neural-graph readers).
    """

    name: str
    reads: Reads
    summary: str
    default_arch: Callable[[ArchRequest], dict[str, Any]]
    build: Callable[[dict[str, Any]], nn.Module]
    recipe: Mapping[str, Any] = field(default_factory=dict)
    augment: WeightAugment | None = None
    micro_batch: Callable[[int], int | None] = _no_micro_batch
    layers: Callable[[nn.Module], list[str]] = _representation_layers
    probe_features: bool = False

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"kind name {self.name!r}: use lowercase letters, digits and "
                             f"'-', starting with a letter, at most 40 characters")
        if self.reads not in READS:
            raise ValueError(f"kind {self.name!r} reads {self.reads!r}: use one of {READS}")
        if self.augment is not None and not self.reads_weights:
            raise ValueError(f"kind {self.name!r} reads {self.reads}: only INR-weight "
                             f"readers can be augmented in weight space")
        object.__setattr__(self, "recipe", MappingProxyType(dict(self.recipe)))

    @property
    def reads_weights(self) -> bool:
        """Whether it reads INR weights (a population) rather than images (a dataset)."""
        return self.reads in ("inr-weights", "neural-graphs")

    @property
    def reads_graphs(self) -> bool:
        """Whether it reads INRs as neural graphs (a graph metanetwork)."""
        return self.reads == "neural-graphs"

    @property
    def source(self) -> str:
        """``"population"`` or ``"dataset"``: the ``zoo train`` option its input comes from."""
        return "population" if self.reads_weights else "dataset"


_KINDS: dict[str, KindSpec] = {}
_plugins_loaded = False


def register_kind(spec: KindSpec, *, replace: bool = False) -> KindSpec:
    """Add ``spec`` to the table (``replace`` to overwrite a kind of that name)."""
    if spec.name in _KINDS and not replace and _KINDS[spec.name] is not spec:
        raise ValueError(f"kind {spec.name!r} is already registered")
    _KINDS[spec.name] = spec
    return spec


def unregister_kind(name: str) -> None:
    """Remove kind ``name`` from the table (for tests and plugins that replace one)."""
    _KINDS.pop(name, None)


def load_plugins() -> list[str]:
    """Register the kinds that installed packages declare in :data:`ENTRY_POINT_GROUP`
    (once per process); returns their names. A plugin that fails to load is an error
    naming it, not a silently missing kind."""
    global _plugins_loaded
    if _plugins_loaded:
        return []
    _plugins_loaded = True
    names = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = ep.load()
        except Exception as exc:  # a broken plugin must name itself
            raise InvalidInputError(f"kind plugin {ep.name!r} ({ep.value}) failed to load: "
                                    f"{exc}") from exc
        if not isinstance(spec, KindSpec):
            raise InvalidInputError(f"kind plugin {ep.name!r} ({ep.value}) is not a KindSpec")
        register_kind(spec)
        names.append(spec.name)
    return names


def kind_names(reads: Sequence[str] | None = None) -> tuple[str, ...]:
    """Registered kinds in registration order (built-ins first), optionally only those
    reading one of ``reads``."""
    load_plugins()
    return tuple(n for n, s in _KINDS.items() if reads is None or s.reads in reads)


def get_kind(name: str) -> KindSpec:
    """The spec of kind ``name``; an unknown name is an error listing the known ones."""
    load_plugins()
    try:
        return _KINDS[name]
    except KeyError:
        raise InvalidInputError(f"unknown model kind {name!r}: use one of "
                                f"{', '.join(_KINDS)}") from None
