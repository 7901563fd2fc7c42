"""manage.py build_knowledgebase SRC --name NAME: the same build the API runs, with a progress bar."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from services_app.capabilities.knowledgebase.jobs import build
from services_app.capabilities.knowledgebase.request import KnowledgeBaseRequest
from services_app.errors import ServiceError
from services_app.jobs.context import tqdm_context
from services_app.storage import get_storage


class Command(BaseCommand):
    help = "Build (or incrementally rebuild) a knowledge base from a folder under the data root."

    def add_arguments(self, parser):
        parser.add_argument("source", help="folder under the data root (relative or absolute), or gs://bucket/prefix")
        parser.add_argument("--name", required=True, help="knowledge base name (letters, digits, . _ -)")
        parser.add_argument("--include", action="append", default=[], help="glob to keep (repeatable)")
        parser.add_argument("--exclude", action="append", default=[], help="glob to leave out (repeatable)")
        parser.add_argument("--include-hidden", action="store_true", help="also read names starting with '.'")
        parser.add_argument("--chunking", choices=["none", "characters", "tokens"], default="none")
        parser.add_argument("--chunk-size", type=int, help="chunk size (default 1000 characters / 256 tokens)")
        parser.add_argument("--chunk-overlap", type=int, help="overlap between chunks (default size/10)")
        parser.add_argument("--embed", action="store_true", help="embed chunks and index them for search")
        parser.add_argument("--embeddings-provider", choices=["local", "openai"])
        parser.add_argument("--embeddings-model")
        parser.add_argument("--workers", type=int, help="extraction processes (default: one per CPU)")
        parser.add_argument("--file-timeout", type=float, help="seconds one file may take (default 120)")
        parser.add_argument("--full", action="store_true", help="read every file again")
        parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **o):
        chunking = {"mode": o["chunking"]}
        if o["chunk_size"]:
            chunking["size"] = o["chunk_size"]
        if o["chunk_overlap"] is not None:
            chunking["overlap"] = o["chunk_overlap"]
        params = {
            "name": o["name"],
            "source": o["source"],
            "include": o["include"],
            "exclude": o["exclude"],
            "include_hidden": o["include_hidden"],
            "chunking": chunking,
            "embed": o["embed"],
            "full": o["full"],
        }
        for key in ("embeddings_provider", "embeddings_model", "workers", "file_timeout"):
            if o[key] is not None:
                params[key] = o[key]
        try:
            request = KnowledgeBaseRequest.from_params(params)  # the API's model: same checks, same messages
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        ctx = tqdm_context(get_storage(), desc=f"knowledge base {o['name']}", disable=o["no_progress"])
        try:
            result = build(ctx, request.job_params())
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        finally:
            ctx._bar.close()  # type: ignore[attr-defined]
        if o["json"]:
            self.stdout.write(json.dumps(result, indent=2, ensure_ascii=False, default=str))
            return
        c = result["counts"]
        self.stdout.write(
            f"{result['name']}: {c['documents']} documents, {c['chunks']} chunks, {c['errors']} errors, "
            f"{c['empty']} empty; added {result['added']}, changed {result['changed']}, "
            f"unchanged {result['unchanged']}, removed {result['removed']} in {result['seconds']}s"
        )
        for err in result["errors"][:20]:
            self.stdout.write(f"  error  {err['path']}: {err['reason']}")
        for s in result["skipped"][:20]:
            self.stdout.write(f"  skipped {s['rel']}: {s['reason']}")
        if result["errors_total"] > 20:
            self.stdout.write(f"  ... {result['errors_total'] - 20} more errors in files.parquet")
        for out in result["outputs"]:
            self.stdout.write(f"  wrote {out}")
        sys.stdout.flush()
