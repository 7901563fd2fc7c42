"""manage.py convert_to_parquet SRC [--out OUT] [--options JSON] [--delimiter ...]"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from services_app.capabilities.conversion.jobs import convert
from services_app.capabilities.conversion.request import ConversionRequest
from services_app.errors import ServiceError
from services_app.jobs.context import tqdm_context
from services_app.storage import get_storage


class Command(BaseCommand):
    help = "Convert a file or folder under the data root to Parquet; exits 1 when any file failed."
    # Django's system checks import the whole URL configuration (every API router and schema, with pandas
    # and the transforms behind them: about 0.8 s of CPU before the first byte is read); this command serves
    # no URL and uses no model. `manage.py check` still runs them.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("source", help="file or folder location (relative to the data root, or absolute inside it)")
        parser.add_argument("--out", dest="output", default=None, help="output .parquet file or folder")
        parser.add_argument("--options", default=None, help="conversion options as JSON, e.g. '{\"header\": false}'")
        parser.add_argument("--delimiter", default=None)
        parser.add_argument("--encoding", default=None)
        parser.add_argument("--null-value", action="append", dest="null_values", default=None)
        parser.add_argument("--compression", default=None)
        parser.add_argument("--json", action="store_true", help="print the full result as JSON")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args, **opts):
        try:
            options = json.loads(opts["options"]) if opts["options"] else {}
        except json.JSONDecodeError as exc:
            raise CommandError(f"--options is not valid JSON: {exc}") from None
        for key in ("delimiter", "encoding", "null_values", "compression"):
            if opts[key] is not None:
                options[key] = opts[key]
        ctx = tqdm_context(get_storage(), desc="parquet", disable=opts["quiet"])
        try:
            request = ConversionRequest.from_params(  # the API's model: same checks, same messages
                {"source": opts["source"], "output": opts["output"], "options": options}
            )
            result = convert(ctx, request.job_params())
        except ServiceError as exc:
            ctx._bar.close()
            for entry in (exc.details or {}).get("files", []) if isinstance(exc.details, dict) else []:
                if entry.get("error"):
                    self.stderr.write(f"FAILED {entry.get('relative_path')}: {entry['error']['message']}")
            raise CommandError(exc.message) from None
        ctx._bar.close()
        if opts["json"]:
            self.stdout.write(json.dumps(result, indent=1, default=str))
        for entry in result["files"]:
            rel = entry.get("relative_path")
            if entry["status"] == "converted":
                outs = ", ".join(o["location"] for o in entry["outputs"])
                self.stdout.write(f"ok      {rel}: {entry['rows']} rows -> {outs}")
                for w in entry["warnings"]:
                    self.stdout.write(f"        warning: {w}")
            elif entry["status"] == "failed":
                self.stderr.write(f"FAILED  {rel}: {entry['error']['message']}")
            else:
                self.stdout.write(f"skipped {rel}: {entry.get('reason')}")
        self.stdout.write(
            f"{result['converted']} converted, {result['failed']} failed, {result['skipped']} skipped; "
            f"{result['rows']} rows, {result['bytes_in']} -> {result['bytes_out']} bytes in {result['seconds']} s"
            + (f"; report: {result['report']}" if result.get("report") else "")
        )
        if result["failed"]:
            sys.exit(1)
