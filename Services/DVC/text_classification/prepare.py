"""Stage `prepare`: the platform's classification transform of the shipped sample.

Calls `services_app.capabilities.transforms.jobs.transform` (the same
function behind `POST /api/transforms/...` and `manage.py transform`) with
the data root set to this folder, and writes data/prepared/.
"""

from __future__ import annotations

import _common
from _common import HERE, params

from services_app.capabilities.transforms.jobs import transform
from services_app.jobs.context import JobContext
from services_app.storage import Storage


def main() -> None:
    p = params("prepare")
    ctx = JobContext(storage=Storage(data_root=HERE))
    result = transform(
        ctx,
        {
            "job_type": "classification",
            "source": p["source"],
            "text_columns": p["text_columns"],
            "label_columns": p["label_columns"],
            "id_column": p.get("id_column"),
            "splits": p["splits"],
            "stratify": p.get("stratify", True),
            "seed": p["seed"],
            "deduplicate": p.get("deduplicate", True),
            "formats": ["parquet"],
            "output": str(_common.PREPARED.relative_to(HERE)),
        },
    )
    for w in ctx.warnings:
        print("warning:", w)
    print({k: v for k, v in result.items() if k != "outputs"})


if __name__ == "__main__":
    main()
