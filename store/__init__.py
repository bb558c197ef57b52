"""Storage layer: the SQL catalog, the Zarr array store and the records they hand out."""

from store._activations import SIMILARITY_SOURCE_KEYS
from store._check import CheckReport
from store.arrays import ArrayStore, ArrayWriter, array_hasher, array_sha256, bytes_sha256
from store.catalog import Catalog, records_frame
from store.errors import (
    AlignmentError,
    CatalogUnavailableError,
    ConcurrentChangeError,
    CorruptArrayError,
    DuplicateError,
    InvalidInputError,
    NotFoundError,
    NotInitializedError,
    SchemaOutOfDateError,
    SchemaTooNewError,
    ZooError,
)
from store.keys import ArrayKey
from store.records import (
    MODEL_KINDS,
    VERDICTS,
    ActivationRecord,
    DatasetRecord,
    EnsembleRecord,
    FindingRecord,
    MetricRecord,
    ModelRecord,
    PopulationRecord,
    PredictionPairRecord,
    ProbeSetRecord,
    SimilarityRecord,
    StudyRecord,
)

__all__ = [
    "MODEL_KINDS",
    "SIMILARITY_SOURCE_KEYS",
    "VERDICTS",
    "ActivationRecord",
    "AlignmentError",
    "ArrayKey",
    "ArrayStore",
    "ArrayWriter",
    "Catalog",
    "CatalogUnavailableError",
    "CheckReport",
    "ConcurrentChangeError",
    "CorruptArrayError",
    "DatasetRecord",
    "DuplicateError",
    "EnsembleRecord",
    "FindingRecord",
    "InvalidInputError",
    "MetricRecord",
    "ModelRecord",
    "NotFoundError",
    "NotInitializedError",
    "PopulationRecord",
    "PredictionPairRecord",
    "ProbeSetRecord",
    "SchemaOutOfDateError",
    "SchemaTooNewError",
    "SimilarityRecord",
    "StudyRecord",
    "ZooError",
    "array_hasher",
    "array_sha256",
    "bytes_sha256",
    "records_frame",
]
