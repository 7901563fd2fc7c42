"""Schema, row count and the first rows of a Parquet file, JSON-ready."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
from pathlib import Path

import pyarrow.parquet as pq

from ...errors import ServiceError
from ...storage import Storage


def jsonable(value):
    """A value safe for JSON: dates as ISO strings, NaN as null, bytes as base64."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def preview_parquet(storage: Storage, location: str, *, rows: int = 20) -> dict:
    # a gs:// object is read from the verified local cache (downloaded once per generation)
    path: Path = (
        storage.local_copy(location) if location.startswith("gs://") else storage.resolve(location, must_exist=True)
    )
    if path.is_dir():
        found = sorted(storage.relative(p) for p in path.rglob("*.parquet") if not p.name.startswith("."))[:20]
        raise ServiceError(
            f"{location!r} is a folder; give one Parquet file" + (f", e.g. {found[0]!r}" if found else ""),
            code="not_a_file",
            details={"files": found},
        )
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - any reader error means "not Parquet"
        raise ServiceError(
            f"{location!r} is not a readable Parquet file ({exc}); convert it first with POST /api/conversions",
            code="not_parquet",
        ) from None
    meta = pf.metadata
    kv = {}
    for k, v in (meta.metadata or {}).items():
        key, val = k.decode(errors="replace"), v.decode(errors="replace")
        if key in ("ARROW:schema",):
            continue
        if key == "options":
            try:
                kv[key] = json.loads(val)
                continue
            except ValueError:
                pass
        kv[key] = val
    preview: list[dict] = []
    if rows and meta.num_rows:
        batch = next(pf.iter_batches(batch_size=rows), None)
        if batch is not None:
            preview = [jsonable(r) for r in batch.slice(0, rows).to_pylist()]
    schema = pf.schema_arrow
    return {
        "location": location if location.startswith("gs://") else storage.relative(path),
        "rows": meta.num_rows,
        "columns": [{"name": f.name, "type": str(f.type)} for f in schema],
        "row_groups": meta.num_row_groups,
        "bytes": path.stat().st_size,
        "metadata": kv,
        "preview": preview,
    }
