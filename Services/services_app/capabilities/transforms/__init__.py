"""Job transforms: raw csv/parquet files to training-ready datasets for a job type
(classification, multi-label classification, named-entity recognition, language modelling)."""

from .base import TransformParams, get_job_type, job_types  # noqa: F401
