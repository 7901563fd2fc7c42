import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from services_app.capabilities.downloads.jobs import download
from services_app.capabilities.downloads.request import DatasetDownloadRequest
from services_app.errors import ServiceError
from services_app.jobs.context import tqdm_context
from services_app.storage import get_storage

EXAMPLE = """\
downloads:
  - connector: url
    params: {url: "https://example.org/emissions.csv", sha256: "<optional>"}
    convert: true
  - connector: oekobaudat
    params: {compliance: A2, page_size: 500}
"""


def config_path() -> Path:
    return Path(os.environ.get("SERVICES_DOWNLOADS_CONFIG") or Path(settings.DATA_ROOT) / "downloads.yaml")


class Command(BaseCommand):
    help = "Run the downloads configured in <DATA_ROOT>/downloads.yaml (or SERVICES_DOWNLOADS_CONFIG)."

    def add_arguments(self, parser):
        parser.add_argument("--config", help="YAML file with a `downloads:` list (default: see help)")
        parser.add_argument("--dry-run", action="store_true", help="print what would run")
        parser.add_argument("--only", help="run only the entries with this connector")

    def handle(self, *args, **opts):
        import yaml

        path = Path(opts["config"]) if opts["config"] else config_path()
        if not path.exists():
            self.stdout.write(f"no downloads configured: {path} does not exist. Create it, for example:\n\n{EXAMPLE}")
            return
        try:
            config = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise CommandError(f"{path} is not valid YAML: {exc}") from None
        entries = config.get("downloads") if isinstance(config, dict) else None
        if not isinstance(entries, list) or not entries:
            self.stdout.write(f"no downloads configured in {path} (add a `downloads:` list):\n\n{EXAMPLE}")
            return
        failed = 0
        for i, entry in enumerate(entries, 1):
            if not isinstance(entry, dict) or "connector" not in entry:
                raise CommandError(f"{path}: entry {i} needs a `connector` (url or oekobaudat)")
            if opts["only"] and entry["connector"] != opts["only"]:
                continue
            try:  # the API's model: a misspelt key in the file is refused before anything is fetched
                params = DatasetDownloadRequest.from_params({k: v for k, v in entry.items() if v is not None})
            except ServiceError as exc:
                raise CommandError(f"{path}: entry {i}: {exc.message}") from None
            params = params.job_params()
            label = f"{entry['connector']} {params['params'].get('url') or params['params'].get('data_stock') or ''}"
            if opts["dry_run"]:
                self.stdout.write(f"would run {label.strip()} (convert: {params['convert']})")
                continue
            ctx = tqdm_context(get_storage(), desc=label.strip()[:40], disable=opts["verbosity"] == 0)
            try:
                result = download(ctx, params)
            except ServiceError as exc:
                failed += 1
                self.stderr.write(f"FAILED {label.strip()}: {exc.message}")
                continue
            finally:
                ctx._bar.close()  # type: ignore[attr-defined]
            for f in result["files"]:
                self.stdout.write(f"{f['location']}  sha256={f['sha256']}  {f['size']} bytes")
            for p in result["parquet"]:
                self.stdout.write(f"{p}  (parquet)")
        if failed:
            raise CommandError(f"{failed} of {len(entries)} downloads failed")
