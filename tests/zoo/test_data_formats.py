"""IDX and CIFAR-10 readers: round trips through the writers, malformed files rejected."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

from zoo.data.formats import (
    DataFormatError,
    read_cifar10_batch,
    read_cifar10_dir,
    read_idx,
    read_mnist_dir,
    write_cifar10_batch,
    write_idx,
)

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path: Path, dtype: type, compress: bool) -> None:
    arr: np.ndarray = (RNG.random((4, 3, 5)) * 100).astype(dtype)
    path = tmp_path / "x.idx"
    write_idx(path, arr, gzip=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, arr)


def test_idx_header_is_the_mnist_one(tmp_path: Path) -> None:
    write_idx(tmp_path / "l", np.arange(3, dtype=np.uint8))
    assert (tmp_path / "l").read_bytes() == bytes.fromhex("00000801" "00000003" "000102")
    write_idx(tmp_path / "i", np.zeros((2, 28, 28), np.uint8))
    assert (tmp_path / "i").read_bytes()[:16] == bytes.fromhex(
        "00000803" "00000002" "0000001c" "0000001c")


def _idx_bytes(arr: np.ndarray, tmp_path: Path) -> bytes:
    write_idx(tmp_path / "tmp", arr)
    return (tmp_path / "tmp").read_bytes()


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda b: b[:-1], "holds 11 data bytes"),
    (lambda b: b + b"\x00", "holds 13 data bytes"),
    (lambda b: b"\x01" + b[1:], "not an IDX file"),
    (lambda b: b[:2] + b"\x07" + b[3:], "unknown IDX type code 0x07"),
    (lambda b: b[:6], "header truncated"),
    (lambda b: b"", "empty file"),
])
def test_idx_malformed(tmp_path: Path, mutate: object, message: str) -> None:
    good = _idx_bytes(np.zeros((3, 4), np.uint8), tmp_path)
    bad = tmp_path / "bad-idx"
    bad.write_bytes(mutate(good))  # type: ignore[operator]
    with pytest.raises(DataFormatError, match=message) as info:
        read_idx(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_idx_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(_idx_bytes(np.ones((50, 50), np.uint8), tmp_path))
    (tmp_path / "t.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="gzip"):
        read_idx(tmp_path / "t.gz")


def test_write_idx_rejects_unsupported_dtype(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))


def _write_mnist(directory: Path, n_train: int, n_test: int, compress: bool) -> None:
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(directory / (f"{prefix}-images-idx3-ubyte" + ".gz" * compress),
                  RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8), gzip=compress)
        write_idx(directory / (f"{prefix}-labels-idx1-ubyte" + ".gz" * compress),
                  RNG.integers(0, 10, n, dtype=np.uint8), gzip=compress)


@pytest.mark.parametrize("compress", [False, True])
def test_read_mnist_dir(tmp_path: Path, compress: bool) -> None:
    _write_mnist(tmp_path, 6, 4, compress)
    splits = read_mnist_dir(tmp_path)
    assert sorted(splits) == ["test", "train"]
    assert splits["train"][0].shape == (6, 28, 28) and splits["test"][1].shape == (4,)
    np.testing.assert_array_equal(splits["test"][1],
                                  read_idx(next(tmp_path.glob("t10k-labels*"))))


def test_read_mnist_dir_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no MNIST"):
        read_mnist_dir(tmp_path)
    _write_mnist(tmp_path, 5, 2, False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(DataFormatError, match=r"\(4,\) labels for 5 images"):
        read_mnist_dir(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="train split"):
        read_mnist_dir(tmp_path)


def test_cifar_round_trip(tmp_path: Path) -> None:
    images = RNG.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 1])
    write_cifar10_batch(tmp_path / "b", images, labels)
    got_images, got_labels = read_cifar10_batch(tmp_path / "b")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    # the on-disk layout is CIFAR's: rows of 1024 red, then green, then blue values
    with (tmp_path / "b").open("rb") as f:
        raw = pickle.load(f, encoding="bytes")  # our own file, written just above
    np.testing.assert_array_equal(raw[b"data"][1, :1024], images[1, :, :, 0].ravel())


def test_cifar_python2_style_pickle(tmp_path: Path) -> None:
    """The published batches were pickled by Python 2 NumPy: numpy.core names, byte strings."""
    data = RNG.integers(0, 256, (2, 3072), dtype=np.uint8)
    blob = pickle.dumps({b"data": data, b"labels": [4, 2]}, protocol=2)
    blob = blob.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"numpy.core.multiarray" in blob
    (tmp_path / "py2").write_bytes(blob)
    images, labels = read_cifar10_batch(tmp_path / "py2")
    assert images.shape == (2, 32, 32, 3) and labels.tolist() == [4, 2]
    np.testing.assert_array_equal(images[0, 0, 0], data[0, [0, 1024, 2048]])


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize("payload", [
    {b"data": _Evil(), b"labels": []},
    {b"data": np.zeros((1, 3072), np.uint8), b"labels": [_Evil()]},
])
def test_cifar_rejects_forbidden_globals(tmp_path: Path, payload: dict[bytes, object]) -> None:
    for protocol in (2, 4, 5):
        (tmp_path / "evil").write_bytes(pickle.dumps(payload, protocol=protocol))
        with pytest.raises(DataFormatError, match=r"forbidden global (posix|os|nt)\.system"):
            read_cifar10_batch(tmp_path / "evil")


def test_cifar_rejects_builtins_eval_and_codecs_misuse(tmp_path: Path) -> None:
    (tmp_path / "e").write_bytes(b"cbuiltins\neval\n(V1+1\ntR.")
    with pytest.raises(DataFormatError, match=r"forbidden global builtins\.eval"):
        read_cifar10_batch(tmp_path / "e")
    (tmp_path / "c").write_bytes(b"c_codecs\nencode\n(Vx\nVrot13\ntR.")
    with pytest.raises(DataFormatError, match=r"forbidden _codecs\.encode"):
        read_cifar10_batch(tmp_path / "c")


@pytest.mark.parametrize(("payload", "message"), [
    ([1, 2], "must be a dict"),
    ({b"labels": [1]}, "'data' must be uint8"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [1, 2]}, "'data' must be uint8"),
    ({b"data": np.zeros((2, 100), np.uint8), b"labels": [1, 2]}, "'data' must be uint8"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]}, "one int per image"),
    ({b"data": np.zeros((2, 3072), np.uint8)}, "one int per image"),
    ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, "0..9"),
])
def test_cifar_malformed_content(tmp_path: Path, payload: object, message: str) -> None:
    (tmp_path / "m").write_bytes(pickle.dumps(payload, protocol=4))
    with pytest.raises(DataFormatError, match=message):
        read_cifar10_batch(tmp_path / "m")


def test_cifar_truncated_pickle(tmp_path: Path) -> None:
    write_cifar10_batch(tmp_path / "b", np.zeros((3, 32, 32, 3), np.uint8), [1, 2, 3])
    blob = (tmp_path / "b").read_bytes()
    (tmp_path / "b").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataFormatError, match="not a readable CIFAR batch"):
        read_cifar10_batch(tmp_path / "b")


def test_read_cifar10_dir(tmp_path: Path) -> None:
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 batches"):
        read_cifar10_dir(root)
    labels = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        labels[name] = np.full(2, i % 10)
        write_cifar10_batch(root / name, np.full((2, 32, 32, 3), i, np.uint8), labels[name])
    splits = read_cifar10_dir(tmp_path)  # the parent folder works too
    assert splits["train"][0].shape == (10, 32, 32, 3)
    assert splits["train"][1].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert splits["test"][0][0, 0, 0].tolist() == [5, 5, 5]
    (root / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        read_cifar10_dir(root)
