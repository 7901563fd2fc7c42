"""The Oekobaudat connector: the soda4LCA Service API of the German EPD database.

Pages through ``/processes`` (or ``/datastocks/{uuid}/processes``) with
``startIndex``/``pageSize`` and ``format=JSON`` until ``totalCount`` items
were seen, optionally filtered by a compliance system (EN 15804+A1/A2 by
alias or source UUID) and optionally fetching each full dataset
(``/processes/{uuid}?format=JSON``). Stores the raw pages (and datasets)
and a Parquet table of the records under
``raw/oekobaudat/<data stock or all>[-<compliance>]/``, with a
``manifest.json`` of sha256 sums written last.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from ...errors import ServiceError
from ...jobs.context import JobContext
from . import http

DEFAULT_BASE_URL = "https://oekobaudat.de/OEKOBAU.DAT/resource"
COMPLIANCE = {  # source datasets that identify the compliance systems (oekobaudat.de developer guidance)
    "A1": "b00f9ec0-7874-11e3-981f-0800200c9a66",
    "A2": "c0016b33-8cf7-415c-ac6e-deba0d21440d",
}
_UUID = re.compile(r"^[0-9a-fA-F-]{8,64}$")


def _uuid(value, what: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not _UUID.match(value):
        raise ServiceError(f"{what} must be a UUID, got {value!r}", code="invalid_params")
    return value


def fetch_oekobaudat(ctx: JobContext, params: dict, *, out_root: Path) -> dict:
    from .connectors import _policy

    base = str(params.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ServiceError(f"base_url {base!r} must be an http(s) URL", code="invalid_params")
    stock = _uuid(params.get("data_stock"), "data_stock")
    compliance_raw = params.get("compliance")
    compliance = COMPLIANCE.get(str(compliance_raw).upper()) if compliance_raw else None
    if compliance_raw and not compliance:
        compliance = _uuid(compliance_raw, "compliance (A1, A2 or a source UUID)")
    page_size = int(params.get("page_size", 500))
    if not 1 <= page_size <= 5000:
        raise ServiceError("page_size must be between 1 and 5000", code="invalid_params")
    max_records = params.get("max_records")
    max_records = int(max_records) if max_records not in (None, "") else None
    fetch_datasets = bool(params.get("fetch_datasets", False))
    lang = params.get("lang")
    policy = _policy(params)

    listing = f"{base}/datastocks/{stock}/processes" if stock else f"{base}/processes"
    query: dict = {"format": "JSON", "pageSize": page_size}
    if compliance:
        query.update(search="true", compliance=compliance)
    if lang:
        query["lang"] = lang
    slug = (stock or "all") + (f"-{compliance_raw}" if compliance_raw else "")
    target = out_root / re.sub(r"[^A-Za-z0-9._-]", "_", slug)
    storage = ctx.storage
    client = http.new_client(float(params.get("timeout_seconds", 60)))
    records: list[dict] = []
    files: list[dict] = []
    try:
        with storage.atomic_dir(target) as tmp:
            (tmp / "pages").mkdir()
            start, total, page_no = 0, None, 0
            while True:
                raw, page = http.get_json(client, listing, params=query | {"startIndex": start}, policy=policy)
                if not isinstance(page, dict) or not isinstance(page.get("data"), list):
                    raise ServiceError(
                        f"{listing} answered JSON without a data[] list; is {base} a soda4LCA resource URL?",
                        code="bad_response",
                        status=502,
                    )
                page_path = tmp / "pages" / f"page-{page_no:05d}.json"
                page_path.write_bytes(raw)
                files.append(_entry(storage, target, page_path, tmp))
                items = page["data"]
                total = int(page.get("totalCount", total or 0) or 0)
                for item in items:
                    if isinstance(item, dict) and item.get("uuid"):
                        records.append(item)
                page_no += 1
                start += len(items)
                want = min(total, max_records) if max_records is not None else total
                ctx.progress(0.6 * min(len(records) / max(want, 1), 1.0), f"{len(records)} of {want} records")
                if not items or start >= total or (max_records is not None and len(records) >= max_records):
                    break
            if max_records is not None:
                records = records[:max_records]
            if fetch_datasets:
                (tmp / "datasets").mkdir()
                for i, rec in enumerate(records):
                    uid = _uuid(rec["uuid"], "dataset uuid")
                    q = {"format": "JSON"} | ({"version": rec["version"]} if rec.get("version") else {})
                    raw, _ = http.get_json(client, f"{base}/processes/{uid}", params=q, policy=policy)
                    p = tmp / "datasets" / f"{uid}.json"
                    p.write_bytes(raw)
                    files.append(_entry(storage, target, p, tmp))
                    ctx.progress(0.6 + 0.3 * (i + 1) / len(records), f"dataset {i + 1} of {len(records)}")
            table = tmp / "records.parquet"
            write_records(records, table)
            files.append(_entry(storage, target, table, tmp))
            manifest = {
                "connector": "oekobaudat",
                "source": listing,
                "query": query,
                "total_count": total,
                "records": len(records),
                "fetched_at": datetime.now(UTC).isoformat(),
                "files": files,
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    finally:
        client.close()
    return {
        "files": files,
        "tables": [],  # records.parquet is already Parquet
        "parquet": [storage.relative(target / "records.parquet")],
        "records": len(records),
        "total_count": total,
        "manifest": storage.relative(target / "manifest.json"),
        "folder": storage.relative(target),
    }


def _entry(storage, target: Path, path: Path, tmp: Path) -> dict:
    from ...storage import sha256_file

    rel = (target / path.relative_to(tmp)).resolve()
    return {"location": storage.relative(rel), "sha256": sha256_file(path), "size": path.stat().st_size}


def write_records(records: list[dict], path: Path) -> None:
    """One row per dataset: the scalar fields as columns (nested ones as JSON text) and the
    whole item as ``raw_json``, so nothing the API sent is lost."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, list] = {}
    keys: list[str] = []
    for rec in records:
        for k in rec:
            if k not in columns:
                columns[k] = []
                keys.append(k)
    rows = []
    for rec in records:
        row = {}
        for k in keys:
            v = rec.get(k)
            row[k] = v if v is None or isinstance(v, str | int | float | bool) else json.dumps(v, ensure_ascii=False)
        rows.append(row)
    arrays = {}
    for k in keys:
        values = [r[k] for r in rows]
        kinds = {type(v) for v in values if v is not None}
        if len(kinds) > 1 or (kinds and kinds <= {bool, int, float} and bool in kinds and len(kinds) > 1):
            values = [None if v is None else str(v) for v in values]
        arrays[k] = pa.array(values)
    arrays["raw_json"] = pa.array([json.dumps(r, ensure_ascii=False) for r in records], pa.string())
    pq.write_table(pa.table(arrays) if records else pa.table({"uuid": pa.array([], pa.string())}), path)
