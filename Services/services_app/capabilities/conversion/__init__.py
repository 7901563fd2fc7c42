"""Data optimisation: any data file or folder to Parquet.

Reusable, Django-free entry points (other capabilities call these):

- ``read_table(path, options=None, *, sheet=None) -> pyarrow.Table``: read any
  supported file (csv/tsv/txt, json/jsonl, their ``.gz`` variants, xlsx/xlsm/xls,
  pdf, parquet) with the same detection (encoding, delimiter, header) and
  whole-file type inference as the conversion. ``.to_pandas()`` for pandas.
- ``convert_file(src, out, options=None, *, source_location=None, ...) -> dict``:
  one file to Parquet at ``out`` (a workbook: one Parquet per sheet under
  ``out`` without its suffix); returns the file's report entry (rows, columns,
  schema, bytes in/out, sha256 of input and outputs, seconds, warnings) and
  raises `ServiceError` (``ConversionError``) for a bad file, leaving nothing
  behind.
- ``ConvertOptions.from_dict({...})``: validated options (see ``options.py``).
- ``jobs.convert(ctx, params)``: the ``conversion.parquet`` job (files or a
  folder tree, a report entry per file).
"""

from .core import CONVERTER_VERSION, convert_file, read_table
from .detect import ConversionError
from .options import ConvertOptions

__all__ = ["CONVERTER_VERSION", "ConversionError", "ConvertOptions", "convert_file", "read_table"]
