"""Train a co-occurrence (PPMI) or n-gram language model, with a progress bar.

Example:
  python manage.py train_language_model --source jobs/language_modeling/target/corpus \\
      --kind ngram --n 3 --smoothing kneser-ney --name corpus-trigram
"""

import json

from django.core.management.base import BaseCommand, CommandError

from services_app.capabilities.language_models.jobs import train
from services_app.capabilities.language_models.request import LanguageModelRequest
from services_app.errors import ServiceError
from services_app.jobs.context import tqdm_context
from services_app.storage import get_storage


class Command(BaseCommand):
    help = "Train a language model on a dataset's train split and evaluate it on the validation split."

    def add_arguments(self, parser):
        parser.add_argument(
            "--source", required=True, help="transformed dataset folder or a csv/parquet/jsonl file (local or gs://)"
        )
        parser.add_argument("--text-column", default="text")
        parser.add_argument("--kind", choices=["cooccurrence", "ngram"], default="ngram")
        parser.add_argument("--window", type=int, default=5)
        parser.add_argument("--weighting", choices=["harmonic", "uniform"], default="harmonic")
        parser.add_argument("--n", type=int, default=3)
        parser.add_argument("--smoothing", choices=["kneser-ney", "add-k"], default="kneser-ney")
        parser.add_argument("--add-k", type=float, default=1.0)
        parser.add_argument("--min-count", type=int, default=2)
        parser.add_argument("--max-vocab", type=int, default=50_000)
        parser.add_argument("--validation-fraction", type=float, default=0.1)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--name", default=None)
        parser.add_argument("--output", default=None)
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, **o):
        keys = (
            "source",
            "text_column",
            "kind",
            "window",
            "weighting",
            "n",
            "smoothing",
            "add_k",
            "min_count",
            "max_vocab",
            "validation_fraction",
            "seed",
            "name",
            "output",
        )
        params = {k: o[k] for k in keys if o[k] is not None}
        ctx = tqdm_context(get_storage(), desc="train", disable=o["quiet"])
        try:
            request = LanguageModelRequest.from_params(params)  # the API's model: same checks, same messages
            result = train(ctx, request.job_params())
        except ServiceError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        finally:
            ctx._bar.close()
        self.stdout.write(json.dumps(result, indent=2))
