"""The job function of data download: the same code behind the API, the worker and
`manage.py download_data`."""

from __future__ import annotations

from ...jobs.context import JobContext
from .connectors import get_connector
from .convert import to_parquet
from .request import DatasetDownloadRequest


def download(ctx: JobContext, params: dict) -> dict:
    """``{connector, params, convert, convert_options}``: fetch into ``raw/<connector>/...``,
    record checksums, and optionally convert what was fetched to Parquet."""
    request = DatasetDownloadRequest.from_params(params)
    name = request.connector
    connector = get_connector(name)
    conn_params = request.params
    out_root = ctx.storage.data_root / "raw" / name
    ctx.progress(0.0, f"{name}: starting", force=True)
    result = connector(ctx, conn_params, out_root=out_root)
    for f in result["files"]:
        ctx.add_output(f["location"])
    converted = []
    if request.convert:
        for i, location in enumerate(result.get("tables", [])):
            ctx.progress(0.9 + 0.1 * i / max(len(result["tables"]), 1), f"converting {location}")
            report = to_parquet(ctx.storage, location, options=request.convert_options)
            converted.append(report)
            for out in report["outputs"]:
                ctx.add_output(out)
            for w in report.get("warnings", []):
                ctx.warn(f"{location}: {w}")
        for location in result.get("parquet", []):
            ctx.add_output(location)
    ctx.progress(1.0, f"{name}: {len(result['files'])} files")
    return {
        "connector": name,
        "files": result["files"],
        "manifest": result.get("manifest"),
        "parquet": result.get("parquet", []) + [o for c in converted for o in c["outputs"]],
        "converted": converted,
        "records": result.get("records"),
        "total_count": result.get("total_count"),
        "outputs": ctx.outputs,
    }
