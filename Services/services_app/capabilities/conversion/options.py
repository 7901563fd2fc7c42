"""Conversion options: the table reader's options plus how to write Parquet.

Every option is optional; `ConvertOptions.from_dict` checks names, types and
ranges and raises `ServiceError` naming the option to fix. The same object is
recorded (as `as_dict()`) in every output's Parquet key-value metadata.
Reading options (encoding, delimiter, decimal, skip_rows, ...) are the
`tables.ReadOptions` every door shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...tables import ReadOptions
from ...tables.options import _bad

COMPRESSIONS = ("zstd", "snappy", "gzip", "lz4", "brotli", "uncompressed")


@dataclass
class ConvertOptions(ReadOptions):
    _what: ClassVar[str] = "conversion option"

    # snappy, as DuckDB, pyarrow, pandas and Spark write by default: the fastest to write and to read.
    # zstd (level 1 unless compression_level says otherwise) makes files about a third smaller for about a
    # tenth more time on a 1 GB CSV (docs/conversion.md, Performance)
    compression: str = "snappy"
    compression_level: int | None = None
    row_group_size: int = 61_440
    parquet_version: str = "v1"  # v2: newer encodings (smaller, faster to write) that older readers lack

    def validate(self) -> None:
        super().validate()
        self.compression = str(self.compression).lower()
        if self.compression not in COMPRESSIONS:
            raise _bad("compression", f"use one of {list(COMPRESSIONS)}")
        if self.compression_level is not None and not (
            isinstance(self.compression_level, int) and -7 <= self.compression_level <= 22
        ):
            raise _bad("compression_level", "give an integer (zstd: 1..22)")
        if self.compression_level is not None and self.compression != "zstd":
            # the writer takes a level for zstd only: any other codec would ignore it without a word
            raise _bad(
                "compression_level",
                f'applies to zstd only; leave it out for {self.compression}, or set "compression": "zstd"',
            )
        if not isinstance(self.row_group_size, int) or not 1_000 <= self.row_group_size <= 10_000_000:
            raise _bad("row_group_size", "give an integer between 1000 and 10000000")
        self.parquet_version = str(self.parquet_version).lower()
        if self.parquet_version not in ("v1", "v2"):
            raise _bad("parquet_version", 'use "v1" (every reader) or "v2" (newer encodings)')
