"""The one wrapper around Google Cloud Storage (google-cloud-storage and its JSON API).

`GcsClient` talks to GCS or to the emulator named by ``STORAGE_EMULATOR_HOST``;
`GcsObject` is what a listing or stat says about one object. Nothing here knows
about the data root or the allow list: `Storage` checks those first."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import quote

from ..errors import ServiceError

GCS_TMP_PREFIX = ".services-tmp/"
# Metadata calls (stat) give up after this: (connect, read) seconds per try, and about 20 s over all tries,
# so a bucket that does not answer is a 503 within seconds instead of a request held for minutes.
METADATA_TIMEOUT = (5, 20)
METADATA_DEADLINE = 20.0


def _metadata_retry():
    from google.cloud.storage.retry import DEFAULT_RETRY

    return (
        DEFAULT_RETRY.with_timeout(METADATA_DEADLINE)
        if hasattr(DEFAULT_RETRY, "with_timeout")
        else (DEFAULT_RETRY.with_deadline(METADATA_DEADLINE))
    )


def _b64_to_hex(value: str | None) -> str | None:
    return base64.b64decode(value).hex() if value else None


@dataclass(frozen=True)
class GcsObject:
    """What GCS says about one object (md5 and crc32c as hex)."""

    bucket: str
    key: str
    size: int
    generation: int
    md5: str | None
    crc32c: str | None
    updated: str | None = None
    content_type: str | None = None

    @property
    def location(self) -> str:
        return f"gs://{self.bucket}/{self.key}"

    def as_dict(self) -> dict:
        return {
            "location": self.location,
            "size": self.size,
            "generation": self.generation,
            "md5": self.md5,
            "crc32c": self.crc32c,
            "updated": self.updated,
        }


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through."""

    def __init__(self, raw: BinaryIO, *, md5: bool, crc: bool, on_bytes: Callable[[int], None] | None) -> None:
        import google_crc32c

        self.raw, self.size, self.on_bytes = raw, 0, on_bytes
        self._md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self._crc = google_crc32c.Checksum() if crc else None

    def write(self, data: bytes) -> int:
        self.raw.write(data)
        if self._md5 is not None:
            self._md5.update(data)
        if self._crc is not None:
            self._crc.update(data)
        self.size += len(data)
        if self.on_bytes:
            self.on_bytes(len(data))
        return len(data)

    def flush(self) -> None:
        self.raw.flush()

    def md5_hex(self) -> str:
        return self._md5.hexdigest() if self._md5 else ""

    def crc32c_hex(self) -> str:
        return self._crc.digest().hex() if self._crc else ""


class _CountingReader:
    """A read-only file object that reports how many bytes were read from it."""

    def __init__(self, raw: BinaryIO, *, on_bytes: Callable[[int], None] | None) -> None:
        self.raw, self.on_bytes = raw, on_bytes

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        if self.on_bytes and data:
            self.on_bytes(len(data))
        return data

    def tell(self) -> int:
        return self.raw.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def seekable(self) -> bool:
        return True


def _parallel(tasks: list[Callable[[], object]], *, workers: int) -> list[object]:
    """Run small callables on a thread pool; the first error is raised after the rest are cancelled."""
    if len(tasks) <= 1 or workers <= 1:
        return [t() for t in tasks]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(t) for t in tasks]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def _requests_errors() -> tuple[type[BaseException], ...]:
    from requests.exceptions import RequestException

    return (RequestException,)


GCS_SCOPES = ("https://www.googleapis.com/auth/devstorage.full_control",)
GCS_LIST_FIELDS = "items(name,size,md5Hash,crc32c,generation,updated,contentType),nextPageToken"


def _raise_for_json_api(resp, what: str) -> None:
    """The same `ServiceError`s as `GcsClient._errors`, from a JSON API response."""
    try:
        detail = resp.json().get("error", {}).get("message") or resp.text
    except ValueError:
        detail = resp.text
    detail = str(detail)[:500]
    if resp.status_code == 404:
        raise ServiceError(f"{what}: not found", code="not_found", status=404)
    if resp.status_code in (401, 403):
        raise ServiceError(
            f"{what}: access denied by Google Cloud Storage; check the credentials' permissions on the bucket",
            code="gcs_forbidden",
            status=403,
            details=detail,
        )
    raise ServiceError(
        f"{what}: Google Cloud Storage error (HTTP {resp.status_code})", code="gcs_error", status=502, details=detail
    )


