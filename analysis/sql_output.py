"""Output of query results: CSV and JSON text, parquet files (used by ``zoo sql``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from store.errors import InvalidInputError

__all__ = ["FILE_FORMATS", "frame_records", "frame_to_text", "write_frame"]

FILE_FORMATS = ("csv", "json", "parquet")


def _plain(value: Any, is_json: bool = False) -> Any:
    if isinstance(value, np.ndarray | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    value = value.item() if isinstance(value, np.generic) else value
    if value is None or value is pd.NaT or value is pd.NA or (
            isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return json.loads(value) if is_json and isinstance(value, str) else value


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-ready dicts: nulls → None, times → ISO text, lists → lists."""
    json_cols = set(frame.attrs.get("json_columns", ()))
    cols = [str(c) for c in frame.columns]
    return [{c: _plain(v, c in json_cols) for c, v in zip(cols, row, strict=True)}
            for row in frame.itertuples(index=False, name=None)]


def frame_to_text(frame: pd.DataFrame, fmt: str) -> str:
    """``frame`` as ``csv`` (header + rows) or ``json`` (an array of row objects) text."""
    records = frame_records(frame)
    if fmt == "json":
        rows = ",\n".join(json.dumps(r, default=str) for r in records)
        return f"[\n{rows}\n]\n" if records else "[]\n"
    if fmt != "csv":
        raise InvalidInputError(f"unknown text format {fmt!r}: use csv or json")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([str(c) for c in frame.columns])
    for r in records:
        writer.writerow([json.dumps(v, default=str) if isinstance(v, list | dict) else v
                         for v in r.values()])
    return buf.getvalue()


def write_frame(frame: pd.DataFrame, fmt: str, out: Path | None = None) -> None:
    """Write ``frame`` as ``csv``/``json`` to ``out`` or stdout, or as ``parquet`` to ``out``.

    Parquet is binary and needs ``out``; DuckDB writes it (no pyarrow needed).
    """
    if fmt not in FILE_FORMATS:
        raise InvalidInputError(f"unknown format {fmt!r}: use one of {', '.join(FILE_FORMATS)}")
    if fmt == "parquet":
        if out is None:
            raise InvalidInputError("parquet output is binary: give --out FILE.parquet")
        with duckdb.connect(":memory:") as conn:
            conn.from_df(frame).write_parquet(str(out))
        return
    text = frame_to_text(frame, fmt)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        _write_whole(Path(out), text)


def _write_whole(target: Path, text: str) -> None:
    """Write ``text`` to ``target``: a regular file (or a new one) through a temporary file
    renamed into place, so a full disk leaves no partial output; anything else (a pipe,
    a device) directly."""
    if target.exists() and not target.is_file():
        target.write_text(text, encoding="utf-8")
        return
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
