"""manage.py convert_to_parquet SRC [--out OUT] [--options JSON] [--delimiter ...]"""

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import NoReturn

from django.core.management.base import BaseCommand, CommandError

from services_app.capabilities.conversion import hashes


def prefetch_source_hash(argv: list[str]) -> None:
    """Start hashing the source file before Django and the readers are imported (``manage.py`` calls this
    first): the sha256 every output records then runs on the second core during start-up, which is
    single-threaded, instead of beside DuckDB's threads. Only a file inside the data root; anything
    unexpected (a folder, a gs:// source, bad arguments, a data root set only in a settings override)
    simply means no early start: the conversion hashes as it always does."""
    if any(a in ("-h", "--help") or a.startswith("--settings") for a in argv):
        return
    try:
        opts, _ = Command().create_parser("manage.py", "convert_to_parquet").parse_known_args(argv)
        source = opts.source
        if not source or "://" in source:
            return
        # the data root as settings.DATA_ROOT reads it (services_project/settings.py), without loading settings
        import environ

        repo = Path(__file__).resolve().parents[4]
        environ.Env.read_env(repo / ".env", overwrite=False)  # as the settings do
        root = Path(os.environ.get("SERVICES_DATA_ROOT") or repo / "data").resolve()
        path = (Path(source) if Path(source).is_absolute() else root / source).resolve()
        if not path.is_relative_to(root) or not path.is_file() or hashes.known_sha256(path, root):
            return
        hashes.prefetch(path)
    except Exception:  # noqa: BLE001, S110 - an optimisation only; the command itself reports any problem
        pass


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
    code: int | str | None = 0
    try:
        Command().run_from_argv(argv)
    except SystemExit as exc:
        code = exc.code
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
