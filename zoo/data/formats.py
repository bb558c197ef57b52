"""Readers (and test writers) for the standard image-dataset file formats.

* IDX (MNIST, FashionMNIST; http://yann.lecun.com/exdb/mnist/): big-endian header
  ``0x00 0x00 <type> <ndim>``, ``ndim`` uint32 sizes, then the data; optionally gzipped.
* CIFAR-10 python batches (https://www.cs.toronto.edu/~kriz/cifar.html): pickled dicts
  with ``data`` (uint8 ``[n, 3072]``, channel-major) and ``labels``. Pickles can run
  arbitrary code, so they are read with an unpickler that only resolves the globals
  a CIFAR batch needs (NumPy array reconstruction) and rejects everything else.

Malformed files raise :class:`DataFormatError` with one line naming the file.
"""

from __future__ import annotations

import gzip
import io
import pickle
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy._core import multiarray as _multiarray
from numpy._core import numeric as _numeric

__all__ = [
    "DataFormatError",
    "read_cifar10_batch",
    "read_cifar10_dir",
    "read_idx",
    "read_mnist_dir",
    "write_cifar10_batch",
    "write_idx",
]


class DataFormatError(ValueError):
    """A dataset file is malformed (bad magic, truncated, wrong shape, forbidden pickle...)."""


_IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """File contents, gunzipped when the file starts with the gzip magic."""
    raw = path.read_bytes()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataFormatError(f"{path}: corrupt or truncated gzip data ({exc})") from None


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) into an array of its stored shape.

    Multi-byte types are returned in native byte order. Raises :class:`DataFormatError`
    on a bad magic number, unknown type code or a size that disagrees with the header.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataFormatError(f"{path}: not an IDX file (magic must start with 0x0000, "
                              f"got {data[:4].hex() or 'empty file'})")
    code, ndim = data[2], data[3]
    if code not in _IDX_TYPES:
        raise DataFormatError(f"{path}: unknown IDX type code 0x{code:02x}")
    if ndim == 0 or len(data) < 4 + 4 * ndim:
        raise DataFormatError(f"{path}: IDX header truncated or has 0 dimensions")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - 4 - 4 * ndim
    if got != expected:
        raise DataFormatError(f"{path}: IDX header says shape {dims} ({expected} bytes of "
                              f"{dtype.name}) but the file holds {got} data bytes")
    arr = np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray, gzip: bool = False) -> None:
    """Write ``array`` as an IDX file (gzipped when ``gzip``); the dtype must be an IDX type."""
    arr = np.asarray(array)
    codes = {np.dtype(t.newbyteorder("=")): c for c, t in _IDX_TYPES.items()}
    native = arr.dtype.newbyteorder("=")
    if native not in codes or not 1 <= arr.ndim <= 255:
        raise ValueError(f"IDX cannot store dtype {arr.dtype} with {arr.ndim} dimensions")
    header = bytes([0, 0, codes[native], arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes()
    payload = header + arr.astype(_IDX_TYPES[codes[native]]).tobytes()
    Path(path).write_bytes(_gzip_compress(payload) if gzip else payload)


def _gzip_compress(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _find(directory: Path, stems: tuple[str, ...]) -> Path | None:
    for stem in stems:
        for name in (stem, stem + ".gz"):
            if (directory / name).is_file():
                return directory / name
    return None


def read_mnist_dir(directory: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read the MNIST/FashionMNIST IDX files in ``directory``.

    Looks for ``train-images-idx3-ubyte``/``train-labels-idx1-ubyte`` and
    ``t10k-images-idx3-ubyte``/``t10k-labels-idx1-ubyte`` (``.gz`` or not; a ``.``
    instead of the last ``-`` is accepted). Returns ``{"train": (images uint8 [n, 28, 28],
    labels uint8 [n]), "test": ...}`` for the splits present.
    """
    directory = Path(directory)
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        img = _find(directory, (f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"))
        lab = _find(directory, (f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels.idx1-ubyte"))
        if img is None and lab is None:
            continue
        if img is None or lab is None:
            raise FileNotFoundError(f"{directory}: {split} split has only one of its images "
                                    f"and labels files")
        images, labels = read_idx(img), read_idx(lab)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DataFormatError(f"{img}: expected uint8 images [n, H, W], got "
                                  f"{images.dtype} {images.shape}")
        if labels.shape != images.shape[:1]:
            raise DataFormatError(f"{lab}: {labels.shape} labels for {images.shape[0]} images")
        splits[split] = (images, labels)
    if not splits:
        raise FileNotFoundError(f"{directory}: no MNIST IDX files (train-images-idx3-ubyte[.gz])")
    return splits


class _CifarUnpickler(pickle.Unpickler):
    """Resolves only the globals a CIFAR batch (or NumPy array) pickle needs."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}")
        return _ALLOWED_GLOBALS[(module, name)]


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 protocol-2 pickles use it for bytes; latin-1 only."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"forbidden _codecs.encode(..., {encoding!r})")
    return text.encode("latin1")


# NumPy array reconstruction under its pre-2.0 (numpy.core) and 2.x (numpy._core) names,
# plus the plain builtins; anything else in a pickle (os.system, eval, ...) is refused.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
    ("builtins", "dict"): dict, ("builtins", "list"): list, ("builtins", "bytes"): bytes,
    ("builtins", "str"): str, ("builtins", "int"): int, ("_codecs", "encode"): _latin1_encode,
    **{(f"{pkg}.multiarray", "_reconstruct"): _multiarray._reconstruct
       for pkg in ("numpy.core", "numpy._core")},
    **{(f"{pkg}.numeric", "_frombuffer"): _numeric._frombuffer  # type: ignore[attr-defined]
       for pkg in ("numpy.core", "numpy._core")},
}


def read_cifar10_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch safely.

    Returns images ``uint8 [n, 32, 32, 3]`` (HWC) and labels ``int64 [n]`` in ``0..9``.
    Raises :class:`DataFormatError` for forbidden pickle globals, truncated pickles or
    missing/mis-shaped ``data``/``labels``.
    """
    path = Path(path)
    try:
        obj = _CifarUnpickler(io.BytesIO(_read_bytes(path)), encoding="bytes").load()
    except DataFormatError:
        raise
    except Exception as exc:  # any unpickling failure is a format problem
        raise DataFormatError(f"{path}: not a readable CIFAR batch pickle "
                              f"({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise DataFormatError(f"{path}: CIFAR batch must be a dict, got {type(obj).__name__}")
    entries = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    data, labels = entries.get("data"), entries.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * 32 * 32:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataFormatError(f"{path}: 'data' must be uint8 [n, 3072], got {desc}")
    try:
        label_arr = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        label_arr = np.empty(0, dtype=np.int64)
    if labels is None or label_arr.shape != (data.shape[0],):
        raise DataFormatError(f"{path}: 'labels' must list one int per image "
                              f"({data.shape[0]} images)")
    if label_arr.size and (label_arr.min() < 0 or label_arr.max() > 9):
        raise DataFormatError(f"{path}: labels must be in 0..9, got {label_arr.min()}.."
                              f"{label_arr.max()}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return images, label_arr


def write_cifar10_batch(path: str | Path, images: np.ndarray,
                        labels: np.ndarray | Sequence[int],
                        batch_label: str = "test batch") -> None:
    """Write a CIFAR-10 python batch (used by tests): images ``uint8 [n, 32, 32, 3]``."""
    imgs = np.asarray(images)
    if imgs.dtype != np.uint8 or imgs.ndim != 4 or imgs.shape[1:] != (32, 32, 3):
        raise ValueError(f"images must be uint8 [n, 32, 32, 3], got {imgs.dtype} {imgs.shape}")
    obj = {b"batch_label": batch_label.encode(), b"labels": [int(v) for v in labels],
           b"data": imgs.transpose(0, 3, 1, 2).reshape(len(imgs), -1),
           b"filenames": [f"{i}.png".encode() for i in range(len(imgs))]}
    Path(path).write_bytes(pickle.dumps(obj, protocol=2))


def read_cifar10_dir(directory: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read ``data_batch_1..5`` (as ``"train"``) and ``test_batch`` (as ``"test"``).

    ``directory`` may be the extracted ``cifar-10-batches-py`` folder or its parent.
    Splits whose files are all absent are omitted; a partial train split is an error.
    """
    directory = Path(directory)
    if (directory / "cifar-10-batches-py").is_dir():
        directory = directory / "cifar-10-batches-py"
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, names in (("train", [f"data_batch_{i}" for i in range(1, 6)]),
                         ("test", ["test_batch"])):
        present = [directory / n for n in names if (directory / n).is_file()]
        if not present:
            continue
        if len(present) != len(names):
            missing = sorted(set(names) - {p.name for p in present})
            raise FileNotFoundError(f"{directory}: {split} split is missing {', '.join(missing)}")
        parts = [read_cifar10_batch(p) for p in present]
        splits[split] = (np.concatenate([p[0] for p in parts]),
                         np.concatenate([p[1] for p in parts]))
    if not splits:
        raise FileNotFoundError(f"{directory}: no CIFAR-10 batches (data_batch_1, test_batch)")
    return splits
