import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from services_app.capabilities.model_sync import core
from services_app.capabilities.model_sync.jobs import sync
from services_app.capabilities.model_sync.request import ModelSyncRequest
from services_app.errors import ServiceError
from services_app.jobs.context import tqdm_context
from services_app.storage import get_storage

VERBS = {
    "download": "download",
    "upload": "upload",
    "delete_local": "delete locally",
    "delete_remote": "delete in bucket",
}


class Command(BaseCommand):
    help = (
        "Sync models between the GCS bucket and the local models root, moving only what changed (by md5). "
        "models-local: bucket -> disk; models-gcp: disk -> bucket."
    )
    # Django's system checks import the whole URL configuration (every API router and schema, about
    # 2 s); this command serves no URL and uses no model, and a sync where nothing changed should be
    # as quick as its listing. `manage.py check` still runs them.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("direction", choices=[core.DOWN, core.UP])
        parser.add_argument("--dry-run", action="store_true", help="list what would move and change nothing")
        parser.add_argument("--delete", action="store_true", help="also delete what the source side lacks")
        parser.add_argument("--workers", type=int, default=8, help="parallel transfers (default 8)")
        parser.add_argument("--name", help="only this model")
        parser.add_argument("--model-version", dest="model_version", help="only this version (with --name)")
        parser.add_argument("--bucket", default=None, help="bucket (default GCS_MODELS_BUCKET)")

    def handle(self, *args, **opts):
        storage = get_storage()
        bucket = opts["bucket"] or settings.GCS_MODELS_BUCKET
        ctx = tqdm_context(storage, desc=f"sync {opts['direction']}", disable=opts["dry_run"] or opts["verbosity"] == 0)
        try:
            request = ModelSyncRequest.from_params(  # the API's model: same checks, same messages
                {
                    "direction": opts["direction"],
                    "dry_run": opts["dry_run"],
                    "delete": opts["delete"],
                    "workers": opts["workers"],
                    "name": opts["name"],
                    "version": opts["model_version"],
                }
            )
            result = sync(ctx, {**request.job_params(), "bucket": bucket})
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        finally:
            ctx._bar.close()  # type: ignore[attr-defined]
        where = f"gs://{bucket}" + (" -> " if opts["direction"] == core.DOWN else " <- ") + result["models_root"]
        prefix = "would " if opts["dry_run"] else ""
        for a in result["actions"]:
            self.stdout.write(
                f"{prefix}{VERBS[a['op']]}: {a['name']}/{a['version']}/{a['path']} "
                f"({core.human(a['size'])}, {a['reason']})"
            )
        if result["actions_truncated"]:
            self.stdout.write("... (first 1000 actions shown)")
        if not result["actions"]:
            self.stdout.write(f"{where}: everything in sync ({result['versions_compared']} model versions)")
        else:
            self.stdout.write(
                f"{where}: {prefix}transfer {result['files_to_transfer']} files "
                f"({core.human(result['bytes_to_transfer'])}), {prefix}delete {result['files_to_delete']} files"
                f" in {result['seconds']} s"
            )
        sys.stdout.flush()
