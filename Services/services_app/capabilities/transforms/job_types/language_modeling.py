from __future__ import annotations

import pyarrow as pa

from ..base import DropTracker, JobType, Prepared, TransformRequest, register
from ..textutil import join_text


@register
class LanguageModeling(JobType):
    name = "language_modeling"
    title = "Language modelling"
    description = "Text only (one or several columns joined), split into train/validation/test."
    output_columns = ("text",)

    def prepare(self, table: pa.Table, p: TransformRequest, drops: DropTracker, ctx) -> Prepared:
        return Prepared(
            columns={"text": join_text(table, p.text_columns, p.text_separator)}, used_columns=set(p.text_columns)
        )
