"""manage.py check_incoming_data NEW --reference REF --label L [--text T]: the checks as a CI gate.

Prints the verdict table; exits 1 when a condition fails, 2 on bad input."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand

from services_app.errors import ServiceError
from services_app.jobs.context import tqdm_context
from services_app.storage import get_storage


class Command(BaseCommand):
    help = "Run the incoming data checks on a new batch (and a reference); exit 1 when a check fails."

    def add_arguments(self, parser):
        parser.add_argument("dataset", help="The new batch (a path under the data root, or absolute inside it)")
        parser.add_argument("--reference", help="The reference batch (what the model was trained on)")
        parser.add_argument("--label", required=True, help="Label column")
        parser.add_argument("--text", action="append", help="Text column (repeat for several)")
        parser.add_argument("--task", choices=["tabular", "text_classification"])
        parser.add_argument("--suite", action="append", choices=["integrity", "drift"], dest="suites")
        parser.add_argument(
            "--conditions", help='JSON overrides, e.g. \'{"feature_drift": {"max_numeric_drift": 0.3}}\''
        )
        parser.add_argument("--conditions-file", help="A defaults file (YAML) in place of CHECKS_DEFAULTS_FILE")
        parser.add_argument("--max-rows", type=int)
        parser.add_argument("--fix-budget", type=int, help="Rows in the fix-first list and exports (default 100)")
        parser.add_argument("--embeddings-provider", choices=["local", "openai"])
        parser.add_argument("--embeddings-model")
        parser.add_argument("--output", help="Output folder under the data root (default checks/<timestamp>)")
        parser.add_argument("--no-wandb", action="store_true")
        parser.add_argument("--json", action="store_true", help="Print the JSON summary instead of the table")
        parser.add_argument("--quiet", action="store_true", help="No progress bar")

    def handle(self, *args, **o):
        from services_app.capabilities.checks.jobs import run_checks
        from services_app.capabilities.checks.request import ChecksRequest

        storage = get_storage()
        params = {
            "dataset": o["dataset"],
            "reference": o["reference"],
            "label": o["label"],
            "text": o["text"],
            "task": o["task"],
            "suites": o["suites"],
            "max_rows": o["max_rows"],
            "fix_budget": o["fix_budget"],
            "embeddings": {"provider": o["embeddings_provider"], "model": o["embeddings_model"]},
            "wandb": not o["no_wandb"],
        }
        if o["output"]:
            params["output"] = o["output"]
        ctx = tqdm_context(storage, desc="checks", disable=o["quiet"])
        try:
            if o["conditions"]:
                params["conditions"] = json.loads(o["conditions"])
            checks = ChecksRequest.from_params({k: v for k, v in params.items() if v is not None})
            result = run_checks(ctx, checks.job_params(), defaults_file=o["conditions_file"])
        except (ServiceError, json.JSONDecodeError) as exc:
            self.stderr.write(f"error: {getattr(exc, 'message', exc)}")
            sys.exit(2)
        finally:
            bar = getattr(ctx, "_bar", None)
            if bar is not None:
                bar.close()
        if o["json"]:
            self.stdout.write(json.dumps(result, indent=2, default=str))
        else:
            self.stdout.write(format_table(result))
        sys.exit(0 if result["passed"] else 1)


def format_table(result: dict) -> str:
    rows = [("CHECK", "STAGE", "RESULT", "VALUE", "CONDITION")]
    for c in result["checks"]:
        value = json.dumps(c.get("value"), default=str) if c.get("value") is not None else ""
        cond = "; ".join(x["details"].replace("\n", " ") for x in c["conditions"]) or c.get("error") or ""
        rows.append((c["id"], c["stage"], c["status"].upper(), value[:40], cond[:90]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]
    lines.append("")
    for note in result.get("sampling") or []:
        lines.append(f"note: {note}")
    for problem in result.get("problems") or []:
        lines.append(f"problem: {problem['what']} [{problem['check']}]")
    lines.append(f"report: {result['report']}")
    rows = result.get("row_results") or {}
    if rows.get("fix_first.csv"):
        lines.append(f"fix first: {rows['fix_first.csv']} ({rows.get('fix_first_rows', 0)} rows)")
    if (result.get("wandb") or {}).get("dir"):
        lines.append(f"wandb run: {result['wandb']['dir']}")
    verdict = "PASSED" if result["passed"] else "FAILED: " + ", ".join(result["failed_checks"])
    lines.append(f"verdict: {verdict}")
    return "\n".join(lines)
