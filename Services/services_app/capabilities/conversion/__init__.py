"""Data optimisation: any data file or folder to Parquet.

Reusable, Django-free entry points (other capabilities call these):

- ``convert_file(src, out, options=None, *, source_location=None, ...) -> dict``:
  one file to Parquet at ``out`` (a workbook: one Parquet per sheet under
  ``out`` without its suffix); returns the file's report entry (rows, columns,
  schema, bytes in/out, sha256 of input and outputs, seconds, warnings, and
  ``read``: the table reader's decisions) and raises `ServiceError`
  (``ConversionError``) for a bad file, leaving nothing behind.
- ``ConvertOptions.from_dict({...})``: validated options (see ``options.py``):
  the table reader's options plus the Parquet writer's.
- ``jobs.convert(ctx, params)``: the ``conversion.parquet`` job (files or a
  folder tree, a report entry per file).

Reading any table into Arrow is the shared reader's job: ``services_app.tables``
(``read``, ``read_table``); ``read_table`` is re-exported here for callers of old.

The names below are imported on first use (PEP 562), so that ``conversion.hashes`` can be imported at
start-up without DuckDB, pyarrow and the readers behind them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...tables import TableError as ConversionError
    from ...tables import read_table
    from .core import CONVERTER_VERSION, convert_file
    from .options import ConvertOptions

__all__ = ["CONVERTER_VERSION", "ConversionError", "ConvertOptions", "convert_file", "read_table"]

_WHERE = {
    "CONVERTER_VERSION": (".core", "CONVERTER_VERSION"),
    "convert_file": (".core", "convert_file"),
    "ConvertOptions": (".options", "ConvertOptions"),
    "ConversionError": ("...tables", "TableError"),
    "read_table": ("...tables", "read_table"),
}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _WHERE[name]
    value = getattr(importlib.import_module(module, __name__), attr)
    globals()[name] = value
    return value
