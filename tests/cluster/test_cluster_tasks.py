"""INR chunks as Dask tasks (#20): the same population as one process, even when a worker
dies mid-task (its chunk is run again elsewhere; nothing partial is registered)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np

from store import Catalog
from zoo.cluster import connect
from zoo.data.register import add_bundled_dataset
from zoo.inr.fit import FitConfig
from zoo.inr.population import fit_population
from zoo.models.siren import SirenConfig

SIREN = SirenConfig(hidden_width=16)
FIT = FitConfig(steps=60, batch_size=16, seed=3)


def _kill_a_busy_worker(address: str, killed: list[int], stop: threading.Event) -> None:
    """SIGKILL the process of the first worker seen running a task (once)."""
    client = connect(address)
    pids = client.run(os.getpid)
    while not stop.is_set():
        busy = [w for w, tasks in client.processing().items() if tasks]
        if busy and busy[0] in pids:
            os.kill(pids[busy[0]], signal.SIGKILL)
            killed.append(pids[busy[0]])
            return
        time.sleep(0.05)


def test_population_on_cluster_survives_a_dead_worker(tmp_path: Path, s3_arrays: str,
                                                      dask_cluster: str) -> None:
    here = Catalog.create(f"sqlite:///{tmp_path / 'here.db'}", str(tmp_path / "arrays"))
    there = Catalog.create(f"sqlite:///{tmp_path / 'there.db'}", s3_arrays)
    for cat in (here, there):
        add_bundled_dataset(cat, "digits")
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_a_busy_worker, args=(dask_cluster, killed, stop))
    killer.start()
    try:
        remote = fit_population(there, "digits", SIREN, FIT, split="test", limit=48,
                                cluster=dask_cluster)
    finally:
        stop.set()
        killer.join()
    local = fit_population(here, "digits", SIREN, FIT, split="test", limit=48)
    assert killed, "no worker was seen running a chunk"
    assert remote.status == "complete" and remote.sha256 == local.sha256
    assert np.array_equal(there.arrays.read(remote.array_key), here.arrays.read(local.array_key))
    report = there.check()
    assert report.ok and not report.orphans
    here.close()
    there.close()
