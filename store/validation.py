"""Checks of the values every record and write takes: kind names, labels, JSON documents.

One place, so both back-ends refuse the same inputs with the same one-line message.
"""

from __future__ import annotations

import math
import re
from typing import Any

from store.errors import InvalidInputError

__all__ = [
    "JSON_MAX_DEPTH",
    "MODEL_KINDS",
    "NAME_MAX",
    "check_json",
    "check_kind",
    "check_label",
]

#: Kinds of model the zoo itself writes (``other``: anything users bring). The catalog stores
#: any kind of the right form (:func:`check_kind`): kinds from plugins or from a newer client
#: are stored and read back, never rejected.
MODEL_KINDS = ("inr", "gmn", "ngt", "mlp", "mlp-weights", "cnn", "other")
_KIND_FORM = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


def check_kind(kind: str) -> str:
    """``kind`` if it has the form of a kind name (lowercase letters, digits and ``-``,
    starting with a letter, at most 40 characters), else ``InvalidInputError``."""
    if not isinstance(kind, str) or not _KIND_FORM.match(kind):
        raise InvalidInputError(f"model kind {kind!r}: use lowercase letters, digits and '-', "
                                f"starting with a letter, at most 40 characters (e.g. "
                                f"{', '.join(MODEL_KINDS)})")
    return kind


#: Longest name, layer or tag the catalog stores (the columns' width on PostgreSQL).
NAME_MAX = 200


def check_label(value: str, what: str, max_len: int = NAME_MAX) -> str:
    """Return ``value`` if it is a storable name (non-empty, at most ``max_len`` characters,
    no control characters), else raise ``InvalidInputError`` naming ``what`` it is.

    The same rule on SQLite and PostgreSQL (SQLite would store any length, PostgreSQL
    would fail with a database error), checked before anything is written.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{what} must not be empty")
    if len(value) > max_len:
        raise InvalidInputError(f"{what} is longer than {max_len} characters: {value[:40]}...")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInputError(f"{what} {value[:40]!r} contains control characters")
    return value


#: Deepest nesting of lists and objects a stored JSON value (an ``arch``, a config) may have.
JSON_MAX_DEPTH = 32


def check_json(value: Any, what: str) -> Any:
    """Return ``value`` if it is storable as strict JSON: only dicts with string keys,
    lists, strings, booleans, ``None`` and finite numbers, nested at most
    ``JSON_MAX_DEPTH`` deep; else raise ``InvalidInputError`` naming ``what`` it is.

    Python's ``json`` would write NaN and Infinity, which are not JSON (SQLite would
    keep text no reader accepts); deep nesting makes readers recurse without bound.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth >= JSON_MAX_DEPTH:
                raise InvalidInputError(f"{what} is nested deeper than {JSON_MAX_DEPTH} levels")
            if isinstance(item, dict):
                if not all(isinstance(k, str) for k in item):
                    raise InvalidInputError(f"{what}: object keys must be strings")
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInputError(f"{what} holds {item}: JSON numbers must be finite")
        elif not (item is None or isinstance(item, str | bool | int)):
            raise InvalidInputError(f"{what} holds a {type(item).__name__}, not a JSON value")
    return value
