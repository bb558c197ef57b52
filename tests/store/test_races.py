"""Races between real processes cannot leave a row pointing at a missing file (issue #16).

* ``zoo rm`` while the same checkpoint bytes are registered again: the file
  deletion and the registration serialise on the files lock, so the surviving
  row always has its content-addressed file.
* ``zoo check --fix`` during an import: the array being written names its live
  writer, so it is left alone, and the import's row lands on a whole array. (It
  failed about 1 run in 7 while arrays were created with Zarr's ``overwrite=True``,
  which makes the directory, removes it and makes it again: a fixer listing the key
  in that gap saw no writer and deleted the array being written.)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from store import Catalog, bytes_sha256

SCRIPT = str(Path(__file__).with_name("race_process.py"))
sys.path.insert(0, str(Path(__file__).parent))
from race_process import round_blob  # noqa: E402


def _spawn(mode: str, db_url: str, arrays: str, rounds: int, start_at: float
           ) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, SCRIPT, mode, db_url, arrays, str(rounds),
                             str(start_at)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.slow
def test_remove_racing_reregistration_keeps_every_file(db_url: str, tmp_path: Path) -> None:
    arrays, rounds = str(tmp_path / "arrays"), 6
    with Catalog.create(db_url, arrays) as cat:  # removing activations widens rm's window
        cat.create_probe_set("probe", list(range(1024)))
        rng = np.random.default_rng(0)
        for r in range(rounds):
            model = cat.add_model("mlp", checkpoint=round_blob(r))
            cat.add_activation(model.id, "fc", "probe",
                               rng.normal(size=(1024, 16)).astype(np.float32))
    start_at = time.time() + 3.0  # both processes are importing until then
    procs = [_spawn(mode, db_url, arrays, rounds, start_at) for mode in ("remove", "reregister")]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    with Catalog.open(db_url, arrays) as cat:
        models = cat.list_models()
        assert len(models) == rounds  # each round's bytes registered again
        for m in models:  # every surviving row has its file, with its content
            assert cat.arrays.exists(m.checkpoint_key or ""), f"model {m.id} lost its file"
            assert bytes_sha256(cat.checkpoint_bytes(m.id)) == m.sha256
        report = cat.check()
        assert report.missing == () and report.mismatched == () and report.ok, report


@pytest.mark.slow
def test_check_fix_during_import_deletes_nothing_being_written(db_url: str,
                                                               tmp_path: Path) -> None:
    arrays = str(tmp_path / "arrays")
    with Catalog.create(db_url, arrays) as cat:
        cat.create_probe_set("probe", list(range(2048)))
    fixer = _spawn("fix", db_url, arrays, 0, 0)
    importer = _spawn("import", db_url, arrays, 12, time.time() + 2.0)
    out, err = importer.communicate(timeout=300)
    (tmp_path / "arrays" / ".stop").touch()
    fix_out, fix_err = fixer.communicate(timeout=300)
    assert importer.returncode == 0, err
    assert fixer.returncode == 0, fix_err
    assert fix_out.split() == []  # it never removed an array being written
    with Catalog.open(db_url, arrays) as cat:
        acts = cat.list_activations()
        assert len(acts) == len(out.split()) == 12
        for rec in acts:
            data = cat.arrays.read(rec.array_key)
            assert data.shape == (2048, 64) and np.isfinite(data).all()
        assert cat.check().ok
