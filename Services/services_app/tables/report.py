"""What the reader decided about one table, for the caller to show.

Nothing the reader decides is silent: the encoding (with the candidates it
weighed and a decoded sample), the delimiter, the lines it skipped, the
number locale of each column, and per column the type it chose, how many
values did not fit the first guess and examples of them. ``as_dict()`` is
JSON-ready and goes into the conversion's per-file report as ``read``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ColumnReport:
    name: str
    type: str  # the type the column has in the result (Arrow's name)
    decision: str = "inferred"  # inferred | given | locale | widened | formula
    not_fitting: int = 0  # values that did not fit the type first chosen
    examples: list[str] = field(default_factory=list)  # some of those values
    note: str | None = None


@dataclass
class ReadReport:
    format: str | None = None
    encoding: str | None = None
    encoding_decision: str | None = None  # bom | utf-8 | detected | given
    encoding_candidates: list[dict[str, Any]] = field(default_factory=list)  # [{encoding, score, sample}]
    delimiter: str | None = None
    delimiter_decision: str | None = None  # detected | given | whitespace
    header: bool | None = None
    skipped_lines: int = 0  # lines before the header (preamble), skipped
    skipped_sample: list[str] = field(default_factory=list)
    skip_decision: str | None = None  # detected | given
    comment: str | None = None
    number_locale: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> {decimal, thousands}
    date_formats: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> {format, decision}
    rows: int | None = None
    columns: dict[str, ColumnReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def warn(self, msg: str) -> None:
        if msg not in self.warnings:
            self.warnings.append(msg)

    def column(self, name: str) -> ColumnReport:
        col = self.columns.get(name)
        if col is None:
            col = self.columns[name] = ColumnReport(name=name, type="")
        return col

    def set_schema(self, schema) -> None:
        """Record the result's types from an Arrow schema; columns without a decision so far were inferred."""
        self.set_types({f.name: str(f.type) for f in schema})

    def set_types(self, types: dict[str, str]) -> None:
        """Record the result's types, {column: Arrow's name of its type}; columns not in it are dropped."""
        for name, type_name in types.items():
            self.column(name).type = type_name
        for name in list(self.columns):
            if name not in types:
                del self.columns[name]

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["columns"] = [asdict(c) for c in self.columns.values()]
        return d
