"""Validated click parameter types: every number, name and path is checked at the door.

One place decides what the CLI accepts, the same for SQLite and PostgreSQL
catalogs: integers fit the catalog's 32-bit columns (ids >= 1, seeds >= 0,
counts such as ``--limit`` and ``--top`` >= 1), floats are finite, names are
1-200 characters, and output paths are checked before any work starts (their
directory exists and is writable, the path is not a directory). A bad value is
one ``Error: Invalid value for ...`` line, exit 2, before anything is read or written.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import click

from store.validation import NAME_MAX as STORE_NAME_MAX

__all__ = [
    "COUNT",
    "FINITE",
    "ID",
    "INDEX",
    "INT32_MAX",
    "NAME",
    "NONNEG",
    "NONNEG_FLOAT",
    "OUT_DIR",
    "OUT_FILE",
    "POSITIVE",
    "PROBABILITY",
    "SEED",
    "BoundedText",
    "FiniteFloat",
    "OutputPath",
]

#: The largest value a catalog integer column holds on both back-ends (PostgreSQL INTEGER).
INT32_MAX = 2**31 - 1
#: Longest name or layer the catalog stores (the store owns the bound).
NAME_MAX = STORE_NAME_MAX


class _Range(click.IntRange):
    """``click.IntRange`` with a metavar saying what the number is."""

    def __init__(self, name: str, min: int, max: int = INT32_MAX) -> None:
        super().__init__(min, max)
        self.name = name


#: A catalog id (model, dataset, probe set, ...): 1 .. 2^31-1.
ID = _Range("ID", 1)
#: A random seed: 0 .. 2^31-1 (stored in a 32-bit column; torch and numpy accept it).
SEED = _Range("SEED", 0)
#: A count (``--limit``, ``--top``, sizes, epochs, steps, workers): 1 .. 2^31-1.
COUNT = _Range("N", 1)
#: A row index or a count that may be zero (``--index``, ``--patience``): 0 .. 2^31-1.
NONNEG = INDEX = _Range("N", 0)


class FiniteFloat(click.ParamType):
    """A finite float, optionally bounded: ``low < x`` (or ``<=``) and ``x <= high``.

    Args:
        low: lower bound, or ``None``.
        high: upper bound, or ``None``.
        low_open: whether ``x == low`` is refused.
        high_open: whether ``x == high`` is refused.
    """

    name = "NUMBER"

    def __init__(self, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> None:
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> float:
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(x):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.low is not None and (x < self.low or (self.low_open and x == self.low)):
            self.fail(f"{value} must be {'>' if self.low_open else '>='} {self.low}", param, ctx)
        if self.high is not None and (x > self.high or (self.high_open and x == self.high)):
            self.fail(f"{value} must be {'<' if self.high_open else '<='} {self.high}", param, ctx)
        return x


#: Any finite float.
FINITE = FiniteFloat()
#: A finite float >= 0 (weight decay).
NONNEG_FLOAT = FiniteFloat(0.0)
#: A finite float > 0 (learning rates, frequencies, fractions of a scale).
POSITIVE = FiniteFloat(0.0, low_open=True)
#: A probability in [0, 1) (dropout).
PROBABILITY = FiniteFloat(0.0, 1.0, high_open=True)


class BoundedText(click.ParamType):
    """A name: stripped, 1..``max_len`` characters, no control characters."""

    name = "NAME"

    def __init__(self, max_len: int = NAME_MAX) -> None:
        self.max_len = max_len

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> str:
        text = str(value).strip()
        if not text:
            self.fail("must not be empty", param, ctx)
        if len(text) > self.max_len:
            self.fail(f"{len(text)} characters: at most {self.max_len}", param, ctx)
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            self.fail(f"{text[:40]!r} contains control characters", param, ctx)
        return text


#: A catalog name or layer name (1-200 characters).
NAME = BoundedText()


class OutputPath(click.ParamType):
    """A path the command will write: checked before any work starts.

    For a file: not an existing directory, and its parent directory exists and is
    writable. For a directory (``directory=True``): not an existing file, and the
    nearest existing ancestor is a writable directory (the command creates the rest).
    Returns a :class:`pathlib.Path`.
    """

    name = "PATH"

    def __init__(self, directory: bool = False) -> None:
        self.directory = directory

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> Path:
        if isinstance(value, Path):
            path = value
        else:
            text = str(value)
            if not text.strip() or "\x00" in text:
                self.fail(f"{text!r} is not a path", param, ctx)
            path = Path(text).expanduser()
        if self.directory:
            if path.exists() and not path.is_dir():
                self.fail(f"{path} exists and is not a directory", param, ctx)
            parent = path
            while not parent.exists() and parent != parent.parent:
                parent = parent.parent
        else:
            if path.is_dir():
                self.fail(f"{path} is a directory: give a file name", param, ctx)
            parent = path.parent if str(path.parent) else Path(".")
            if not parent.exists():
                self.fail(f"directory {parent} does not exist", param, ctx)
        if not parent.is_dir():
            self.fail(f"{parent} is not a directory", param, ctx)
        if not os.access(parent, os.W_OK | os.X_OK):
            self.fail(f"cannot write in {parent}", param, ctx)
        return path


#: A file a command writes (``--out`` of a plot, ``zoo sql --out``).
OUT_FILE = OutputPath()
#: A directory a command writes into (created if missing).
OUT_DIR = OutputPath(directory=True)
