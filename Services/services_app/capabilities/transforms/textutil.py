"""Vectorised text helpers on Arrow arrays."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def as_text(array: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """Any column as trimmed strings; nulls become empty strings."""
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        if pa.types.is_dictionary(array.type):
            array = array.cast(array.type.value_type)
        array = (
            pc.cast(array, pa.string())
            if not pa.types.is_nested(array.type)
            else pa.array([None if v is None else str(v) for v in array.to_pylist()], pa.string())
        )
    return pc.utf8_trim_whitespace(pc.fill_null(array, ""))


def join_text(table: pa.Table, columns: list[str], separator: str) -> pa.ChunkedArray:
    """The text columns joined with ``separator``, skipping empty parts."""
    parts = [as_text(table.column(c)) for c in columns]
    if len(parts) == 1:
        return parts[0]
    nulled = [pc.if_else(pc.equal(p, ""), pa.scalar(None, pa.string()), p) for p in parts]
    joined = pc.binary_join_element_wise(*nulled, separator, null_handling="skip")
    return pc.fill_null(joined, "")


def normalise(text: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """Lower case with whitespace collapsed (the key for deduplication), and the word count of each text.

    Splitting on whitespace and joining is several times faster than a regex
    replace in Arrow; the ASCII kernels are faster still and used when the
    whole column is ASCII."""
    ascii_only = pc.all(pc.string_is_ascii(text)).as_py() is not False
    lower = pc.ascii_lower(text) if ascii_only else pc.utf8_lower(text)
    words = pc.ascii_split_whitespace(lower) if ascii_only else pc.utf8_split_whitespace(lower)
    return pc.binary_join(words, " "), pc.list_value_length(words)
