"""Smoke test of benchmarks/bench_cka.py at toy sizes, in-process.

Runs the benchmark's three parts with sizes far below ``--quick`` (a subprocess running
``--quick`` itself spends most of its time importing torch on a loaded 2-core machine).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_cka.py"


def test_bench_cka_parts_run(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_cka", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_cka"] = bench  # dataclasses look their module up while executing it
    sys.path.insert(0, str(BENCH.parent))  # its helpers (_bench_queries) sit beside it
    try:
        spec.loader.exec_module(bench)
    finally:
        del sys.modules["bench_cka"]
        sys.path.remove(str(BENCH.parent))
    tiny = bench.Sizes(k=3, n_pairs=40, d_pairs=4, n_large=60, d_large=8,
                       stream_ns=(40, 80), batch=20, d_stream=4, repeats=1)
    rng = np.random.default_rng(0)
    bench.bench_all_pairs(tiny, rng)
    bench.bench_large_pair(tiny, rng)
    bench.bench_streaming(tiny)
    queries = bench.QuerySizes(k=3, n=40, d=4, rbf_k=2, rbf_n=30, stream_ns=(60,), stream_d=3,
                               batch=20)
    bench.bench_queries(queries, rng, bench.measured)
    out = capsys.readouterr().out
    assert "speed-up" in out
    assert "max |difference| 0.0e+00" in out or "e-1" in out.split("max |difference|")[1][:8]
    assert "GFLOP/s" in out and "torch.matmul" in out
    assert "cold query" in out and "warm" in out and "from Zarr" in out
    assert out.count("\n") >= 10
