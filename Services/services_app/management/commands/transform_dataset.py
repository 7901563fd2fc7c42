"""Transform a csv/parquet file into a training-ready dataset, with a progress bar.

Example:
  python manage.py transform_dataset --job-type classification \\
      --source jobs/classification/source/reviews.csv --text-columns title body \\
      --label-columns sentiment --splits 0.8 0.1 0.1 --name reviews-v1
"""

import json

from django.core.management.base import BaseCommand, CommandError

from services_app.capabilities.transforms.jobs import transform
from services_app.capabilities.transforms.request import TransformRequest
from services_app.errors import ServiceError
from services_app.jobs.context import tqdm_context
from services_app.storage import get_storage


class Command(BaseCommand):
    help = "Turn a raw file into train/validation/test splits for a job type (classification, multilabel, ner, language_modeling)."

    def add_arguments(self, parser):
        parser.add_argument("--job-type", required=True)
        parser.add_argument(
            "--source", required=True, help="csv, tsv, parquet or jsonl under the data root or gs://bucket/key"
        )
        parser.add_argument("--text-columns", nargs="+", default=[])
        parser.add_argument("--text-separator", default=None)
        parser.add_argument("--label-columns", nargs="+", default=[])
        parser.add_argument("--label-delimiter", default=None)
        parser.add_argument("--spans-column", default=None)
        parser.add_argument("--tokens-column", default=None)
        parser.add_argument("--tags-column", default=None)
        parser.add_argument("--id-column", default=None)
        parser.add_argument(
            "--splits", nargs=3, type=float, metavar=("TRAIN", "VALIDATION", "TEST"), default=[0.8, 0.1, 0.1]
        )
        parser.add_argument("--stratify", action="store_true", default=None)
        parser.add_argument("--no-stratify", dest="stratify", action="store_false")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--no-deduplicate", dest="deduplicate", action="store_false", default=True)
        parser.add_argument("--min-text-length", type=int, default=1)
        parser.add_argument("--keep-empty", dest="drop_empty", action="store_false", default=True)
        parser.add_argument("--keep-empty-labels", action="store_true", default=False)
        parser.add_argument("--on-rare-class", choices=["warn", "error"], default="warn")
        parser.add_argument("--on-invalid-row", choices=["drop", "fail"], default="drop")
        parser.add_argument("--formats", nargs="+", choices=["parquet", "jsonl"], default=["parquet", "jsonl"])
        parser.add_argument("--name", default=None, help="output folder name under jobs/<job_type>/target/")
        parser.add_argument(
            "--output", default=None, help="output folder under the data root or gs://bucket/prefix (overrides --name)"
        )
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args, **o):
        params = {
            "job_type": o["job_type"],
            "source": o["source"],
            "text_columns": o["text_columns"],
            "label_columns": o["label_columns"],
            "label_delimiter": o["label_delimiter"],
            "spans_column": o["spans_column"],
            "tokens_column": o["tokens_column"],
            "tags_column": o["tags_column"],
            "id_column": o["id_column"],
            "text_separator": o["text_separator"],
            "splits": dict(zip(("train", "validation", "test"), o["splits"], strict=True)),
            "stratify": o["stratify"],
            "seed": o["seed"],
            "deduplicate": o["deduplicate"],
            "min_text_length": o["min_text_length"],
            "drop_empty": o["drop_empty"],
            "keep_empty_labels": o["keep_empty_labels"],
            "on_rare_class": o["on_rare_class"],
            "on_invalid_row": o["on_invalid_row"],
            "formats": o["formats"],
            "name": o["name"],
            "output": o["output"],
        }
        params = {k: v for k, v in params.items() if v is not None}
        ctx = tqdm_context(get_storage(), desc="transform", disable=o["quiet"])
        try:
            request = TransformRequest.from_params(params)  # the API's model: same checks, same messages
            result = transform(ctx, request.job_params())
        except ServiceError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        finally:
            ctx._bar.close()
        for warning in ctx.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(json.dumps(result, indent=2))
