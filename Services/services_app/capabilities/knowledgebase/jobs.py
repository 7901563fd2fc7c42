"""The job function of kind ``knowledgebase.build``: validate params, build."""

from __future__ import annotations

from ...errors import ServiceError
from ...jobs.context import JobContext
from .build import BuildOptions, build_knowledgebase
from .chunking import ChunkingOptions
from .store import check_name

_KNOWN = {
    "name",
    "source",
    "include",
    "exclude",
    "include_hidden",
    "chunking",
    "embed",
    "embeddings_provider",
    "embeddings_model",
    "workers",
    "file_timeout",
    "max_file_size",
    "max_depth",
    "max_table_rows",
    "full",
}


def _patterns(value, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ServiceError(
            f"{field} must be a list of glob patterns, e.g. ['*.pdf', 'reports/*']", code="invalid_params"
        )
    return value


def options_from_params(params: dict) -> BuildOptions:
    unknown = sorted(set(params) - _KNOWN)
    if unknown:
        raise ServiceError(
            f"unknown parameters: {', '.join(unknown)}", code="invalid_params", details={"known": sorted(_KNOWN)}
        )
    if not params.get("source"):
        raise ServiceError("source is required: a folder under the data root", code="invalid_params")
    opts = BuildOptions(
        name=check_name(params.get("name", "")),
        source=str(params["source"]),
        include=_patterns(params.get("include"), "include"),
        exclude=_patterns(params.get("exclude"), "exclude"),
        include_hidden=bool(params.get("include_hidden", False)),
        chunking=ChunkingOptions.parse(params.get("chunking")),
        embed=bool(params.get("embed", False)),
        embeddings_provider=params.get("embeddings_provider") or None,
        embeddings_model=params.get("embeddings_model") or None,
        full=bool(params.get("full", False)),
    )
    for key, cast in (
        ("workers", int),
        ("file_timeout", float),
        ("max_file_size", int),
        ("max_depth", int),
        ("max_table_rows", int),
    ):
        if params.get(key) is not None:
            try:
                setattr(opts, key, cast(params[key]))
            except (TypeError, ValueError):
                raise ServiceError(f"{key} must be a number", code="invalid_params") from None
    if opts.max_depth < 1 or opts.file_timeout <= 0 or opts.max_file_size < 1 or opts.max_table_rows < 1:
        raise ServiceError(
            "max_depth, file_timeout, max_file_size and max_table_rows must be positive", code="invalid_params"
        )
    return opts


def build(ctx: JobContext, params: dict) -> dict:
    """Build or incrementally rebuild the knowledge base ``params['name']`` from ``params['source']``."""
    return build_knowledgebase(ctx, options_from_params(params))
