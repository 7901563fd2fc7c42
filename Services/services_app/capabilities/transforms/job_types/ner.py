"""Named-entity recognition: character spans <-> tokens with BIO tags.

Input either text + spans (``[{"start", "end", "label"}]``, as JSON text or a
list column) or tokens + tags (lists, JSON lists or space-separated strings;
BIO, IOB1, BIOES or bare labels). Output always has both: ``tokens``,
``tags`` (BIO), ``spans`` (with the covered text) and ``text``. From tokens,
the text is the tokens joined by single spaces, so the conversion is
lossless. From text, tokens follow Unicode word boundaries (UAX #29, through
the ``regex`` library's default word boundaries): a combining mark stays with
its letter (decomposed "José", Hindi "दिल्ली"), an emoji ZWJ sequence is one
token, ideographs are one token each ("独伊" -> "独", "伊"). Tokenization is
span-aligned: every span start and end is also a token boundary (a word is
cut there), so a valid span is never dropped; only a span boundary inside a
grapheme cluster (between a letter and its combining mark) cannot be
expressed and makes the row invalid. Invalid rows (overlapping, out
of range or misaligned spans, malformed JSON, tags that do not match the
tokens) are reported one by one in ``invalid_rows.jsonl`` and dropped (or
fail the job with ``on_invalid_row="fail"``).

Row by row in Python on purpose: NER rows need per-row validation messages,
and NER datasets are small next to classification ones.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import regex

from ....errors import ServiceError
from ..base import DropTracker, JobType, Prepared, TransformRequest, register
from ..textutil import join_text

# zero-width matches at the Unicode default word boundaries (UAX #29): `regex`'s WORD flag, version 1
_WORD_BOUNDARY = regex.compile(r"(?V1w)\b")
_GRAPHEME = regex.compile(r"\X")
SPAN_TYPE = pa.list_(
    pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string()), ("text", pa.string())])
)


class RowError(ValueError):
    pass


def grapheme_boundaries(text: str) -> set[int]:
    """Offsets between user-perceived characters (extended grapheme clusters)."""
    return {0, *(m.end() for m in _GRAPHEME.finditer(text))}


def tokenize(text: str, cuts: set[int] | frozenset[int] = frozenset()) -> list[tuple[str, int, int]]:
    """[(token, start, end)]: the segments between Unicode word boundaries that are not whitespace, also
    cut at every offset in ``cuts`` (span starts and ends; each must be a grapheme boundary)."""
    bounds = sorted({0, len(text), *(m.start() for m in _WORD_BOUNDARY.finditer(text)), *cuts})
    return [(text[a:b], a, b) for a, b in zip(bounds, bounds[1:], strict=False) if text[a:b].strip()]


def _as_list(value: Any, what: str) -> list:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return []
        if s.startswith("["):
            try:
                parsed = json.loads(s)
            except ValueError as exc:
                raise RowError(f"malformed {what} JSON: {exc}") from None
            if not isinstance(parsed, list):
                raise RowError(f"{what} must be a JSON list")
            return parsed
        if what == "spans":
            raise RowError('malformed spans JSON: expected a list like [{"start": 0, "end": 5, "label": "ORG"}]')
        return s.split()
    raise RowError(f"{what} must be a list, got {type(value).__name__}")


def spans_to_bio(text: str, spans: list) -> tuple[list[str], list[str], list[dict]]:
    clean = []
    for i, span in enumerate(spans):
        if not isinstance(span, dict) or not {"start", "end", "label"} <= set(span):
            raise RowError(f"span {i} must be an object with start, end and label")
        try:
            start, end = int(span["start"]), int(span["end"])
        except (TypeError, ValueError):
            raise RowError(f"span {i}: start and end must be integers") from None
        label = str(span["label"]).strip()
        if not label:
            raise RowError(f"span {i}: empty label")
        if start < 0 or end > len(text) or start >= end:
            raise RowError(f"span {i} [{start}, {end}) is out of range for a text of {len(text)} characters")
        clean.append((start, end, label))
    clean.sort()
    for a, b in zip(clean, clean[1:], strict=False):
        if b[0] < a[1]:
            raise RowError(f"spans [{a[0]}, {a[1]}) {a[2]} and [{b[0]}, {b[1]}) {b[2]} overlap")
    graphemes = grapheme_boundaries(text)
    for start, end, label in clean:
        for pos in (start, end):
            if pos not in graphemes:
                raise RowError(
                    f"span [{start}, {end}) {label} {text[start:end]!r} cuts a character in two at offset {pos} "
                    "(between a letter and its combining mark, or inside an emoji sequence)"
                )
        if not text[start:end].strip():
            raise RowError(f"span [{start}, {end}) {label} covers only whitespace")
    tokens = tokenize(text, {p for s_, e_, _ in clean for p in (s_, e_)})
    tags = ["O"] * len(tokens)
    starts = {s: i for i, (_, s, _) in enumerate(tokens)}
    ends = {e: i for i, (_, _, e) in enumerate(tokens)}
    out_spans = []
    for start, end, label in clean:
        if start not in starts or end not in ends:
            raise RowError(
                f"span [{start}, {end}) {label} {text[start:end]!r} does not start and end on token boundaries"
            )
        first, last = starts[start], ends[end]
        tags[first] = f"B-{label}"
        for j in range(first + 1, last + 1):
            tags[j] = f"I-{label}"
        out_spans.append({"start": start, "end": end, "label": label, "text": text[start:end]})
    return [t for t, _, _ in tokens], tags, out_spans


def normalise_tags(tags: list[str]) -> list[str]:
    """BIO from BIO, IOB1, BIOES or bare labels."""
    out = []
    prev = "O"
    for raw in tags:
        tag = str(raw).strip() or "O"
        if tag == "O":
            out.append("O")
            prev = "O"
            continue
        if len(tag) > 2 and tag[1] == "-" and tag[0] in "BIESLU":
            prefix, label = tag[0], tag[2:]
        else:
            prefix, label = "I", tag
        if prefix in ("S", "U"):
            prefix = "B"
        elif prefix in ("E", "L"):
            prefix = "I"
        if prefix == "I" and prev[2:] != label:
            prefix = "B"  # I- that starts an entity (IOB1, bare labels, or an error we repair)
        new = f"{prefix}-{label}"
        out.append(new)
        prev = new
    return out


def bio_to_spans(tokens: list[str], tags: list[str]) -> tuple[str, list[dict]]:
    offsets, pos = [], 0
    for tok in tokens:
        offsets.append((pos, pos + len(tok)))
        pos += len(tok) + 1
    text = " ".join(tokens)
    spans: list[dict] = []
    for i, tag in enumerate(tags):
        if tag.startswith("B-"):
            spans.append({"start": offsets[i][0], "end": offsets[i][1], "label": tag[2:]})
        elif tag.startswith("I-") and spans:
            spans[-1]["end"] = offsets[i][1]
    for s in spans:
        s["text"] = text[s["start"] : s["end"]]
    return text, spans


@register
class NamedEntityRecognition(JobType):
    name = "ner"
    title = "Named-entity recognition"
    description = (
        "Text + character spans, or tokens + tags. Output: text, tokens, tags (BIO), tag_ids and spans;"
        " invalid rows are reported in invalid_rows.jsonl."
    )
    output_columns = ("text", "tokens", "tags", "tag_ids", "spans")

    def required_columns(self, p: TransformRequest) -> list[str]:
        extra = [p.id_column] if p.id_column else []
        if p.spans_column:
            if not p.text_columns:
                raise ServiceError(
                    "ner with spans_column needs text_columns (the text the spans point into)", code="invalid_params"
                )
            if len(p.text_columns) > 1:
                raise ServiceError(
                    "ner with spans needs exactly one text column (span offsets refer to it)", code="invalid_params"
                )
            return [*p.text_columns, p.spans_column, *extra]
        if p.tokens_column and p.tags_column:
            return [p.tokens_column, p.tags_column, *extra]
        raise ServiceError(
            "ner needs either text_columns + spans_column, or tokens_column + tags_column", code="invalid_params"
        )

    def prepare(self, table: pa.Table, p: TransformRequest, drops: DropTracker, ctx) -> Prepared:
        n = table.num_rows
        texts: list[str] = []
        tokens_out: list[list[str]] = []
        tags_out: list[list[str]] = []
        spans_out: list[list[dict]] = []
        invalid = np.zeros(n, dtype=bool)
        problems: list[dict] = []
        if p.spans_column:
            text_col = join_text(table, p.text_columns, p.text_separator).to_pylist()
            a_col, b_col = table.column(p.spans_column).to_pylist(), None
            used = {*p.text_columns, p.spans_column}
        else:
            text_col = None
            a_col, b_col = table.column(p.tokens_column).to_pylist(), table.column(p.tags_column).to_pylist()
            used = {p.tokens_column, p.tags_column}
        for i in range(n):
            if i % 5000 == 0:
                ctx.progress(0.25 + 0.15 * i / max(n, 1), f"NER row {i} of {n}")
            try:
                if text_col is not None:
                    text = text_col[i] or ""
                    toks, tags, spans = spans_to_bio(text, _as_list(a_col[i], "spans"))
                else:
                    toks = [str(t) for t in _as_list(a_col[i], "tokens")]
                    raw_tags = [str(t) for t in _as_list(b_col[i], "tags")]
                    if len(toks) != len(raw_tags):
                        raise RowError(f"{len(toks)} tokens but {len(raw_tags)} tags")
                    if any(not t or any(c.isspace() for c in t) for t in toks):
                        raise RowError("a token is empty or contains whitespace")
                    tags = normalise_tags(raw_tags)
                    text, spans = bio_to_spans(toks, tags)
            except RowError as exc:
                if p.on_invalid_row == "fail":
                    raise ServiceError(f"row {i}: {exc}", code="invalid_row", details={"source_row": i}) from None
                invalid[i] = True
                problems.append({"source_row": i, "problem": str(exc)})
                text, toks, tags, spans = "", [], [], []
            texts.append(text)
            tokens_out.append(toks)
            tags_out.append(tags)
            spans_out.append(spans)
        drops.drop(invalid, "invalid_ner_row")
        if problems and not (~invalid).any():
            raise ServiceError(
                f"no valid NER rows: every row is invalid; first problem: row {problems[0]['source_row']}: "
                f"{problems[0]['problem']}",
                code="no_valid_rows",
                details={"problems": problems[:20]},
            )
        return Prepared(
            columns={
                "text": pa.array(texts, pa.string()),
                "tokens": pa.array(tokens_out, pa.list_(pa.string())),
                "tags": pa.array(tags_out, pa.list_(pa.string())),
                "spans": pa.array(spans_out, SPAN_TYPE),
            },
            used_columns=used,
            row_problems=problems,
        )

    def finalize(self, table: pa.Table) -> tuple[pa.Table, dict]:
        tags = table.column("tags").combine_chunks()
        flat = pc.list_flatten(tags)
        entities = sorted({t[2:] for t in pc.unique(flat).to_pylist() if t != "O"})
        names = ["O"] + [f"{prefix}-{e}" for e in entities for prefix in ("B", "I")]
        ids = pc.index_in(flat, value_set=pa.array(names, pa.string())).cast(pa.int32())
        offsets = tags.offsets.to_numpy()
        tag_ids = pa.ListArray.from_arrays(pa.array((offsets - offsets[0]).astype(np.int32)), ids)
        table = table.add_column(table.schema.get_field_index("tags") + 1, "tag_ids", tag_ids)
        return table, {
            "tags": names,
            "tag2id": {t: i for i, t in enumerate(names)},
            "id2tag": {str(i): t for i, t in enumerate(names)},
            "entities": entities,
            "scheme": "BIO",
        }

    def label_counts(self, table: pa.Table) -> dict[str, int]:
        """Entity (span) counts per label."""
        labels = pc.list_flatten(table.column("spans")).combine_chunks() if table.num_rows else None
        if labels is None or len(labels) == 0:
            return {}
        vc = pc.value_counts(labels.field("label")).to_pylist()
        return {d["values"]: d["counts"] for d in sorted(vc, key=lambda d: (-d["counts"], d["values"]))}
