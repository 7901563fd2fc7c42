"""Downloaded files on to Parquet.

Uses the conversion capability (`conversion.core.convert_file`: encoding,
delimiter and type detection, every format it knows). Only if that module is
missing does a small pyarrow fallback handle csv/tsv/json/jsonl."""

from __future__ import annotations

from pathlib import Path

from ...errors import ServiceError
from ...storage import Storage


def parquet_target(storage: Storage, raw_location: str) -> Path:
    """``raw/<connector>/a/b.csv`` -> ``<data root>/parquet/<connector>/a/b.parquet``."""
    rel = Path(raw_location)
    parts = rel.parts[1:] if rel.parts and rel.parts[0] == "raw" else rel.parts
    return (storage.data_root / "parquet" / Path(*parts)).with_suffix(".parquet")


def to_parquet(storage: Storage, location: str, *, options: dict | None = None) -> dict:
    src = storage.resolve(location, must_exist=True)
    out = parquet_target(storage, location)
    try:
        from ..conversion import convert_file
    except ImportError:
        convert_file = None
    if convert_file is not None:
        report = convert_file(src, out, options or {}, source_location=location, locate=storage.relative)
        return {
            "source": location,
            "outputs": [o["location"] for o in report["outputs"]],
            "rows": report["rows"],
            "columns": report["columns"],
            "warnings": report.get("warnings", []),
        }
    return _fallback(storage, src, out, location)


def _fallback(storage: Storage, src: Path, out: Path, location: str) -> dict:  # pragma: no cover - see module doc
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson
    import pyarrow.parquet as pq

    suffix = src.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        parse = pcsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
        table = pcsv.read_csv(src, parse_options=parse, convert_options=pcsv.ConvertOptions(strings_can_be_null=True))
    elif suffix in (".jsonl", ".ndjson", ".json"):
        table = pjson.read_json(src)
    elif suffix == ".parquet":
        table = pq.read_table(src)
    else:
        raise ServiceError(f"{location}: cannot convert {suffix or 'this'} files to Parquet", code="unsupported_format")
    with storage.atomic_file(out) as tmp:
        pq.write_table(table, tmp)
    return {
        "source": location,
        "outputs": [storage.relative(out)],
        "rows": table.num_rows,
        "columns": table.num_columns,
    }
