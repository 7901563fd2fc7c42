"""The one reader of any table: csv/tsv/txt, json/jsonl (and their ``.gz``), xlsx/xlsm/xls/ods,
pdf (text per page) and parquet, to Arrow. Every capability reads tables here, so the same file
reads the same by every door (conversion, checks, transforms, language models, knowledge base).

Public face:

- ``read(path, options=None, *, sheet=None, limit=None) -> (pyarrow.Table, ReadReport)``: the table
  and what the reader decided (encoding and its candidates, delimiter, skipped preamble lines,
  number locale per column, per-column type with values that did not fit and examples, warnings).
- ``read_table(path, options=None, *, sheet=None) -> pyarrow.Table``: the same, table only.
- ``read_tables(path, options=None, *, limit=None) -> ([(sheet or None, pyarrow.Table)], ReadReport)``:
  every sheet of a workbook (one table for any other file).
- ``sniff(path, options=None, *, rows=0) -> (pyarrow.Table, ReadReport)``: the columns (and the
  first ``rows`` rows) and the decisions, without reading the whole file.
- ``count_rows(path, options=None) -> int``.
- ``ReadOptions``: the options (``from_dict`` refuses unknown names): encoding, delimiter, quote,
  header, skip_rows, comment, decimal, thousands, null_values, column_types, columns, sheets,
  formulas, limits. Left out, each is detected and the detection is reported.
- ``TableError``: a file that cannot be read (a `ServiceError`, 422, with a ``code`` such as
  ``not_text``, ``malformed_csv``, ``encoding_error``, ``type_error``, ``corrupt_file``).
- ``detect_format(path, forced=None)``, ``EXTENSIONS``: what the reader reads, by name.
- ``rank_encodings(sample, truncated)`` / ``decode_text(data)``: the encoding decision for text.

The conversion streams the same plans into Parquet (``tables.engine``); nothing else should import
below this face.
"""

from .detect import EXTENSIONS, TEXT_FORMATS, FileKind, TableError, detect_format, rank_encodings
from .engine import count_rows, read, read_table, read_tables, sniff
from .options import ReadOptions
from .report import ColumnReport, ReadReport
from .text import decode_text

__all__ = [
    "EXTENSIONS",
    "TEXT_FORMATS",
    "ColumnReport",
    "FileKind",
    "ReadOptions",
    "ReadReport",
    "TableError",
    "count_rows",
    "decode_text",
    "detect_format",
    "rank_encodings",
    "read",
    "read_table",
    "read_tables",
    "sniff",
]
