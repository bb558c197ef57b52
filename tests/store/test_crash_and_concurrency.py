"""kill -9 in the middle of writes loses nothing; concurrent writers all succeed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from store import Catalog

WORKER = str(Path(__file__).with_name("writer_process.py"))


def _prepare(db_url: str, arrays: str) -> None:
    with Catalog.create(db_url, arrays) as cat:
        cat.create_probe_set("probe", list(range(512)))


def _spawn(db_url: str, arrays: str, worker: int, n: int, start_at: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, WORKER, db_url, arrays, str(worker), str(n),
                             str(start_at)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.slow
def test_kill_9_leaves_catalog_consistent(db_url: str, tmp_path: Path) -> None:
    arrays = str(tmp_path / "arrays")
    _prepare(db_url, arrays)
    for round_, delay in enumerate([0.0, 0.03, 0.11, 0.37]):
        proc = _spawn(db_url, arrays, round_, 10_000, 0)
        assert proc.stdout is not None
        proc.stdout.readline()  # it has registered one model: now it is writing the next
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with Catalog.open(db_url, arrays) as cat:
        assert cat.count_models() > 0, "the writer should have registered something"
        report = cat.check()
        assert report.missing == () and report.mismatched == ()
        for rec in cat.list_activations():  # every registered array is whole and readable
            assert np.isfinite(cat.arrays.read(rec.array_key)).all()
            assert rec.shape == (512, 64)
        fixed = cat.check(fix=True)
        assert set(fixed.removed) == set(report.orphans)
        assert cat.check().ok


@pytest.mark.slow
def test_concurrent_writers_all_succeed(db_url: str, tmp_path: Path) -> None:
    arrays = str(tmp_path / "arrays")
    _prepare(db_url, arrays)
    n_workers, per_worker = 4, 6
    start_at = time.time() + 2.0  # all start writing at the same moment
    procs = [_spawn(db_url, arrays, w, per_worker, start_at) for w in range(n_workers)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    ids = [int(x) for out, _ in outputs for x in out.split()]
    assert len(ids) == len(set(ids)) == n_workers * per_worker
    with Catalog.open(db_url, arrays) as cat:
        assert cat.count_models() == n_workers * per_worker
        for w in range(n_workers):
            assert len(cat.list_models(tag=f"w{w}")) == per_worker
        assert len(cat.list_activations(probe="probe")) == n_workers * per_worker
        assert cat.check().ok
        assert np.isfinite([cat.get_metrics(i)[0].value for i in ids]).all()
