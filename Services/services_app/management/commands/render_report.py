"""`manage.py render_report` (`make report`): the CML report markdown, rendered locally from the metrics on disk."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from services_app.capabilities.pipelines.definitions import SERVICES_DIR, load_model_tests, load_pipeline
from services_app.capabilities.pipelines.report import read_baseline_metrics, render_pipeline, render_report
from services_app.capabilities.pipelines.runner import PipelineResult, evaluate_pipeline
from services_app.errors import ServiceError


class Command(BaseCommand):
    help = "Render the model report (markdown, as posted on pull requests by CML) from the pipelines' metrics."

    def add_arguments(self, parser):
        parser.add_argument("--pipeline", action="append", dest="pipelines", help="only this pipeline (repeatable)")
        parser.add_argument("--config", help="model tests file (default: Services/DVC/model_tests.yaml)")
        parser.add_argument("--baseline", default="main", help="git revision to compare metrics with ('' for none)")
        parser.add_argument("--results", help="JSON written by `run_model_tests --json` (run times, errors)")
        parser.add_argument("--output", "-o", help="write the markdown here (default: stdout)")
        parser.add_argument(
            "--image-base", help="image links are relative to this folder (default: the output's folder or the repo)"
        )

    def handle(self, *args, pipelines, config, baseline, results, output, image_base, **opts):
        repo_root = SERVICES_DIR.parent
        try:
            cfg = load_model_tests(Path(config) if config else None)
            names = pipelines or list(cfg.pipelines)
            earlier = {r["pipeline"]: r for r in json.loads(Path(results).read_text())} if results else {}
            base = Path(image_base or (Path(output).resolve().parent if output else repo_root)).resolve()
            sections = []
            for name in names:
                pipeline = load_pipeline(name)
                result: PipelineResult = evaluate_pipeline(pipeline, cfg.pipelines.get(name))
                if name in earlier:
                    result.seconds = earlier[name].get("seconds")
                    result.stages_run = earlier[name].get("stages_run") or []
                    result.error = earlier[name].get("error") or ""
                old = read_baseline_metrics(pipeline, rev=baseline, repo_root=repo_root) if baseline else None
                if baseline and old is None:
                    self.stderr.write(f"no git revision {baseline!r} here: the report has no comparison")
                sections.append(
                    render_pipeline(pipeline, result, baseline=old, baseline_rev=baseline or "main", image_base=base)
                )
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        markdown = render_report(sections)
        if output:
            Path(output).write_text(markdown)
            self.stderr.write(f"wrote {output}")
        else:
            self.stdout.write(markdown)
