"""The transform job: a source file to a training-ready dataset for one job type.

``transform(ctx, params)`` is the one function behind the API, the
``transform_dataset`` command, Celery and DVC stages. Steps: read the source;
check the columns; let the job type build its standard columns; drop empty,
short and duplicate rows (counting why); hash each row to its split; write
the splits (Parquet and JSONL), the label map, statistics, a dataset card and,
last, the manifest, all into a temporary folder renamed into place.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from ...errors import ServiceError
from ...jobs.context import JobContext
from ...storage import Storage, check_output, location_of, source_for_validation
from .base import DropTracker, JobType, TransformRequest, get_job_type
from .card import dataset_card
from .reader import read_schema, read_table
from .splits import SPLITS, assign_splits, stable_hash, unit_interval
from .textutil import as_text, normalise
from .writer import write_json, write_jsonl, write_parquet

PERCENTILES = (5, 25, 50, 75, 95, 99)


def check_columns(job_type: JobType, p: TransformRequest, columns: list[str]) -> None:
    """Every column the request names must exist; the error lists the columns there are."""
    wanted = job_type.required_columns(p)
    missing = [c for c in dict.fromkeys(wanted) if c not in columns]
    if missing:
        raise ServiceError(
            f"column(s) {', '.join(repr(c) for c in missing)} not found in the source; its columns are: "
            f"{', '.join(columns)}",
            code="unknown_column",
            status=400,
            details={"missing": missing, "columns": columns},
        )


def preflight(storage: Storage, p: TransformRequest) -> JobType:
    """Submit-time checks (cheap: reads only the source's schema): params, job type, splits, columns.

    A gs:// source larger than `SUBMIT_COPY_LIMIT` is only checked for existence here; its columns are checked
    when the job starts (the job fails with the same `unknown_column` error)."""
    p.check()
    job_type = get_job_type(p.job_type)
    source = source_for_validation(storage, p.source)
    if source is not None:
        check_columns(job_type, p, read_schema(source).names)
    check_output(storage, p.output)
    return job_type


def default_output(p: TransformRequest, job_id: str) -> str:
    """``jobs/<job_type>/target/<name>``; without a name, the job id (or the source's file name outside a job)."""
    name = p.name or (job_id if job_id != "local" else Path(p.source.rstrip("/")).stem)
    return f"jobs/{p.job_type}/target/{name}"


def _percentiles(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {}
    q = np.percentile(values, PERCENTILES)
    out = {f"p{p}": round(float(v), 1) for p, v in zip(PERCENTILES, q, strict=True)}
    out.update(min=int(values.min()), max=int(values.max()), mean=round(float(values.mean()), 1))
    return out


def _metadata_name(name: str, taken: set[str]) -> str:
    new = name
    while new in taken:
        new = f"meta_{new}"
    return new


def _build_table(source: pa.Table, prepared_columns: dict[str, Any], used: set[str]) -> tuple[pa.Table, list[dict]]:
    """Standard columns first, then `source_row`, then every unused source column as metadata."""
    arrays = dict(prepared_columns)
    arrays["source_row"] = pa.array(np.arange(source.num_rows, dtype=np.int64))
    roles = [{"name": n, "role": "output"} for n in prepared_columns] + [
        {"name": "source_row", "role": "row number in the source"}
    ]
    taken = set(arrays)
    for name in source.column_names:
        if name in used:
            continue
        new = _metadata_name(name, taken)
        taken.add(new)
        arrays[new] = source.column(name)
        roles.append({"name": new, "role": "metadata" if new == name else f"metadata (source column {name!r})"})
    return pa.table(arrays), roles


def _rare_and_missing(per_split: dict[str, dict[str, int]], totals: dict[str, int], p: TransformRequest):
    active = [s for s in SPLITS if p.splits[s] > 0]
    rare = {lab: n for lab, n in totals.items() if n < len(active)}
    missing = {lab: [s for s in active if per_split[s].get(lab, 0) == 0] for lab in totals}
    return rare, {lab: s for lab, s in missing.items() if s}


def transform(ctx: JobContext, params: dict) -> dict:
    started = time.monotonic()
    p = TransformRequest.from_params(params)
    job_type = get_job_type(p.job_type)
    if p.stratify is None:
        p.stratify = job_type.stratify_default
    storage = ctx.storage
    check_output(storage, p.output)
    ctx.progress(0.01, f"fetching {p.source}", force=True)
    source_path = storage.local_copy(p.source)  # a gs:// source becomes a verified, cached local copy
    ctx.progress(0.02, f"reading {source_path.name}", force=True)
    source = read_table(source_path)
    check_columns(job_type, p, source.column_names)
    n = source.num_rows
    if n == 0:
        raise ServiceError(f"the source {p.source!r} has no rows", code="empty_source")

    ctx.progress(0.25, f"preparing {n} rows for {job_type.name}")
    drops = DropTracker(n)
    prepared = job_type.prepare(source, p, drops, ctx)
    text = prepared.columns["text"]
    lengths = pc.utf8_length(text).to_numpy(zero_copy_only=False)
    if p.drop_empty:
        drops.drop(lengths == 0, "empty_text")
    if p.min_text_length > 0:
        drops.drop(lengths < p.min_text_length, "shorter_than_min_text_length")

    ctx.progress(0.4, "hashing rows to splits")
    norm_text, word_counts = normalise(text)
    norm = norm_text.to_numpy(zero_copy_only=False)
    word_counts = pc.fill_null(word_counts, 0).to_numpy(zero_copy_only=False)
    text_hash = stable_hash(norm, seed=p.seed)
    if p.deduplicate:
        kept = np.flatnonzero(drops.keep)
        duplicate = np.zeros(n, dtype=bool)
        duplicate[kept[pd.Index(text_hash[kept]).duplicated(keep="first")]] = True  # hash table, no sort
        drops.drop(duplicate, "duplicate_text")
    if p.id_column:
        key_hash = stable_hash(as_text(source.column(p.id_column)).to_numpy(zero_copy_only=False), seed=p.seed)
    else:
        key_hash = text_hash
    if not drops.keep.any():
        raise ServiceError(
            f"no rows are left after cleaning ({dict(drops.reasons)}): check the columns and min_text_length",
            code="no_rows_left",
            details={"dropped": dict(drops.reasons), "problems": prepared.row_problems[:20]},
        )

    table, roles = _build_table(source, prepared.columns, prepared.used_columns)
    keep_idx = np.flatnonzero(drops.keep)
    u = unit_interval(key_hash[keep_idx])
    # Label ids and strata need only the standard columns of the kept rows; the metadata columns are gathered
    # once, straight into their splits (no intermediate copy of the whole kept table).
    standard = list(prepared.columns)
    kept, label_map = job_type.finalize(table.select(standard).take(pa.array(keep_idx)))
    metadata = table.drop_columns(standard)
    strata = job_type.strata(kept) if p.stratify else None
    if p.stratify and strata is None:
        ctx.warn(f"stratify is not available for {job_type.name}; rows were split by hash alone")
    codes = assign_splits(u, p.fractions, strata)

    ctx.progress(0.6, "computing statistics")
    split_tables: dict[str, pa.Table] = {}
    for i, name in enumerate(SPLITS):
        rows = np.flatnonzero(codes == i)
        part, meta = kept.take(pa.array(rows)), metadata.take(pa.array(keep_idx[rows]))
        split_tables[name] = pa.Table.from_arrays(
            [*part.columns, *meta.columns], schema=pa.schema([*part.schema, *meta.schema])
        )
    table = kept
    warnings: list[str] = []
    totals = job_type.label_counts(table)
    split_stats: dict[str, dict] = {}
    for name, t in split_tables.items():
        lens = pc.utf8_length(t.column("text")).to_numpy(zero_copy_only=False)
        split_stats[name] = {
            "rows": t.num_rows,
            "label_counts": job_type.label_counts(t),
            "text_length_chars": _percentiles(lens),
        }
    if totals is not None:
        per_split = {s: split_stats[s]["label_counts"] or {} for s in SPLITS}
        rare, missing = _rare_and_missing(per_split, totals, p)
        if rare and p.stratify and p.on_rare_class == "error":
            raise ServiceError(
                f"{len(rare)} class(es) have fewer rows than there are splits, so they cannot be stratified: "
                + ", ".join(f"{k!r} ({v} row{'s' if v > 1 else ''})" for k, v in list(rare.items())[:20])
                + ". Add rows, merge or drop these classes, or set on_rare_class to 'warn' to keep them in train.",
                code="rare_class",
                details={"rare_classes": rare},
            )
        if rare:
            warnings.append(
                f"{len(rare)} class(es) have too few rows for every split and were kept where their hash put them"
                f" (train when stratified): " + ", ".join(f"{k!r} ({v})" for k, v in list(rare.items())[:20])
            )
        if missing:
            warnings.append(
                f"{len(missing)} class(es) are missing from a split: "
                + ", ".join(f"{k!r} (not in {', '.join(v)})" for k, v in list(missing.items())[:20])
            )
    for w in warnings:
        ctx.warn(w)

    out_text = table.column("text")
    stats = {
        "job_type": job_type.name,
        "rows_in": n,
        "rows_out": table.num_rows,
        "dropped": dict(sorted(drops.reasons.items())),
        "dropped_total": int(sum(drops.reasons.values())),
        "splits": split_stats,
        "label_counts": totals,
        "labels": len(totals) if totals is not None else None,
        "text_length": {
            "chars": _percentiles(pc.utf8_length(out_text).to_numpy(zero_copy_only=False)),
            "words": _percentiles(word_counts[keep_idx]),
        },
        "stratified": bool(strata is not None),
        "seed": p.seed,
        "split_key": p.id_column or "normalised text",
        "hash": "SipHash-2-4 via pandas.util.hash_array, key = blake2b(seed, 8 bytes) as hex",
        "invalid_rows": len(prepared.row_problems),
        "warnings": warnings,
    }

    location = p.output or default_output(p, ctx.job_id)
    ctx.progress(0.7, f"writing {location}")
    files: list[dict] = []
    with storage.output(location, folder=True) as tmp:
        # Arrow's Parquet writer and DuckDB release the GIL: write the split files side by side.
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            futures = []
            for name, t in split_tables.items():
                if "parquet" in p.formats:
                    futures.append(pool.submit(write_parquet, t, tmp / f"{name}.parquet"))
                if "jsonl" in p.formats:
                    futures.append(pool.submit(write_jsonl, t, tmp / f"{name}.jsonl"))
            for i, future in enumerate(as_completed(futures)):
                future.result()
                ctx.progress(0.7 + 0.25 * (i + 1) / len(futures), f"wrote {i + 1} of {len(futures)} files")
        if label_map is not None:
            write_json(label_map, tmp / "label_map.json")
        if prepared.row_problems:
            with open(tmp / "invalid_rows.jsonl", "w") as f:
                for problem in prepared.row_problems:
                    f.write(json.dumps(problem, ensure_ascii=False) + "\n")
        write_json(stats, tmp / "stats.json")
        schema = _schema_roles(split_tables["train"], roles)
        files = [
            {"name": f"{s}.{fmt}", "rows": t.num_rows, "bytes": (tmp / f"{s}.{fmt}").stat().st_size}
            for s, t in split_tables.items()
            for fmt in p.formats
        ]
        card = dataset_card(
            title=f"Dataset {p.name or Path(location.rstrip('/')).name}",
            job_type=job_type.describe(),
            params=p.as_dict(),
            stats=stats,
            label_map=label_map,
            schema=schema,
            files=files,
        )
        (tmp / "README.md").write_text(card)
        files = _file_list(tmp, split_tables)
        manifest = {
            "kind": "transforms.dataset",
            "job_type": job_type.name,
            "created_at": datetime.now(UTC).isoformat(),
            "job_id": ctx.job_id,
            "params": p.as_dict(),
            "source": {"location": p.source, **_source_identity(source_path)},
            "rows": {s: split_stats[s]["rows"] for s in SPLITS},
            "schema": schema,
            "files": files,
        }
        write_json(manifest, tmp / "manifest.json")
    ctx.progress(0.99, f"wrote {location}")
    output = location_of(storage, location)
    ctx.add_output(output)
    ctx.progress(1.0, "done")
    return {
        "output": output,
        "job_type": job_type.name,
        "rows_in": n,
        "rows": {s: split_stats[s]["rows"] for s in SPLITS},
        "dropped": stats["dropped"],
        "labels": stats["labels"],
        "invalid_rows": stats["invalid_rows"],
        "files": [f["name"] for f in files] + ["manifest.json"],
        "seconds": round(time.monotonic() - started, 3),
    }


def _schema_roles(table: pa.Table, roles: list[dict]) -> list[dict]:
    role_of = {r["name"]: r["role"] for r in roles}
    return [{"name": f.name, "type": str(f.type), "role": role_of.get(f.name, "output")} for f in table.schema]


def file_checksum(path: Path) -> str:
    """XXH3-128 of a file: an integrity check for the manifest that costs little next to writing the file
    (SHA-256 of a million-row dataset's files took longer than writing its Parquet)."""
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return "xxh3_128:" + h.hexdigest()


def _file_list(folder: Path, split_tables: dict[str, pa.Table]) -> list[dict]:
    out = []
    for path in sorted(folder.iterdir()):
        if path.name == "manifest.json" or not path.is_file():
            continue
        entry: dict[str, Any] = {"name": path.name, "bytes": path.stat().st_size, "checksum": file_checksum(path)}
        stem = path.name.split(".")[0]
        if stem in split_tables and path.suffix in (".parquet", ".jsonl"):
            entry["rows"] = split_tables[stem].num_rows
        out.append(entry)
    return out


def _source_identity(path: Path) -> dict:
    if path.is_file():
        return {"checksum": file_checksum(path), "bytes": path.stat().st_size}
    return {}
