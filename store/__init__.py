"""Storage layer: the SQL catalog, the Zarr array store and the records they hand out."""

from store._check import CheckReport
from store.arrays import ArrayStore, ArrayWriter, array_sha256, bytes_sha256
from store.catalog import Catalog, records_frame
from store.errors import (
    AlignmentError,
    CatalogUnavailableError,
    DuplicateError,
    InvalidInputError,
    NotFoundError,
    NotInitializedError,
    SchemaOutOfDateError,
    SchemaTooNewError,
    ZooError,
)
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
    "VERDICTS",
    "ActivationRecord",
    "AlignmentError",
    "ArrayStore",
    "ArrayWriter",
    "Catalog",
    "CatalogUnavailableError",
    "CheckReport",
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
    "array_sha256",
    "bytes_sha256",
    "records_frame",
]
