"""manage.py convert_to_parquet SRC [--out OUT] [--options JSON] [--delimiter ...]"""

import contextlib
import json
import os
import sys
from typing import NoReturn

from django.core.management.base import BaseCommand, CommandError

from services_app.capabilities.conversion import cli


def run_from_manage_py(argv: list[str]) -> None:
    """``manage.py convert_to_parquet ...`` without loading Django's apps (`django.setup`): the command uses
    the settings, the storage and the Django-free conversion, never a model, an admin or a URL, and the
    app registry costs about 0.4 s of CPU (ninja, the admin, auth, axes) on every run. The settings'
    logging is configured as `django.setup` would, without Django's defaults for its request and server
    loggers (and the debug views their e-mail handler imports): a command serves no request.
    `call_command` and the tests take the usual path."""
    import logging

    from django.conf import settings
    from django.utils.module_loading import import_string

    logging.captureWarnings(True)
    if settings.LOGGING_CONFIG and settings.LOGGING:
        import_string(settings.LOGGING_CONFIG)(settings.LOGGING)
    import signal

    # SIGTERM (a service manager, `timeout`, a cancelled CI job) stops the command as Ctrl-C does: DuckDB
    # interrupts the COPY, and the half-written output is removed on the way out
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    code: int | str | None = 0
    try:
        Command().run_from_argv(argv)
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: nothing was written for the file being converted\n")
        code = 130
    leave(code)


def leave(code: int | str | None) -> NoReturn:
    """End the command's process without the interpreter's teardown, which unloads every module one by
    one (about 0.07 s after a conversion, a tenth of what the command adds to DuckDB's own COPY). What
    the teardown would do that matters is done here first: the DuckDB connection is closed (DuckDB
    removes any files it spilled), an early source hash nobody took is stopped, the log handlers and
    both output streams are flushed. An unexpected exception never gets here: it ends the usual way,
    with its traceback."""
    import logging

    from services_app.capabilities.conversion import hashes
    from services_app.tables.engine import close_connection

    close_connection()
    hashes.cancel_prefetched()
    logging.shutdown()
    if isinstance(code, str):  # as `sys.exit("message")` does: the message on stderr, status 1
        sys.stderr.write(code + "\n")
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code or 0)


class Command(BaseCommand):
    help = "Convert a file or folder under the data root to Parquet; exits 1 when any file failed."
    # Django's system checks import the whole URL configuration (every API router and schema, with pandas
    # and the transforms behind them: about 0.8 s of CPU before the first byte is read); this command serves
    # no URL and uses no model. `manage.py check` still runs them.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        cli.add_arguments(parser)

    def handle(self, *args, **opts):
        # imported here, not at the top: `prefetch_source_hash` runs before these are loaded
        from services_app.capabilities.conversion.jobs import convert
        from services_app.capabilities.conversion.request import ConversionRequest
        from services_app.errors import ServiceError
        from services_app.jobs.context import tqdm_context
        from services_app.storage import get_storage

        try:
            options = json.loads(opts["options"]) if opts["options"] else {}
        except json.JSONDecodeError as exc:
            raise CommandError(f"--options is not valid JSON: {exc}") from None
        if not isinstance(options, dict):
            raise CommandError("--options must be a JSON object, e.g. '{\"header\": false}'")
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
        say = self.stdout.write
        if opts["json"]:  # stdout holds the JSON alone (for jq and friends); the lines below go to stderr
            self.stdout.write(json.dumps(result, indent=1, default=str))
            say = lambda line: sys.stderr.write(line + "\n")  # noqa: E731
        for entry in result["files"]:
            rel = entry.get("relative_path")
            if entry["status"] == "converted":
                outs = ", ".join(o["location"] for o in entry["outputs"])
                say(f"ok      {rel}: {entry['rows']} rows -> {outs}")
                for w in entry["warnings"]:
                    say(f"        warning: {w}")
            elif entry["status"] == "failed":
                self.stderr.write(f"FAILED  {rel}: {entry['error']['message']}")
            else:
                say(f"skipped {rel}: {entry.get('reason')}")
        say(
            f"{result['converted']} converted, {result['failed']} failed, {result['skipped']} skipped; "
            f"{result['rows']} rows, {result['bytes_in']} -> {result['bytes_out']} bytes in {result['seconds']} s"
            + (f"; report: {result['report']}" if result.get("report") else "")
        )
        if result["failed"]:
            sys.exit(1)