class GcsClient:
    """The one wrapper around google-cloud-storage.

    The client is created lazily, one per thread (parallel transfers share
    nothing). Credentials come from the usual Google sources
    (``GOOGLE_APPLICATION_CREDENTIALS``, application default credentials, the
    metadata server); with ``STORAGE_EMULATOR_HOST`` set it talks to that
    emulator anonymously. Errors of the Google API become `ServiceError`s."""

    def __init__(self, *, project: str | None = None) -> None:
        self.project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCLOUD_PROJECT")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._creds: tuple[object, str | None] | None = None

    @staticmethod
    def emulator_host() -> str | None:
        """``STORAGE_EMULATOR_HOST`` with a scheme (the client library accepts it without one too)."""
        host = os.environ.get("STORAGE_EMULATOR_HOST", "").strip().rstrip("/")
        if not host:
            return None
        return host if "://" in host else f"http://{host}"

    def _credentials(self) -> tuple[object, str | None]:
        """Application default credentials and their project, resolved once and shared by every thread.

        (Resolving them can mean reading a key file or asking the metadata server; doing it once per
        process instead of once per thread's client.)"""
        with self._lock:
            if self._creds is None:
                import google.auth
                import google.auth.exceptions

                try:
                    creds, project = google.auth.default(scopes=GCS_SCOPES)
                except google.auth.exceptions.DefaultCredentialsError as exc:
                    # the reason can name a key file's path on the server: it goes to the log, not the answer
                    logging.getLogger(__name__).warning("Google credentials: %s", exc)
                    raise ServiceError(
                        "no Google credentials found: set GOOGLE_APPLICATION_CREDENTIALS to a service account key "
                        "file or run `gcloud auth application-default login` (the server log has the reason)",
                        code="gcs_credentials",
                        status=503,
                    ) from None
                self._creds = (creds, project)
            return self._creds

    def client(self):  # -> google.cloud.storage.Client
        client = getattr(self._local, "client", None)
        if client is not None and getattr(self._local, "client_host", None) != self.emulator_host():
            client = None  # STORAGE_EMULATOR_HOST changed (tests start one emulator per suite folder)
        if client is None:
            try:
                from google.cloud import storage as gcs
            except ImportError:  # pragma: no cover - google-cloud-storage is a base requirement
                raise ServiceError(
                    "gs:// needs google-cloud-storage: pip install -r requirements/base.txt",
                    code="not_configured",
                    status=503,
                ) from None
            if self.emulator_host():
                from google.auth.credentials import AnonymousCredentials

                client = gcs.Client(project=self.project or "local-emulator", credentials=AnonymousCredentials())
            else:
                creds, project = self._credentials()
                client = gcs.Client(project=self.project or project, credentials=creds)
            self._local.client = client
            self._local.client_host = self.emulator_host()
        return client

    def _json_api(self):  # -> (requests.Session, base url)
        """A plain HTTP session on the JSON API (authorized unless talking to the emulator), one per thread.

        Used for listing only: see `list`."""
        cached = getattr(self._local, "json_api", None)
        if cached is not None and self.emulator_host() and cached[1] != self.emulator_host():
            cached = None  # STORAGE_EMULATOR_HOST changed
        if cached is None:
            import requests
            from requests.adapters import HTTPAdapter
            from urllib3.util.retry import Retry

            base = self.emulator_host()
            if base:
                session = requests.Session()
            else:
                from google.auth.transport.requests import AuthorizedSession

                session = AuthorizedSession(self._credentials()[0])
                base = os.environ.get("API_ENDPOINT_OVERRIDE", "").rstrip("/") or "https://storage.googleapis.com"
            # listing is a GET: retried on the transient answers Google documents (429, 5xx) and on resets
            retry = Retry(
                total=5,
                connect=2,  # a refused connection is rarely transient: fail in about 2 s
                read=1,  # a server that takes the connection and never answers: one more try, then 503
                backoff_factor=0.5,
                status_forcelist=(408, 429, 500, 502, 503, 504),
                allowed_methods=frozenset({"GET"}),
                raise_on_status=False,
            )
            session.mount("http://", HTTPAdapter(max_retries=retry))
            session.mount("https://", HTTPAdapter(max_retries=retry))
            cached = self._local.json_api = (session, base)
        return cached

    @staticmethod
    def _object(blob) -> GcsObject:
        return GcsObject(
            bucket=blob.bucket.name,
            key=blob.name,
            size=int(blob.size or 0),
            generation=int(blob.generation or 0),
            md5=_b64_to_hex(blob.md5_hash),
            crc32c=_b64_to_hex(blob.crc32c),
            updated=blob.updated.isoformat() if blob.updated else None,
            content_type=blob.content_type,
        )

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        from google.api_core import exceptions as gexc

        try:
            yield
        except gexc.NotFound:
            raise ServiceError(f"{what}: not found", code="not_found", status=404) from None
        except gexc.PreconditionFailed:
            raise ServiceError(
                f"{what}: the object changed or already exists (generation precondition failed); nothing was "
                "overwritten",
                code="conflict",
                status=409,
            ) from None
        except (gexc.Forbidden, gexc.Unauthorized) as exc:
            raise ServiceError(
                f"{what}: access denied by Google Cloud Storage; check the credentials' permissions on the bucket",
                code="gcs_forbidden",
                status=403,
                details=str(exc)[:500],
            ) from None
        except gexc.GoogleAPICallError as exc:
            raise ServiceError(
                f"{what}: Google Cloud Storage error", code="gcs_error", status=502, details=str(exc)[:500]
            ) from None
        except (gexc.RetryError, *_requests_errors()) as exc:  # unreachable, or no answer within the retries
            raise ServiceError(
                f"{what}: Google Cloud Storage did not answer (unreachable or too slow); try again shortly",
                code="gcs_unreachable",
                status=502,
                details=type(exc).__name__,
            ) from None
        except _requests_errors() as exc:
            raise ServiceError(
                f"{what}: could not reach Google Cloud Storage",
                code="gcs_unreachable",
                status=502,
                details=str(exc)[:500],
            ) from None

    def stat(self, bucket: str, key: str) -> GcsObject | None:
        with self._errors(f"gs://{bucket}/{key}"):
            try:
                blob = self.client().bucket(bucket).get_blob(key, timeout=METADATA_TIMEOUT, retry=_metadata_retry())
            except Exception as exc:  # a missing bucket is a 404 like a missing object
                from google.api_core import exceptions as gexc

                if isinstance(exc, gexc.NotFound):
                    return None
                raise
        return self._object(blob) if blob is not None else None

    def list(self, bucket: str, prefix: str) -> Iterator[GcsObject]:
        """Every object under ``prefix`` (recursively), folder placeholders left out.

        Written against the JSON API on purpose instead of ``client.list_blobs``: the listing is the whole
        cost of a sync where nothing changed, and importing google-cloud-storage (about 0.25 s) plus
        parsing two timestamps per object took more than the request itself. This asks for only the
        fields used here, 1,000 objects a page, over a plain (authorized) requests session."""
        import requests

        what = f"gs://{bucket}/{prefix}"
        session, base = self._json_api()
        url = f"{base}/storage/v1/b/{quote(bucket, safe='')}/o"
        params = {"maxResults": "1000", "projection": "noAcl", "fields": GCS_LIST_FIELDS}
        if prefix:
            params["prefix"] = prefix
        while True:
            try:
                resp = session.get(url, params=params, timeout=(5, 30))
            except requests.RequestException as exc:
                raise ServiceError(
                    f"{what}: could not reach Google Cloud Storage",
                    code="gcs_unreachable",
                    status=502,
                    details=str(exc)[:500],
                ) from None
            except Exception as exc:  # google.auth refresh errors (expired or revoked credentials)
                if type(exc).__module__.startswith("google.auth"):
                    raise ServiceError(
                        f"{what}: the Google credentials could not be used: {exc}",
                        code="gcs_credentials",
                        status=503,
                    ) from None
                raise
            if resp.status_code != 200:
                _raise_for_json_api(resp, what)
            data = resp.json()
            for item in data.get("items") or ():
                name = item["name"]
                if name.endswith("/"):  # folder placeholders
                    continue
                yield GcsObject(
                    bucket=bucket,
                    key=name,
                    size=int(item.get("size") or 0),
                    generation=int(item.get("generation") or 0),
                    md5=_b64_to_hex(item.get("md5Hash")),
                    crc32c=_b64_to_hex(item.get("crc32c")),
                    updated=item.get("updated"),
                    content_type=item.get("contentType"),
                )
            token = data.get("nextPageToken")
            if not token:
                return
            params["pageToken"] = token

    def download(self, bucket: str, key: str, sink, *, generation: int | None = None) -> None:
        with self._errors(f"gs://{bucket}/{key}"):
            blob = self.client().bucket(bucket).blob(key, generation=generation or None)
            blob.download_to_file(sink, checksum=None)  # verified by the caller (it knows what it expects)

    def upload(self, bucket: str, key: str, source, *, size: int, content_type: str | None = None) -> GcsObject:
        with self._errors(f"gs://{bucket}/{key}"):
            blob = self.client().bucket(bucket).blob(key)
            blob.upload_from_file(source, size=size, content_type=content_type, if_generation_match=0, checksum=None)
            return self._object(blob)

    def copy(self, bucket: str, key: str, dest_bucket: str, dest_key: str, *, if_generation_match: int) -> GcsObject:
        with self._errors(f"gs://{dest_bucket}/{dest_key}"):
            client = self.client()
            src = client.bucket(bucket).blob(key)
            dest = client.bucket(dest_bucket).blob(dest_key)
            token = None
            while True:  # rewrite works in steps for large objects
                token, _, _ = dest.rewrite(src, token=token, if_generation_match=if_generation_match)
                if token is None:
                    break
            return self._object(dest)

    def delete(self, bucket: str, key: str, *, if_generation_match: int | None = None, missing_ok: bool = True) -> None:
        from google.api_core import exceptions as gexc

        with self._errors(f"gs://{bucket}/{key}"):
            try:
                self.client().bucket(bucket).blob(key).delete(if_generation_match=if_generation_match)
            except gexc.NotFound:
                if not missing_ok:
                    raise
