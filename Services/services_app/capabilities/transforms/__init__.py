"""Job transforms: raw csv/parquet files to training-ready datasets for a job type
(classification, multi-label classification, named-entity recognition, language modelling).

Public face: `TransformRequest` (the one request model), `all_job_types` and
`get_job_type` (the registry), the dataset readers `read_table`, `read_schema`
and `SUFFIXES`, and the split hashing `stable_hash` / `unit_interval` (so other
capabilities split exactly as a transform does). The router and the command
also use `submit.transform_submit`; the worker runs `jobs.transform`.
"""

from .base import all_job_types, get_job_type
from .reader import SUFFIXES, read_schema, read_table
from .request import TransformRequest
from .splits import stable_hash, unit_interval

__all__ = [
    "SUFFIXES",
    "TransformRequest",
    "all_job_types",
    "get_job_type",
    "read_schema",
    "read_table",
    "stable_hash",
    "unit_interval",
]
