"""Running the zoo's heavy work on a Dask cluster (#20), or locally as before.

``--cluster ADDRESS`` / ``ZOO_CLUSTER`` name a Dask scheduler; without them everything
runs in this machine's processes. Tasks are independent pieces that read and write the
shared catalog (PostgreSQL at scale) and array store (``s3://`` at scale): INR chunks,
trainings, recordings, and blocks of a pair matrix. An executor registry hides where
they run behind ``concurrent.futures.Executor``.
"""

from zoo.cluster._catalog_tasks import (
    catalog_location,
    map_catalog_tasks,
    record_models,
    train_models,
)
from zoo.cluster._executors import (
    CLUSTER_ENV,
    EXECUTORS,
    ClusterError,
    ExecutorSpec,
    connect,
    one_thread_call,
    open_executor,
    resolve_cluster,
    slots,
)
from zoo.cluster._similarity import block_compute, block_size, shared_root

__all__ = [
    "CLUSTER_ENV",
    "EXECUTORS",
    "ClusterError",
    "ExecutorSpec",
    "block_compute",
    "block_size",
    "catalog_location",
    "connect",
    "map_catalog_tasks",
    "one_thread_call",
    "open_executor",
    "record_models",
    "resolve_cluster",
    "shared_root",
    "slots",
    "train_models",
]
