"""Reading user activation files: ``.npy``, ``.npz`` and ``.safetensors`` (no pickles)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from store import InvalidInputError

__all__ = ["load_array_file"]


def load_array_file(path: Path, key: str | None = None) -> np.ndarray:
    """Load one numeric array ``[n, ...]`` from a file; ``key`` picks one of several.

    Object arrays (pickles) are never loaded.
    """
    if not path.exists():
        raise InvalidInputError(f"no such file: {path}")
    try:
        if path.suffix == ".npy":
            arrays = {"": np.load(path, allow_pickle=False)}
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        elif path.suffix == ".safetensors":
            arrays = load_file(str(path))
        else:
            raise InvalidInputError(f"{path}: unsupported type {path.suffix!r}: "
                                    "use .npy, .npz or .safetensors")
    except (ValueError, OSError, SafetensorError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"{path}: cannot read it as {path.suffix} ({first})") from exc
    if key is not None:
        if key not in arrays:
            raise InvalidInputError(f"{path} has no array {key!r} (has: {', '.join(arrays)})")
        array = arrays[key]
    elif len(arrays) == 1:
        array = next(iter(arrays.values()))
    else:
        raise InvalidInputError(f"{path} holds several arrays ({', '.join(arrays)}): "
                                "choose one with --key")
    if array.ndim < 1 or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise InvalidInputError(f"{path}: expected a numeric array [n, ...], got "
                                f"{array.dtype} {array.shape}")
    return array
