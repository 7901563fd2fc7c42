"""One careful HTTP GET to a file: retries, size cap, checksums, never a partial file.

Written here rather than taken from a library because the rules are ours:
retry 5xx/429/transport errors with exponential backoff (honouring
Retry-After), refuse other 4xx at once, cap the size before and while
streaming, check content type and checksum, and write to a temporary name
that is renamed only when everything checked out. httpx does the HTTP.
"""

from __future__ import annotations

import email.utils
import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from ...errors import ServiceError
from ...outbound import guarded_client
from ...storage import Storage

USER_AGENT = "Services-data-download/1.0"
RETRY_STATUSES = {429, 500, 502, 503, 504}


@dataclass
class RetryPolicy:
    retries: int = 4  # attempts = retries + 1
    backoff: float = 1.0  # first wait, doubled each time
    max_wait: float = 60.0  # cap on any wait, Retry-After included

    def wait(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            seconds = _parse_retry_after(retry_after)
            if seconds is not None:
                return min(max(seconds, 0.0), self.max_wait)
        return min(self.backoff * (2**attempt) * (0.75 + random.random() / 2), self.max_wait)


def _parse_retry_after(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


@dataclass
class Fetched:
    url: str
    size: int
    sha256: str
    md5: str
    content_type: str
    attempts: int


class _Incomplete(Exception):
    pass


def fetch(
    url: str,
    target: Path,
    *,
    storage: Storage,
    max_bytes: int,
    sha256: str | None = None,
    md5: str | None = None,
    content_type: str | None = None,
    policy: RetryPolicy | None = None,
    timeout: float = 60.0,
    params: dict | None = None,
    headers: dict | None = None,
    on_bytes: Callable[[int], None] | None = None,
    client: httpx.Client | None = None,
) -> Fetched:
    """GET ``url`` into ``target`` (atomically); raises `ServiceError` with what went wrong."""
    policy = policy or RetryPolicy()
    own = client is None
    client = client or new_client(timeout)
    last_problem = ""
    try:
        for attempt in range(policy.retries + 1):
            retry_after = None
            try:
                with storage.atomic_file(target) as tmp:
                    result = _fetch_once(
                        client, url, tmp, params=params, headers=headers, max_bytes=max_bytes, on_bytes=on_bytes
                    )
                    result.attempts = attempt + 1
                    _check(result, url, sha256=sha256, md5=md5, content_type=content_type)
                return result
            except _Retryable as exc:
                last_problem, retry_after = exc.problem, exc.retry_after
            except _Incomplete as exc:
                last_problem = str(exc)
            except (httpx.TransportError, httpx.DecodingError) as exc:
                last_problem = _describe_transport(exc)
            if attempt < policy.retries:
                time.sleep(policy.wait(attempt, retry_after))
        raise ServiceError(
            f"download of {url} failed after {policy.retries + 1} attempts: {last_problem}",
            code="download_failed",
            status=502,
            details={"url": url, "attempts": policy.retries + 1, "last_problem": last_problem},
        )
    finally:
        if own:
            client.close()


def get_json(
    client: httpx.Client, url: str, *, params: dict | None, policy: RetryPolicy, max_bytes: int = 256 * 1024 * 1024
) -> tuple[bytes, object]:
    """GET a JSON document with the same retry rules; returns (raw bytes, parsed)."""
    import json

    last_problem = ""
    for attempt in range(policy.retries + 1):
        retry_after = None
        try:
            with client.stream("GET", url, params=params) as r:
                _raise_for_status(r, url)
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise ServiceError(f"{url} answered more than {max_bytes} bytes", code="too_large", status=413)
            try:
                return bytes(body), json.loads(body)
            except ValueError:
                raise ServiceError(
                    f"{r.url} did not answer JSON (content type {r.headers.get('content-type')!r}); check the base URL",
                    code="bad_response",
                    status=502,
                ) from None
        except _Retryable as exc:
            last_problem, retry_after = exc.problem, exc.retry_after
        except (httpx.TransportError, httpx.DecodingError) as exc:
            last_problem = _describe_transport(exc)
        if attempt < policy.retries:
            time.sleep(policy.wait(attempt, retry_after))
    raise ServiceError(
        f"request to {url} failed after {policy.retries + 1} attempts: {last_problem}",
        code="download_failed",
        status=502,
        details={"url": url, "params": params, "attempts": policy.retries + 1, "last_problem": last_problem},
    )


def new_client(timeout: float = 60.0) -> httpx.Client:
    """A client whose every request and redirect hop passes the outbound guard (`services_app.outbound`)."""
    return guarded_client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
    )


class _Retryable(Exception):
    def __init__(self, problem: str, retry_after: str | None = None) -> None:
        super().__init__(problem)
        self.problem, self.retry_after = problem, retry_after


def _raise_for_status(r: httpx.Response, url: str) -> None:
    if r.status_code in RETRY_STATUSES:
        raise _Retryable(f"HTTP {r.status_code} {r.reason_phrase}", r.headers.get("retry-after"))
    if r.status_code >= 400:
        raise ServiceError(
            f"{url} answered HTTP {r.status_code} {r.reason_phrase}; check the URL and parameters",
            code="http_error",
            status=404 if r.status_code == 404 else 502,
            details={"url": url, "status": r.status_code},
        )


def _fetch_once(
    client: httpx.Client,
    url: str,
    tmp: Path,
    *,
    params: dict | None,
    headers: dict | None,
    max_bytes: int,
    on_bytes: Callable[[int], None] | None,
) -> Fetched:
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    size = 0
    with client.stream("GET", url, params=params, headers=headers) as r:
        _raise_for_status(r, url)
        declared = r.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise ServiceError(
                f"{url} is {int(declared)} bytes, more than the cap of {max_bytes} (raise max_bytes)",
                code="too_large",
                status=413,
            )
        with open(tmp, "wb") as out:
            try:
                for chunk in r.iter_raw():
                    size += len(chunk)
                    if size > max_bytes:
                        raise ServiceError(
                            f"{url} sent more than the cap of {max_bytes} bytes (raise max_bytes)",
                            code="too_large",
                            status=413,
                        )
                    out.write(chunk)
                    sha.update(chunk)
                    md5.update(chunk)
                    if on_bytes:
                        on_bytes(len(chunk))
            except httpx.RemoteProtocolError as exc:
                raise _Incomplete(f"the download was cut off after {size} bytes ({exc})") from None
        if declared and declared.isdigit() and r.headers.get("content-encoding") in (None, "identity"):
            if size != int(declared):
                raise _Incomplete(f"the download was cut off: got {size} of {declared} bytes")
        ctype = r.headers.get("content-type", "")
    return Fetched(
        url=str(r.url), size=size, sha256=sha.hexdigest(), md5=md5.hexdigest(), content_type=ctype, attempts=1
    )


def _check(result: Fetched, url: str, *, sha256: str | None, md5: str | None, content_type: str | None) -> None:
    if content_type:
        got = result.content_type.split(";")[0].strip().lower()
        wanted = [c.strip().lower() for c in content_type.split(",")]
        if got not in wanted:
            raise ServiceError(
                f"{url} has content type {got!r}, expected {content_type!r}; nothing was saved",
                code="content_type_mismatch",
                status=502,
            )
    for name, expected, actual in (("sha256", sha256, result.sha256), ("md5", md5, result.md5)):
        if expected and expected.strip().lower() != actual:
            raise ServiceError(
                f"checksum mismatch for {url}: {name} {actual} != expected {expected}; nothing was saved",
                code="checksum_mismatch",
                status=502,
                details={"url": url, "algorithm": name, "expected": expected, "actual": actual},
            )


def _describe_transport(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the download was cut off ({exc})"
    return f"{type(exc).__name__}: {exc}"
