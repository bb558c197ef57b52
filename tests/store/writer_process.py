"""A separate process that writes into a catalog; used by the crash and concurrency tests.

Usage: python writer_process.py DB_URL ARRAYS WORKER_ID N_MODELS START_AT_UNIX_TIME
Each model gets a unique checkpoint, a tag, a metric and one activation array
(several chunks), so a kill at any moment can land inside any write.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from store import Catalog, MetricRecord


def main() -> None:
    url, arrays, worker, n_models, start_at = sys.argv[1:6]
    cat = Catalog.open(url, arrays)
    rng = np.random.default_rng(int(worker) * 1000 + os.getpid())
    while time.time() < float(start_at):
        time.sleep(0.005)
    for i in range(int(n_models)):
        blob = f"worker {worker} model {i} ".encode() + rng.bytes(200_000)
        model = cat.add_model("mlp", checkpoint=blob, seed=i, tags=[f"w{worker}"],
                              metrics=[MetricRecord(0, "acc", float(i))])
        acts = rng.normal(size=(512, 64)).astype(np.float32)
        cat.add_activation(model.id, "fc1", "probe", acts)
        print(model.id, flush=True)
    cat.close()


if __name__ == "__main__":
    main()
