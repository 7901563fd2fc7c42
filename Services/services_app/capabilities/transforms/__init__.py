"""Job transforms: raw csv/parquet files to training-ready datasets for a job type
(classification, multi-label classification, named-entity recognition, language modelling)."""

from .base import TransformRequest, all_job_types, get_job_type  # noqa: F401
