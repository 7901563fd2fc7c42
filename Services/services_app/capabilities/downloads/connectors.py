"""The connectors: each fetches into ``raw/<connector>/...`` and says what it wrote.

A connector is ``fn(ctx, params, *, out_root) -> dict`` with ``files`` (every
file written, relative to the data root, with sha256 and size) and
``tables`` (files worth converting to Parquet). Add one by writing the
function and registering it in `CONNECTORS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from ...errors import ServiceError
from ...jobs.context import JobContext
from ...storage import is_gcs, parse_gcs, safe_filename, sha256_file
from . import http
from .oekobaudat import fetch_oekobaudat

DEFAULT_MAX_BYTES = 5 * 1024**3


def _policy(params: dict) -> http.RetryPolicy:
    try:
        return http.RetryPolicy(
            retries=int(params.get("retries", 4)),
            backoff=float(params.get("backoff_seconds", 1.0)),
            max_wait=float(params.get("max_wait_seconds", 60.0)),
        )
    except (TypeError, ValueError):
        raise ServiceError(
            "retries, backoff_seconds and max_wait_seconds must be numbers", code="invalid_params"
        ) from None


def fetch_url(ctx: JobContext, params: dict, *, out_root: Path) -> dict:
    """Any http(s) URL or a gs:// object into ``raw/url/<host or gcs/bucket>/<file name>``."""
    url = params.get("url")
    if not isinstance(url, str) or not url:
        raise ServiceError("the url connector needs params.url (http, https or gs://)", code="invalid_params")
    max_bytes = int(params.get("max_bytes") or DEFAULT_MAX_BYTES)
    storage = ctx.storage
    total = {"n": 0}

    def on_bytes(n: int) -> None:
        total["n"] += n
        ctx.progress(0.05, f"{total['n']:,} bytes")

    if is_gcs(url):
        bucket, key = parse_gcs(url)
        obj = storage.gcs_stat(url)
        if obj.size > max_bytes:
            raise ServiceError(
                f"{url} is {obj.size} bytes, more than the cap of {max_bytes}", code="too_large", status=413
            )
        name = safe_filename(params.get("filename") or PurePosixPath(key).name)
        target = out_root / "gcs" / safe_filename(bucket) / name
        with storage.atomic_file(target) as tmp:
            storage.gcs_download(url, tmp, expected=obj, on_bytes=on_bytes)
            digest = sha256_file(tmp)
            http._check(
                http.Fetched(url, obj.size, digest, obj.md5 or "", obj.content_type or "", 1),
                url,
                sha256=params.get("sha256"),
                md5=params.get("md5"),
                content_type=params.get("content_type"),
            )
        record = {"source": url, "generation": obj.generation, "sha256": digest, "size": obj.size, "md5": obj.md5}
    else:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ServiceError(f"{url!r} is not an http(s) or gs:// URL", code="invalid_url")
        name = safe_filename(params.get("filename") or PurePosixPath(parsed.path).name or "download")
        target = out_root / safe_filename(parsed.hostname or "host") / name
        got = http.fetch(
            url,
            target,
            storage=storage,
            max_bytes=max_bytes,
            sha256=params.get("sha256"),
            md5=params.get("md5"),
            content_type=params.get("content_type"),
            policy=_policy(params),
            timeout=float(params.get("timeout_seconds", 60)),
            on_bytes=on_bytes,
        )
        record = {
            "source": url,
            "final_url": got.url,
            "sha256": got.sha256,
            "md5": got.md5,
            "size": got.size,
            "content_type": got.content_type,
            "attempts": got.attempts,
        }
    record["fetched_at"] = datetime.now(UTC).isoformat()
    sidecar = target.with_name(target.name + ".download.json")
    with storage.atomic_file(sidecar) as tmp:
        tmp.write_text(json.dumps(record, indent=2))
    rel = storage.relative(target)
    return {
        "files": [{"location": rel, "sha256": record["sha256"], "size": record["size"]}],
        "tables": [rel],
        "record": record,
        "manifest": storage.relative(sidecar),
    }


CONNECTORS: dict[str, Callable[..., dict]] = {"url": fetch_url, "oekobaudat": fetch_oekobaudat}


def get_connector(name: str) -> Callable[..., dict]:
    try:
        return CONNECTORS[name]
    except KeyError:
        raise ServiceError(
            f"unknown connector {name!r}; known connectors: {', '.join(sorted(CONNECTORS))}",
            code="unknown_connector",
            details={"known": sorted(CONNECTORS)},
        ) from None
