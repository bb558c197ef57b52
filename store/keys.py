"""Array keys: the one owner of where a stored object lives in the array store.

A key is ``<category>/<name>`` for a stored object (an array, a group of arrays, a
checkpoint file), or ``<category>/<name>/<part>`` for one array of a group:

==================  =========================================  ===========================
category            name                                       parts
==================  =========================================  ===========================
``datasets``        a fresh uuid                               ``images``, ``labels``,
                                                               ``splits``
``populations``     a fresh uuid                               ``params``, ``fit_metrics``
``activations``     a fresh uuid                               (none: one array)
``checkpoints``     the content's sha256 plus a suffix         (none: one file)
==================  =========================================  ===========================

Build keys with :meth:`ArrayKey.new` / :meth:`ArrayKey.content` / :meth:`ArrayKey.child`
and take them apart with :meth:`ArrayKey.parse`; nothing else splits a key on ``/``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from store.errors import InvalidInputError

__all__ = [
    "CATEGORIES",
    "DATASET_PARTS",
    "FIT_METRICS",
    "PARAMS",
    "TEMPORARY_PREFIX",
    "ArrayKey",
    "check_path",
]

#: The top-level folders of the array store, one per kind of stored object.
CATEGORIES = ("datasets", "populations", "activations", "checkpoints")
#: The arrays of a dataset group: images ``[n, ...]``, labels ``[n]``, split codes ``[n]``.
DATASET_PARTS = ("images", "labels", "splits")
#: A population's flat INR parameters ``[n_inrs, n_params]`` ...
PARAMS = "params"
#: ... and, beside them, each INR's ``(mse, psnr)`` ``[n_inrs, 2]``.
FIT_METRICS = "fit_metrics"
#: Names starting with this are files being written (renamed into place when complete).
TEMPORARY_PREFIX = ".tmp-"


def _check_component(value: str, what: str, key: str) -> None:
    if not value or "/" in value or value in (".", ".."):
        raise InvalidInputError(f"invalid array key {key!r}: bad {what} {value!r}")


@dataclass(frozen=True)
class ArrayKey:
    """A parsed key ``<category>/<name>[/<part>]`` (``str(key)`` gives the text back).

    Args:
        category: the top-level folder (one of :data:`CATEGORIES` for stored objects).
        name: the object's name in its category (a uuid, or a sha256 plus suffix).
        part: one array of a group (``images``, ``params``, ...), or ``None``.
    """

    category: str
    name: str
    part: str | None = None

    def __post_init__(self) -> None:
        text = "/".join(p for p in (self.category, self.name, self.part) if p is not None)
        _check_component(self.category, "category", text)
        _check_component(self.name, "name", text)
        if self.part is not None:
            _check_component(self.part, "part", text)

    def __str__(self) -> str:
        return f"{self.category}/{self.name}" + (f"/{self.part}" if self.part else "")

    @classmethod
    def new(cls, category: str, part: str | None = None) -> ArrayKey:
        """A fresh, never-reused key ``<category>/<uuid>[/<part>]``."""
        return cls(category, uuid.uuid4().hex, part)

    @classmethod
    def content(cls, category: str, digest: str, suffix: str = "") -> ArrayKey:
        """The content-addressed key ``<category>/<digest><suffix>`` of a file."""
        return cls(category, f"{digest}{suffix}")

    @classmethod
    def parse(cls, key: str) -> ArrayKey:
        """Inverse of ``str``; raises ``InvalidInputError`` for anything else."""
        parts = key.split("/")
        if len(parts) not in (2, 3):
            raise InvalidInputError(f"invalid array key {key!r}: expected "
                                    "<category>/<name>[/<part>]")
        return cls(*parts)

    @property
    def root(self) -> ArrayKey:
        """The stored object this key belongs to: ``<category>/<name>``."""
        return ArrayKey(self.category, self.name)

    def child(self, part: str) -> ArrayKey:
        """Array ``part`` of this key's group (a sibling when this key has a part)."""
        return ArrayKey(self.category, self.name, part)

    @property
    def temporary(self) -> bool:
        """Whether this names a file still being written (see :data:`TEMPORARY_PREFIX`)."""
        return self.name.startswith(TEMPORARY_PREFIX)


def check_path(key: str) -> str:
    """``key`` if it stays inside the array store's root (no ``..``, not absolute).

    Accepts any depth (a bare category too), for the store's own listing and writing.
    """
    if ".." in key.split("/") or key.startswith("/"):
        raise InvalidInputError(f"invalid array key {key!r}")
    return key
