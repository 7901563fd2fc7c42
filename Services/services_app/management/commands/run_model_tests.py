"""`manage.py run_model_tests` (`make model-tests`): reproduce the DVC pipelines and check their metrics."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from services_app.capabilities.pipelines.definitions import load_model_tests
from services_app.capabilities.pipelines.runner import format_table, run_model_tests
from services_app.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Run `dvc repro` for each pipeline in model_tests.yaml, compare its metrics with the thresholds, "
        "print a table, and exit 1 when a metric falls short or a time limit runs out."
    )

    def add_arguments(self, parser):
        parser.add_argument("--pipeline", action="append", dest="pipelines", help="only this pipeline (repeatable)")
        parser.add_argument("--config", help="model tests file (default: Services/DVC/model_tests.yaml)")
        parser.add_argument("--no-repro", action="store_true", help="check the metrics already there; run nothing")
        parser.add_argument("--time-limit", type=float, help="seconds for all pipelines together (overrides the file)")
        parser.add_argument("--json", dest="json_out", help="also write the results as JSON to this file")
        parser.add_argument("--quiet", action="store_true", help="do not echo DVC's output")

    def handle(self, *args, pipelines, config, no_repro, time_limit, json_out, quiet, **opts):
        try:
            cfg = load_model_tests(Path(config) if config else None)
            results = run_model_tests(
                config=cfg,
                names=pipelines,
                reproduce=not no_repro,
                time_limit=time_limit,
                on_start=lambda name: self.stderr.write(f"== {name}"),
                on_line=None if quiet else (lambda line: self.stderr.write(f"   {line}")),
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(format_table(results))
        if json_out:
            Path(json_out).write_text(json.dumps([r.as_dict() for r in results], indent=2))
        failed = [r.pipeline for r in results if not r.passed]
        if failed:
            self.stderr.write(self.style.ERROR(f"model tests failed for: {', '.join(failed)}"))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(f"model tests passed for: {', '.join(r.pipeline for r in results)}"))
