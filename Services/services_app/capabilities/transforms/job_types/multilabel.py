from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ....errors import ServiceError
from ..base import DropTracker, JobType, Prepared, TransformRequest, register
from ..textutil import as_text, join_text

TRUTHY = ["1", "1.0", "true", "yes", "y", "t"]


def _list_from_mask(mask: np.ndarray, names: list[str]) -> pa.ListArray:
    """Rows of a 0/1 matrix (rows x labels) as lists of label names."""
    counts = mask.sum(axis=1)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    values = np.asarray(names, dtype=object)[np.nonzero(mask)[1]]
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.string()))


def _split_delimited(values: pa.ChunkedArray, delimiter: str) -> pa.ListArray:
    """ "a, b,,c" -> ["a", "b", "c"] for every row, vectorised; repeated labels kept once."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    parts = pc.split_pattern(values, delimiter)
    flat = pc.utf8_trim_whitespace(pc.list_flatten(parts))
    parent = pc.list_parent_indices(parts).to_numpy()
    keep = pc.not_equal(flat, "").to_numpy(zero_copy_only=False)
    flat_np = flat.to_numpy(zero_copy_only=False)[keep]
    parent = parent[keep]
    if len(flat_np):  # labels of a row sorted, repeats ("joy, joy") kept once
        order = np.lexsort((flat_np.astype(str), parent))
        flat_np, parent = flat_np[order], parent[order]
        first = np.ones(len(parent), dtype=bool)
        first[1:] = (parent[1:] != parent[:-1]) | (flat_np[1:] != flat_np[:-1])
        flat_np, parent = flat_np[first], parent[first]
    counts = np.bincount(parent, minlength=len(values)) if len(parent) else np.zeros(len(values), np.int64)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat_np, pa.string()))


def _offsets(lists: pa.ListArray) -> pa.Array:
    offsets = lists.offsets.to_numpy()
    return pa.array((offsets - offsets[0]).astype(np.int32))


@register
class MultiLabel(JobType):
    name = "multilabel"
    title = "Text classification (multi label)"
    description = (
        "Several labels per text, e.g. emotions: one label column with label_delimiter (default ','), or one 0/1"
        " column per label. Output: text, labels, label_ids."
    )
    stratify_default = True
    output_columns = ("text", "labels", "label_ids")

    def required_columns(self, p: TransformRequest) -> list[str]:
        cols = super().required_columns(p)
        if not p.label_columns:
            raise ServiceError(
                "multilabel needs label_columns (one delimited column or one 0/1 column per label)",
                code="invalid_params",
            )
        return [*cols, *p.label_columns]

    def prepare(self, table: pa.Table, p: TransformRequest, drops: DropTracker, ctx) -> Prepared:
        if len(p.label_columns) == 1:
            labels = _split_delimited(as_text(table.column(p.label_columns[0])), p.label_delimiter or ",")
        else:
            mask = np.column_stack(
                [
                    pc.is_in(pc.utf8_lower(as_text(table.column(c))), value_set=pa.array(TRUTHY)).to_numpy(
                        zero_copy_only=False
                    )
                    for c in p.label_columns
                ]
            )
            labels = _list_from_mask(mask, p.label_columns)
        empty = pc.list_value_length(labels).to_numpy(zero_copy_only=False) == 0
        if len(empty) and empty.all():
            raise ServiceError(
                f"every row has no label in {', '.join(p.label_columns)}: check label_columns and label_delimiter",
                code="all_labels_empty",
                details={"label_columns": p.label_columns, "label_delimiter": p.label_delimiter},
            )
        if not p.keep_empty_labels:
            drops.drop(empty, "empty_label")
        return Prepared(
            columns={"text": join_text(table, p.text_columns, p.text_separator), "labels": labels},
            used_columns={*p.text_columns, *p.label_columns},
        )

    def finalize(self, table: pa.Table) -> tuple[pa.Table, dict]:
        lists = table.column("labels").combine_chunks()
        flat = pc.list_flatten(lists)
        names = sorted(pc.unique(flat).to_pylist())
        ids = pc.index_in(flat, value_set=pa.array(names, pa.string())).cast(pa.int32())
        label_ids = pa.ListArray.from_arrays(_offsets(lists), ids)
        idx = table.schema.get_field_index("labels")
        table = table.add_column(idx + 1, "label_ids", label_ids)
        return table, {
            "labels": names,
            "label2id": {n: i for i, n in enumerate(names)},
            "id2label": {str(i): n for i, n in enumerate(names)},
            "multilabel": True,
        }

    def strata(self, table: pa.Table) -> np.ndarray:
        """The label combination of each row ("anger|joy"): a common, simple stratification for multi-label data."""
        lists = table.column("labels").combine_chunks()
        return pc.binary_join(lists, "|").to_numpy(zero_copy_only=False)

    def label_counts(self, table: pa.Table) -> dict[str, int]:
        flat = pc.list_flatten(table.column("labels"))
        vc = pc.value_counts(flat).to_pylist()
        return {d["values"]: d["counts"] for d in sorted(vc, key=lambda d: (-d["counts"], d["values"]))}
