"""The similarity cache never serves a value computed from replaced arrays; a missing
chunk is an error, never zeros (issue #16)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from analysis.measures import linear_cka_cross
from analysis.similarity import Rep, SimilarityQuery, compare
from store import SIMILARITY_SOURCE_KEYS, Catalog, CorruptArrayError, SimilarityRecord
from tests.conftest import ZooRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "store"))
from race_process import replacement

SCRIPT = str(Path(__file__).parents[1] / "store" / "race_process.py")
A, B = Rep(1, "fc"), Rep(2, "fc")


def _setup(cat: Catalog) -> np.ndarray:
    """Models 1 and 2 with layer fc on probe set "probe" (256 samples); returns 1's array."""
    cat.create_probe_set("probe", list(range(256)))
    for seed in (0, 1):
        cat.add_model("mlp", seed=seed)
    x = np.random.default_rng(7).normal(size=(256, 16)).astype(np.float32)
    cat.add_activation(1, "fc", "probe", x)
    cat.add_activation(2, "fc", "probe", replacement(0))
    return x


def _cka(x: np.ndarray, y: np.ndarray) -> float:
    return float(linear_cka_cross([x], [y])[0, 0])


def test_replacing_an_array_makes_old_values_unreachable(fresh_catalog: Catalog) -> None:
    cat, q = fresh_catalog, SimilarityQuery()
    x = _setup(cat)
    first = compare(cat, [A], [B], q)[0]
    assert not first.cached and first.value == pytest.approx(_cka(x, replacement(0)))
    assert compare(cat, [A], [B], q)[0].cached and first.params == q.params
    old_sha = cat.get_activation(2, "fc", "probe").sha256
    cat.add_activation(2, "fc", "probe", replacement(1), replace=True)
    # a query that raced the replace stores its value under the old array's checksum
    sha_a = cat.get_activation(1, "fc", "probe").sha256
    key_params = json.dumps({SIMILARITY_SOURCE_KEYS[0]: sha_a, SIMILARITY_SOURCE_KEYS[1]: old_sha},
                            sort_keys=True, separators=(",", ":"))
    cat.put_similarities([SimilarityRecord(1, "fc", 2, "fc", 1, "linear_cka", "biased",
                                           key_params, "1", first.value, 256)])
    second = compare(cat, [A], [B], q)[0]
    assert not second.cached and second.value == pytest.approx(_cka(x, replacement(1)))
    assert compare(cat, [A], [B], q)[0].value == second.value
    report = cat.check()
    assert len(report.stale_similarities) == 1 and not report.ok
    fixed = cat.check(fix=True)
    assert fixed.removed_similarities == report.stale_similarities and cat.check().ok
    assert compare(cat, [B], [A], q)[0].cached  # the fresh value survived the fix


@pytest.mark.slow
def test_queries_racing_replace_never_cache_stale_values(db_url: str, tmp_path: Path) -> None:
    arrays = str(tmp_path / "arrays")
    with Catalog.create(db_url, arrays) as cat:
        x = _setup(cat)
    rounds = 30
    proc = subprocess.Popen([sys.executable, SCRIPT, "replace", db_url, arrays, str(rounds),
                             str(time.time() + 2.0)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    queries, failures = 0, []
    with Catalog.open(db_url, arrays) as cat:
        while proc.poll() is None:
            for estimator in ("biased", "minibatch"):
                try:
                    compare(cat, [A], [B],
                            SimilarityQuery(estimator=estimator, options={"batch_size": 64}))
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                queries += 1
        out, err = proc.communicate()
        assert proc.returncode == 0, err
        assert len(out.split()) == rounds and queries > 0
        assert failures == [], failures[:3]
        # every cached value equals CKA of exactly the arrays named in its key
        by_sha = {cat.get_activation(1, "fc", "probe").sha256: x}
        for i in range(3):
            cat.add_activation(2, "fc", "probe", replacement(i), replace=True)
            by_sha[cat.get_activation(2, "fc", "probe").sha256] = replacement(i)
        with cat.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT params, value, estimator FROM similarities").fetchall()
        for params, value, estimator in rows:
            p = json.loads(params)
            xa, xb = by_sha[p[SIMILARITY_SOURCE_KEYS[0]]], by_sha[p[SIMILARITY_SOURCE_KEYS[1]]]
            expected = _cka(xa, xb) if estimator == "biased" else None
            if expected is not None:
                assert value == pytest.approx(expected, rel=1e-5)
        final = compare(cat, [A], [B], SimilarityQuery())[0]
        assert final.value == pytest.approx(_cka(x, replacement(2)), rel=1e-5)
        cat.check(fix=True)
        assert cat.check().ok


def test_a_missing_chunk_is_an_error_not_zeros(sqlite_catalog: Catalog, tmp_path: Path) -> None:
    cat = sqlite_catalog
    x = _setup(cat)
    with cat.writing_activation(2, "deep", "probe", (16,), chunk_rows=32) as w:
        for start in range(0, 256, 32):  # one all-zero block: still a stored chunk
            w.write(start, np.zeros((32, 16)) if start == 64 else x[start:start + 32] ** 3)
    rec = cat.get_activation(2, "deep", "probe")
    assert cat.arrays.missing_chunks(rec.array_key) == 0
    assert compare(cat, [A], [Rep(2, "deep")], SimilarityQuery(recompute=True))[0].value > 0
    chunk = Path(cat.arrays.root) / rec.array_key / "c" / "3" / "0"
    chunk.unlink()
    for estimator in ("biased", "minibatch"):
        with pytest.raises(CorruptArrayError, match=r"missing 1 of 8 chunks.*zoo check"):
            compare(cat, [A], [Rep(2, "deep")],
                    SimilarityQuery(estimator=estimator, options={"batch_size": 64},
                                    recompute=True))
    with pytest.raises(CorruptArrayError, match="zoo check"):
        cat.arrays.read_rows(rec.array_key, [0, 100])
    assert cat.check().mismatched == (rec.array_key,)


def test_cli_says_one_line_for_a_missing_chunk(zoo: ZooRunner, tmp_path: Path) -> None:
    from store import Catalog as Cat
    env = zoo.env
    with Cat.open(env["ZOO_DATABASE_URL"], env["ZOO_ARRAYS_URL"]) as cat:
        _setup(cat)
        key = cat.get_activation(2, "fc", "probe").array_key
        chunk = next(p for p in (Path(cat.arrays.root) / key / "c").rglob("*") if p.is_file())
    chunk.unlink()
    result = zoo("cka", "1", "2", ok=False)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error:"), lines
    assert "zoo check" in lines[0]


def test_out_of_range_numbers_are_one_line(zoo: ZooRunner) -> None:
    for args in (["ls", "--limit", "-1"], ["ls", "--limit", str(2**63)],
                 ["similar", "1", "--top", "-1"], ["probe", "create", "p", "--limit", "-5"],
                 ["register", "x.safetensors", "--kind", "cnn", "--seed", str(2**31)]):
        result = zoo(*args, ok=False)
        assert result.exit_code == 2 and "Traceback" not in result.output, (args, result.output)
        assert "is not in the range" in result.output, (args, result.output)
