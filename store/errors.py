"""Exceptions raised by the store; each message says what is wrong and what to do."""

from __future__ import annotations

__all__ = [
    "AlignmentError",
    "CatalogUnavailableError",
    "ConcurrentChangeError",
    "CorruptArrayError",
    "DuplicateError",
    "InvalidInputError",
    "NotFoundError",
    "NotInitializedError",
    "SchemaOutOfDateError",
    "SchemaTooNewError",
    "ZooError",
]


class ZooError(Exception):
    """Base of every error the zoo raises on purpose; the CLI prints it as one line."""


class InvalidInputError(ZooError, ValueError):
    """A file, value or option given by the user is not acceptable."""


class NotFoundError(ZooError, LookupError):
    """A model, dataset, probe set or other catalog entry does not exist."""


class ConcurrentChangeError(ZooError):
    """Another process kept changing what this operation read: run it again."""


class CorruptArrayError(ZooError):
    """A stored array is incomplete (missing chunks) or does not match its checksum."""


class DuplicateError(ZooError):
    """The same content or name is already registered."""

    def __init__(self, message: str, existing_id: int | None = None) -> None:
        super().__init__(message)
        self.existing_id = existing_id


class AlignmentError(ZooError, ValueError):
    """Two representations are not on the same ordered probe set."""


class CatalogUnavailableError(ZooError):
    """The catalog database cannot be reached or opened."""


class NotInitializedError(ZooError):
    """The database exists but holds no zoo catalog yet."""


class SchemaOutOfDateError(ZooError):
    """The catalog's schema is older than this code: run `zoo db upgrade`."""


class SchemaTooNewError(ZooError):
    """The catalog was written by a newer version of the zoo than this one."""
