from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ....errors import ServiceError
from ..base import DropTracker, JobType, Prepared, TransformRequest, register
from ..textutil import as_text, join_text


@register
class Classification(JobType):
    name = "classification"
    title = "Text classification (single label)"
    description = "One label per text, e.g. sentiment or ESG topic. Output: text, label, label_id."
    stratify_default = True
    output_columns = ("text", "label", "label_id")

    def required_columns(self, p: TransformRequest) -> list[str]:
        cols = super().required_columns(p)
        if len(p.label_columns) != 1:
            raise ServiceError(
                "classification needs exactly one label column in label_columns"
                " (several labels per text: use job_type 'multilabel')",
                code="invalid_params",
            )
        return [*cols, *p.label_columns]

    def prepare(self, table: pa.Table, p: TransformRequest, drops: DropTracker, ctx) -> Prepared:
        column = p.label_columns[0]
        label = as_text(table.column(column))
        empty = pc.equal(label, "").to_numpy(zero_copy_only=False)
        if len(empty) and empty.all():
            raise ServiceError(
                f"every value of the label column {column!r} is empty: pick the column that holds the labels",
                code="all_labels_empty",
                details={"label_column": column},
            )
        if not p.keep_empty_labels:
            drops.drop(empty, "empty_label")
        return Prepared(
            columns={"text": join_text(table, p.text_columns, p.text_separator), "label": label},
            used_columns={*p.text_columns, column},
        )

    def finalize(self, table: pa.Table) -> tuple[pa.Table, dict]:
        labels = sorted(pc.unique(table.column("label")).to_pylist())
        ids = pc.index_in(table.column("label"), value_set=pa.array(labels, pa.string())).cast(pa.int32())
        idx = table.schema.get_field_index("label")
        table = table.add_column(idx + 1, "label_id", ids)
        return table, {
            "labels": labels,
            "label2id": {lab: i for i, lab in enumerate(labels)},
            "id2label": {str(i): lab for i, lab in enumerate(labels)},
        }

    def strata(self, table: pa.Table) -> np.ndarray:
        return table.column("label_id").to_numpy()

    def label_counts(self, table: pa.Table) -> dict[str, int]:
        vc = pc.value_counts(table.column("label")).to_pylist()
        return {d["values"]: d["counts"] for d in sorted(vc, key=lambda d: (-d["counts"], d["values"]))}
