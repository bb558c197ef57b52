"""Full-batch linear CKA from row blocks (#19): the in-memory values, memory flat in n."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

import analysis.similarity as similarity
from analysis.measures import linear_cka_matrix
from analysis.measures.streamed_cka import linear_cka_streamed
from analysis.queries import cka_matrix
from analysis.similarity import SimilarityQuery
from store import Catalog


def _reps(seed: int, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 5)) + 3.0  # off-centre: the means must come out exactly
    return [np.tanh(base @ rng.normal(size=(5, d))) + 0.5 * rng.normal(size=(n, d))
            for d in (3, 7, 4)]


def _blocks(reps: list[np.ndarray], sizes: list[int]) -> Iterator[list[np.ndarray]]:
    start = 0
    for b in sizes:
        yield [x[start:start + b] for x in reps]
        start += b


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_streamed_equals_in_memory(estimator: Literal["biased", "unbiased"]) -> None:
    reps = _reps(1, 301)
    want = linear_cka_matrix(reps, estimator)
    sizes = [1, 100, 37, 163]
    got = linear_cka_streamed(lambda: _blocks(reps, sizes), estimator, ["a", "b", "c"])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    f32 = [x.astype(np.float32) for x in reps]
    np.testing.assert_allclose(linear_cka_streamed(lambda: _blocks(f32, [301]), estimator, k=3),
                               linear_cka_matrix(f32, estimator), rtol=0, atol=1e-12)


def test_streamed_rejects_a_constant_rep() -> None:
    reps = _reps(2, 50)
    reps[1] = np.full_like(reps[1], 2.5)
    with pytest.raises(ValueError, match="layer 1 has zero variance"):
        linear_cka_streamed(lambda: _blocks(reps, [25, 25]), "unbiased",
                            ["layer 0", "layer 1", "layer 2"])


def test_large_query_reads_row_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A square block over STREAM_FULL_BYTES streams (twice) and gives the in-memory values."""
    reps = [x.astype(np.float32) for x in _reps(3, 400)]
    cat = Catalog.create(f"sqlite:///{tmp_path}/c.db", str(tmp_path / "arrays"))
    cat.create_probe_set("p", list(range(400)))
    ids = []
    for seed, x in enumerate(reps):
        model = cat.add_model("mlp", seed=seed)
        cat.add_activation(model.id, "fc", "p", x)
        ids.append(model.id)
    passes: list[int] = []
    real = similarity.lockstep

    def counting(*args: Any) -> Any:
        passes.append(1)
        return real(*args)

    monkeypatch.setattr(similarity, "lockstep", counting)
    monkeypatch.setattr(similarity, "STREAM_FULL_BYTES", 0)
    monkeypatch.setattr(similarity, "_STREAM_ROWS", 64)
    with cat:
        frame = cka_matrix(cat, ids, "fc", SimilarityQuery("linear", "unbiased"))
    assert len(passes) == 2
    np.testing.assert_allclose(frame.to_numpy(), linear_cka_matrix(reps, "unbiased"), rtol=0,
                               atol=1e-10)
