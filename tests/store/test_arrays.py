"""One contract suite for every array-store back-end (local directory, fsspec memory)."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from store import ArrayStore, InvalidInputError, NotFoundError, array_sha256


class ArrayStoreContract:
    """Behaviour every ArrayStore back-end must have; subclasses provide ``store``."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> ArrayStore:
        raise NotImplementedError

    def test_write_read_round_trip_and_chunks(self, store: ArrayStore) -> None:
        data = np.random.default_rng(0).normal(size=(37, 5, 3)).astype(np.float32)
        key = store.new_key("activations")
        sha = store.write(key, data, chunk_rows=8)
        assert np.array_equal(store.read(key), data)
        assert store.open(key).chunks == (8, 5, 3)
        assert sha == store.checksum(key) == array_sha256(data)
        blocks = list(store.iter_blocks(key))
        assert [b.shape[0] for b in blocks] == [8, 8, 8, 8, 5]
        assert np.array_equal(np.concatenate(blocks), data)

    def test_read_rows_in_any_order(self, store: ArrayStore) -> None:
        data = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
        key = store.new_key("populations")
        store.write(key, data, chunk_rows=8)
        rows = np.array([33, 2, 2, 17, 0, 39])
        assert np.array_equal(store.read_rows(key, rows), data[rows])
        assert store.read_rows(key, np.array([], dtype=np.int64)).shape == (0, 3)
        with pytest.raises(InvalidInputError, match="row indices"):
            store.read_rows(key, [40])
        with pytest.raises(InvalidInputError, match="row indices"):
            store.read_rows(key, [-1])

    def test_streaming_writer_out_of_order_checksum(self, store: ArrayStore) -> None:
        data = np.arange(40, dtype=np.int64).reshape(10, 4)
        key = store.new_key("populations")
        writer = store.create(key, data.shape, data.dtype, chunk_rows=3)
        writer.write(6, data[6:])
        writer.write(0, data[:6])
        assert writer.close() == array_sha256(data)
        with pytest.raises(InvalidInputError, match="exceed"):
            writer.write(9, data[:3])

    def test_checksum_depends_on_shape_and_dtype(self) -> None:
        data = np.arange(12, dtype=np.float32)
        assert array_sha256(data) != array_sha256(data.reshape(3, 4))
        assert array_sha256(data) != array_sha256(data.astype(np.float64))

    def test_files_are_content_addressed(self, store: ArrayStore) -> None:
        key = store.put_file(b"hello", suffix=".safetensors")
        assert store.put_file(b"hello", suffix=".safetensors") == key
        assert store.get_file(key) == b"hello"
        assert store.list_keys("checkpoints") == [key]

    def test_missing_and_delete(self, store: ArrayStore) -> None:
        with pytest.raises(NotFoundError, match="zoo check"):
            store.open("activations/" + uuid.uuid4().hex)
        key = store.new_key("activations")
        store.write(key, np.ones((2, 2)))
        assert store.exists(key) and store.list_keys("activations") == [key]
        store.delete(key)
        assert not store.exists(key) and store.list_keys("activations") == []

    def test_rejects_escaping_keys(self, store: ArrayStore) -> None:
        with pytest.raises(InvalidInputError):
            store.read("../etc/passwd")


class TestLocalArrayStore(ArrayStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> ArrayStore:
        return ArrayStore(str(tmp_path / "arrays"))


class TestMemoryArrayStore(ArrayStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> ArrayStore:
        return ArrayStore(f"memory://zoo-test-{uuid.uuid4().hex}")
