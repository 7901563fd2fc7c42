"""`inspect_dataset`: what a user needs to see before choosing a transform.

Reads a sample (the first rows; Parquet row count from metadata, csv rows
counted by streaming) and guesses each column's role with simple, explainable
rules: long, varied strings are text; few distinct values are labels;
delimited short values are multi-label; 0/1 columns are label indicators;
JSON lists of {start, end, label} are NER spans; lists of strings are tokens
or tags.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ...storage import Storage, is_gcs
from .reader import _format, _resolve_source, read_head

SAMPLE = 2000
TAG_RE = re.compile(r"^(O|[BIESLU]-.+)$")
DELIMITERS = (",", "|", ";")


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _parse_json_list(value: str) -> list | None:
    value = value.strip()
    if not value.startswith("["):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, list) else None


def _roles(name: str, values: list[Any], n: int) -> list[str]:
    present = [v for v in values if v is not None and v != ""]
    if not present:
        return []
    roles: list[str] = []
    lname = name.lower()
    if all(isinstance(v, list) for v in present):
        flat = [x for v in present for x in v]
        if flat and all(isinstance(x, dict) and {"start", "end"} <= set(x) for x in flat):
            return ["spans"]
        if flat and all(isinstance(x, str) for x in flat):
            return ["tags"] if all(TAG_RE.match(x) for x in flat) else ["tokens"]
        return roles
    strings = [str(v) for v in present]
    distinct = len(set(strings))
    if all(isinstance(v, str) for v in present):
        lists = [_parse_json_list(s) for s in strings[:200]]
        if all(lst is not None for lst in lists):
            flat = [x for lst in lists for x in lst]
            if flat and all(isinstance(x, dict) and {"start", "end"} <= set(x) for x in flat):
                return ["spans"]
            if flat and all(isinstance(x, str) for x in flat):
                return ["tags"] if all(TAG_RE.match(x) for x in flat) else ["tokens"]
    if set(strings) <= {"0", "1", "0.0", "1.0", "True", "False", "true", "false"} and distinct == 2:
        return ["label_indicator"]
    mean_len = sum(len(s) for s in strings) / len(strings)
    mean_words = sum(len(s.split()) for s in strings) / len(strings)
    if (
        lname in ("id", "uuid", "key")
        or lname.endswith("_id")
        or (distinct == len(strings) and mean_words <= 1 and len(strings) > 20)
    ):
        roles.append("id")
    if mean_words >= 4 or (mean_len >= 25 and distinct > 0.5 * len(strings)):
        roles.append("text")
    elif distinct <= max(2, min(100, int(0.2 * len(strings)))) and "id" not in roles:
        roles.append("label")
        for d in DELIMITERS:
            if sum(d in s for s in strings) >= 0.1 * len(strings):
                roles.append("multilabel")
                break
    return roles


def inspect_dataset(*, storage: Storage, location: str, sample_rows: int = 5) -> dict[str, Any]:
    path = _resolve_source(storage.local_copy(location))  # gs:// objects and prefixes: a cached local copy
    fmt = _format(path)
    sample, rows = read_head(path, SAMPLE)
    columns = []
    for name in sample.column_names:
        col = sample.column(name)
        values = col.to_pylist()
        roles = _roles(name, values, len(values))
        distinct = len({json.dumps(_jsonable(v), sort_keys=True) for v in values if v is not None})
        examples = []
        for v in values:
            if v is not None and v != "" and _jsonable(v) not in examples:
                examples.append(_jsonable(v))
            if len(examples) >= 3:
                break
        columns.append(
            {
                "name": name,
                "type": str(col.type),
                "nulls": col.null_count,
                "distinct": distinct,
                "looks_like": roles,
                "examples": examples,
            }
        )
    text = [c["name"] for c in columns if "text" in c["looks_like"]]
    labels = [c["name"] for c in columns if "label" in c["looks_like"]]
    indicators = [c["name"] for c in columns if "label_indicator" in c["looks_like"]]
    multi = [c["name"] for c in columns if "multilabel" in c["looks_like"]]
    spans = [c["name"] for c in columns if "spans" in c["looks_like"]]
    tokens = [c["name"] for c in columns if "tokens" in c["looks_like"]]
    tags = [c["name"] for c in columns if "tags" in c["looks_like"]]
    suggested: list[str] = []
    shown = location.rstrip("/") if is_gcs(location) else storage.relative(path)
    params: dict[str, Any] = {"source": shown}
    if text and spans:
        suggested.append("ner")
        params.update(job_type="ner", text_columns=text[:1], spans_column=spans[0])
    elif tokens and tags:
        suggested.append("ner")
        params.update(job_type="ner", tokens_column=tokens[0], tags_column=tags[0])
    if text and multi:
        suggested.append("multilabel")
        params.setdefault("job_type", "multilabel")
        params.setdefault("text_columns", text)
        params.setdefault("label_columns", multi[:1])
        delim = next(
            d
            for d in DELIMITERS
            if any(d in str(e) for c in columns if c["name"] == multi[0] for e in c["examples"]) or d == DELIMITERS[-1]
        )
        params.setdefault("label_delimiter", delim)
    if text and len(indicators) >= 2:
        suggested.append("multilabel")
        params.setdefault("job_type", "multilabel")
        params.setdefault("text_columns", text)
        params.setdefault("label_columns", indicators)
    if text and labels:
        suggested.append("classification")
        params.setdefault("job_type", "classification")
        params.setdefault("text_columns", text)
        params.setdefault("label_columns", [c for c in labels if c not in multi][:1] or labels[:1])
    if text:
        suggested.append("language_modeling")
        params.setdefault("job_type", "language_modeling")
        params.setdefault("text_columns", text)
    sample_out = [{k: _jsonable(v) for k, v in row.items()} for row in sample.slice(0, sample_rows).to_pylist()]
    return {
        "location": shown,
        "format": fmt,
        "rows": rows,
        "sampled_rows": sample.num_rows,
        "columns": columns,
        "sample": sample_out,
        "text_columns": text,
        "label_columns": labels + [c for c in indicators if c not in labels],
        "suggested_job_types": list(dict.fromkeys(suggested)),
        "suggested_params": params if "job_type" in params else {},
    }
