"""Chunked array storage (Zarr v3) and content-addressed files under one fsspec root.

Layout under the root (a local directory by default, any fsspec URL otherwise)::

    <category>/<uuid>/...           one Zarr array or group per stored object
    checkpoints/<sha256>.safetensors  content-addressed checkpoint files

Every array is chunked along its first (sample) axis so readers can stream it,
and every chunk is always written (even one equal to the fill value), so a
missing chunk is damage: reads raise :class:`CorruptArrayError` instead of
returning Zarr's fill value. Checksums are sha256 over the dtype, the shape and
the C-order bytes. An array records the process writing it (``zoo_writer``
attribute: host and pid), so `zoo check --fix` leaves an array a live writer has
not registered yet alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import fsspec
import numpy as np
import numpy.typing as npt
import zarr
from zarr.core.array_spec import ArrayConfigParams
from zarr.storage import FsspecStore, LocalStore

from store.errors import CorruptArrayError, InvalidInputError, NotFoundError
from store.keys import TEMPORARY_PREFIX, ArrayKey, check_path

__all__ = ["ArrayStore", "ArrayWriter", "array_hasher", "array_sha256", "bytes_sha256"]

#: Target bytes per chunk when a caller gives no chunk size (about 4 MiB).
TARGET_CHUNK_BYTES = 4 * 2**20
#: An unregistered array written on another host is left alone this long after its last change.
LEASE_SECONDS = 3600.0
#: An unregistered object whose writer cannot be read is left alone this long after its last change.
GRACE_SECONDS = 60.0
_WRITE_CONFIG: ArrayConfigParams = {"write_empty_chunks": True}
#: fsspec options per protocol. Object stores are shared by many processes (Dask workers,
#: `zoo check`): a cached listing would miss what another process wrote, so none is kept.
#: Credentials and endpoints come from the standard variables (AWS_ACCESS_KEY_ID,
#: AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL), never from the catalog.
STORAGE_OPTIONS: dict[str, dict[str, Any]] = {
    "s3": {"use_listings_cache": False},
    "s3a": {"use_listings_cache": False},
}


def _storage_options(url: str) -> dict[str, Any]:
    protocol = url.split("://", 1)[0] if "://" in url else "file"
    return dict(STORAGE_OPTIONS.get(protocol, {}))


def _writer_attr() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process is checking, so it is not writing that array
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def bytes_sha256(data: bytes) -> str:
    """Hex sha256 of raw bytes."""
    return hashlib.sha256(data).hexdigest()


def _header(dtype: np.dtype[Any], shape: tuple[int, ...]) -> bytes:
    return f"{np.dtype(dtype).str}|{','.join(map(str, shape))}|".encode()


def array_hasher(dtype: npt.DTypeLike, shape: tuple[int, ...]) -> Any:
    """A sha256 primed with the header of an array; feed it the C-order bytes of its rows."""
    return hashlib.sha256(_header(np.dtype(dtype), tuple(shape)))


def array_sha256(array: Any, block_rows: int = 4096) -> str:
    """sha256 of an array's dtype, shape and C-order bytes, read ``block_rows`` at a time.

    Args:
        array: a numpy array or a Zarr array of shape ``[n, ...]``.
        block_rows: rows read per step, so memory stays bounded.
    """
    digest = hashlib.sha256(_header(np.dtype(array.dtype), tuple(array.shape)))
    n = array.shape[0] if array.ndim else 1
    if array.ndim == 0:
        digest.update(np.ascontiguousarray(array[()]).tobytes())
        return digest.hexdigest()
    for start in range(0, n, block_rows):
        digest.update(np.ascontiguousarray(array[start : start + block_rows]).tobytes())
    return digest.hexdigest()


def default_chunk_rows(shape: tuple[int, ...], dtype: npt.DTypeLike) -> int:
    """Rows per chunk so a chunk is about ``TARGET_CHUNK_BYTES`` (at least 1 row)."""
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * np.dtype(dtype).itemsize
    return max(1, min(shape[0] if shape else 1, TARGET_CHUNK_BYTES // max(row_bytes, 1)))


class ArrayWriter:
    """Writes one array block by block along axis 0 and yields its checksum when closed.

    Blocks written in order from row 0 are hashed as they stream; otherwise the
    checksum is computed by reading the array back at ``close``.
    """

    def __init__(self, array: zarr.Array, key: str) -> None:
        self.array = array
        self.key = key
        self._digest = hashlib.sha256(_header(np.dtype(array.dtype), tuple(array.shape)))
        self._next_row = 0
        self._sequential = True

    def write(self, start: int, block: npt.ArrayLike) -> None:
        """Write ``block`` (``[b, *features]``) at rows ``start:start+b``."""
        data = np.ascontiguousarray(block, dtype=self.array.dtype)
        if data.shape[1:] != tuple(self.array.shape[1:]):
            raise InvalidInputError(
                f"block of shape {data.shape} does not fit array rows {self.array.shape[1:]}"
            )
        end = start + data.shape[0]
        if end > self.array.shape[0]:
            raise InvalidInputError(f"rows {start}:{end} exceed {self.array.shape[0]}")
        self.array[start:end] = data
        if self._sequential and start == self._next_row:
            self._digest.update(data.tobytes())
            self._next_row = end
        else:
            self._sequential = False

    def close(self) -> str:
        """Return the sha256 of the whole array."""
        if self._sequential and self._next_row == self.array.shape[0]:
            return self._digest.hexdigest()
        return array_sha256(self.array)


class ArrayStore:
    """Zarr arrays and checkpoint files under one root URL or directory.

    Args:
        root: a local directory path, ``file://...``, ``memory://...`` or any fsspec URL.
    """

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self.fs, self._root_path = fsspec.core.url_to_fs(self.root, **_storage_options(root))
        self.local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple)
                                else (self.fs.protocol,))
        if self.local:
            os.makedirs(self._root_path, exist_ok=True)

    def __repr__(self) -> str:
        return f"ArrayStore({self.root!r})"

    # -- keys -----------------------------------------------------------------
    @staticmethod
    def new_key(category: str) -> str:
        """A fresh, never-reused key ``<category>/<uuid>`` (:meth:`ArrayKey.new`)."""
        return str(ArrayKey.new(category))

    def _path(self, key: str) -> str:
        return f"{self._root_path}/{check_path(key)}"

    def _zarr_store(self, key: str) -> Any:
        path = self._path(key)  # validates the key
        if self.local:
            return LocalStore(path)
        return FsspecStore.from_url(f"{self.root}/{key}",
                                    storage_options=_storage_options(self.root) or None)

    # -- arrays ---------------------------------------------------------------
    def create(
        self,
        key: str,
        shape: tuple[int, ...],
        dtype: npt.DTypeLike,
        chunk_rows: int | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> ArrayWriter:
        """Create an empty array ``shape`` chunked along axis 0; write it with the writer."""
        if not shape or shape[0] < 0:
            raise InvalidInputError(f"array shape must have a sample axis, got {shape}")
        rows = chunk_rows or default_chunk_rows(shape, dtype)
        chunks = (max(1, min(rows, max(shape[0], 1))), *shape[1:])
        self.delete(key)  # replacing an array of the caller's own; a fresh key has none
        # not Zarr's overwrite=True: that makes the directory, removes it and makes it
        # again, so a `zoo check --fix` listing it in between saw no writer, decided
        # "orphan" and deleted the array being written (issue #16). Here a key's
        # directory exists without a gap from its creation until it is deleted.
        array = zarr.create_array(
            store=self._zarr_store(key), shape=shape, chunks=chunks, dtype=np.dtype(dtype),
            attributes={**(attrs or {}), "zoo_writer": _writer_attr()}, overwrite=False,
            config=_WRITE_CONFIG,
        )
        return ArrayWriter(array, key)

    def write(
        self, key: str, data: npt.ArrayLike, chunk_rows: int | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> str:
        """Store a whole in-memory array under ``key``; return its sha256."""
        arr = np.asarray(data)
        writer = self.create(key, arr.shape, arr.dtype, chunk_rows, attrs)
        rows = writer.array.chunks[0]
        for start in range(0, arr.shape[0], rows):
            writer.write(start, arr[start : start + rows])
        return writer.close()

    def open(self, key: str, mode: str = "r") -> zarr.Array:
        """Open a stored array (read-only unless ``mode='r+'``)."""
        try:
            array = zarr.open_array(store=self._zarr_store(key), mode=mode)
        except (FileNotFoundError, zarr.errors.NodeTypeValidationError, KeyError,
                json.JSONDecodeError) as exc:
            raise NotFoundError(f"no array at {self.root}/{key}: run `zoo check`") from exc
        return array.with_config(_WRITE_CONFIG) if mode != "r" else array

    def missing_chunks(self, key: str) -> int:
        """How many of the array's chunks are absent from the store (0 for a whole array)."""
        array = self.open(key)
        return int(array.nchunks - array.nchunks_initialized)

    def open_complete(self, key: str) -> zarr.Array:
        """``open(key)``, raising ``CorruptArrayError`` when any chunk is missing.

        Zarr would read a missing chunk as its fill value (zeros): that is never data.
        """
        array = self.open(key)
        missing = int(array.nchunks - array.nchunks_initialized)
        if missing:
            raise CorruptArrayError(
                f"array {self.root}/{key} is missing {missing} of {array.nchunks} chunks "
                "(damaged or being deleted): run `zoo check`")
        return array

    def read(self, key: str) -> np.ndarray:
        """Read a whole stored array into memory (``CorruptArrayError`` if chunks are missing)."""
        return np.asarray(self.open_complete(key)[...])

    def read_rows(self, key: str, rows: npt.ArrayLike) -> np.ndarray:
        """Read the given rows of a stored array, in the given order (repeats allowed).

        Only the chunks holding those rows are read, so a split of a large population
        costs its own size, not the array's.

        Shapes:
            - **rows:** ``[k]`` integer row indices
            - **output:** ``[k, *shape[1:]]``
        """
        index = np.asarray(rows, dtype=np.int64).reshape(-1)
        array = self.open_complete(key)
        if index.size and (index.min() < 0 or index.max() >= array.shape[0]):
            raise InvalidInputError(f"row indices must be in [0, {array.shape[0]}) for "
                                    f"array {key!r}")
        unique, inverse = np.unique(index, return_inverse=True)
        if unique.size == 0:
            return np.empty((0, *array.shape[1:]), dtype=array.dtype)
        return np.asarray(array.get_orthogonal_selection((unique,)))[inverse]

    def iter_blocks(self, key: str, block_rows: int | None = None) -> Iterator[np.ndarray]:
        """Yield consecutive row blocks of a stored array (chunk-sized by default)."""
        array = self.open_complete(key)
        rows = block_rows or array.chunks[0]
        for start in range(0, array.shape[0], rows):
            yield np.asarray(array[start : start + rows])

    def checksum(self, key: str) -> str:
        """Recompute the sha256 of a stored array."""
        return array_sha256(self.open(key))

    def exists(self, key: str) -> bool:
        """Whether anything is stored under ``key``."""
        return bool(self.fs.exists(self._path(key)))

    def delete(self, key: str) -> None:
        """Remove whatever is stored under ``key`` (no error when absent)."""
        if self.fs.exists(self._path(key)):
            self.fs.rm(self._path(key), recursive=True)

    def delete_orphan(self, key: str) -> bool:
        """Delete the unregistered object ``key`` unless a live writer may still be writing
        it (``being_written``); return whether something was deleted.

        Call it only where no registration can interleave (under the catalog's files
        lock): an absent key is not deleted, so nothing written after the decision is.
        """
        if not self.exists(key) or self.being_written(key):
            return False
        self.delete(key)
        return True

    def being_written(self, key: str) -> bool:
        """Whether a live process may still be writing the (unregistered) object ``key``.

        True when an array under ``key`` names a writer process on this host that is
        still running (not this one), or a writer on another host and it changed less
        than ``LEASE_SECONDS`` ago; also when no writer can be read yet (metadata
        being created, a checkpoint's temporary file) and it changed in the last
        ``GRACE_SECONDS``.
        """
        path = self._path(key)
        for _ in range(3):
            try:
                if not self.fs.exists(path):
                    return False
                return self._being_written(path, key)
            except (OSError, ValueError, AttributeError):
                continue  # the tree changed while it was listed or read: look again
        return True  # cannot tell: leave it alone

    def _being_written(self, path: str, key: str) -> bool:
        writers = []
        if not ArrayKey.parse(key).temporary:
            for meta in (p for p in self.fs.find(path, maxdepth=2) if p.endswith("/zarr.json")):
                with self.fs.open(meta, "rb") as fh:
                    attrs = json.load(fh).get("attributes") or {}
                if attrs.get("zoo_writer"):
                    writers.append((meta, attrs["zoo_writer"]))
        if not writers:  # metadata not written yet, a temporary file, or an older array
            return self._age(path) < GRACE_SECONDS
        for meta, writer in writers:
            if writer.get("host") == socket.gethostname():
                if _pid_alive(int(writer.get("pid", -1))):
                    return True
            elif self._age(meta) < LEASE_SECONDS:
                return True
        return False

    def _age(self, path: str) -> float:
        """Seconds since anything under ``path`` last changed."""
        paths = self.fs.find(path, withdirs=True) if self.fs.isdir(path) else []
        try:
            newest = max(float(self.fs.modified(p).timestamp()) for p in [path, *paths])
        except NotImplementedError:
            return float("inf")  # the filesystem keeps no times: only the writer attr counts
        return time.time() - newest

    def list_keys(self, category: str) -> list[str]:
        """Keys ``<category>/<name>`` stored directly under a category."""
        base = self._path(category)
        if not self.fs.exists(base):
            return []
        names = [posixpath.basename(p.rstrip("/")) for p in self.fs.ls(base, detail=False)]
        return sorted(str(ArrayKey(category, n)) for n in names)

    # -- files ----------------------------------------------------------------
    def put_file(self, data: bytes, category: str = "checkpoints", suffix: str = "") -> str:
        """Store bytes content-addressed as ``<category>/<sha256><suffix>``; return the key.

        The bytes land under a temporary name first and are renamed into place,
        so a crash never leaves a partial file under the final key.
        """
        key = str(ArrayKey.content(category, bytes_sha256(data), suffix))
        path = self._path(key)
        if self.fs.exists(path):
            return key
        self.fs.makedirs(self._path(category), exist_ok=True)
        tmp = f"{self._path(category)}/{TEMPORARY_PREFIX}{uuid.uuid4().hex}"
        try:
            with self.fs.open(tmp, "wb") as fh:
                fh.write(data)
            self.fs.mv(tmp, path)
        except BaseException:  # a full disk, an I/O error, Ctrl-C: leave no partial file
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
            raise
        return key

    def get_file(self, key: str) -> bytes:
        """Read a stored file's bytes."""
        try:
            with self.fs.open(self._path(key), "rb") as fh:
                return bytes(fh.read())
        except FileNotFoundError as exc:
            raise NotFoundError(f"no file at {self.root}/{key}: run `zoo check`") from exc
