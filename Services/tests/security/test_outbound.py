"""Outbound requests: a user-given URL never reaches loopback, private, link-local or unique-local addresses,
not directly, not through a redirect, not through a name that resolves there, unless the operator allows the
host (SERVICES_OUTBOUND_ALLOW_HOSTS). A real HTTP server on 127.0.0.1 plays the internal service."""

from __future__ import annotations

import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from services_app.errors import ServiceError
from services_app.outbound import check_url

SECRET = b"id,secret\n1,internal-only\n"


class Internal(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        Internal.hits.append(self.path)
        if self.path.startswith("/redirect"):
            target = self.path.split("to=", 1)[1]
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(SECRET)))
        self.end_headers()
        self.wfile.write(SECRET)

    def log_message(self, *args):
        pass


@pytest.fixture
def internal():
    Internal.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Internal)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://127.0.0.1:8000/x", "loopback"),
        ("http://localhost/x", "loopback"),
        ("http://[::1]/x", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.1.2.3/x", "private"),
        ("http://192.168.0.1/x", "private"),
        ("http://172.16.5.5/x", "private"),
        ("http://[fd00::1]/x", "unique-local"),
        ("http://[fe80::1]/x", "link-local"),
        ("http://224.0.0.1/x", "multicast"),
        ("http://0.0.0.0/x", "unspecified"),
        ("http://[::ffff:127.0.0.1]/x", "loopback"),
        ("http://100.64.1.1/x", "shared address space"),
    ],
)
def test_internal_addresses_are_refused(settings, url, reason):
    settings.SERVICES_OUTBOUND_ALLOW_HOSTS = []
    with pytest.raises(ServiceError) as exc:
        check_url(url)
    assert exc.value.code == "outbound_blocked" and exc.value.status == 403
    assert reason in exc.value.details["reason"]


def test_other_schemes_are_refused_and_public_addresses_pass(settings):
    settings.SERVICES_OUTBOUND_ALLOW_HOSTS = []
    for url in ("file:///etc/passwd", "ftp://example.com/x", "gopher://127.0.0.1/"):
        with pytest.raises(ServiceError) as exc:
            check_url(url)
        assert exc.value.code == "invalid_url"
    check_url("http://93.184.215.14/x")  # a public literal address: no DNS needed, allowed


def test_allow_list_lets_an_operator_host_through(settings, internal):
    settings.SERVICES_OUTBOUND_ALLOW_HOSTS = [f"127.0.0.1:{internal}"]
    check_url(f"http://127.0.0.1:{internal}/data.csv")
    with pytest.raises(ServiceError):  # the allow list names a port: another port stays closed
        check_url(f"http://127.0.0.1:{internal + 1}/data.csv")


@pytest.mark.django_db
def test_url_connector_cannot_fetch_loopback_through_the_api(api, settings, internal):
    settings.SERVICES_OUTBOUND_ALLOW_HOSTS = []
    from services_app.models import Job

    r = api.post(
        reverse("api:dataset_download"),
        {"connector": "url", "params": {"url": f"http://127.0.0.1:{internal}/internal.csv"}, "convert": True},
    )
    # refused when submitted: no job is queued that could never run
    assert r.status_code == HTTPStatus.FORBIDDEN, r.json()
    assert r.json()["error"]["code"] == "outbound_blocked" and Job.objects.count() == 0
    # and the job itself refuses it too, should a stored job ever name such an address
    from services_app.capabilities.downloads.jobs import download
    from services_app.jobs.context import JobContext
    from services_app.storage import Storage

    with pytest.raises(ServiceError) as exc:
        download(
            JobContext(storage=Storage(data_root=settings.DATA_ROOT)),
            {"connector": "url", "params": {"url": f"http://127.0.0.1:{internal}/internal.csv"}},
        )
    assert exc.value.code == "outbound_blocked"
    assert Internal.hits == []  # the internal service was never contacted
    assert not (settings.DATA_ROOT / "raw").exists() or not any((settings.DATA_ROOT / "raw").rglob("*.csv"))


@pytest.mark.django_db
def test_redirect_to_loopback_is_refused_on_the_hop(settings, internal, tmp_path):
    """The first hop is allowed (the operator allowed the redirecting host), the redirect target is not."""
    from services_app.capabilities.downloads.jobs import download
    from services_app.jobs.context import JobContext
    from services_app.storage import Storage

    # "localhost" is allowed, its redirect goes to 127.0.0.1, which is not on the list
    settings.SERVICES_OUTBOUND_ALLOW_HOSTS = [f"localhost:{internal}"]
    ctx = JobContext(storage=Storage(data_root=tmp_path / "data"))
    target = f"http://127.0.0.1:{internal}/internal.csv"
    with pytest.raises(ServiceError) as exc:
        download(
            ctx,
            {
                "connector": "url",
                "params": {"url": f"http://localhost:{internal}/redirect?to={target}", "retries": 0},
            },
        )
    assert exc.value.code == "outbound_blocked"
    assert Internal.hits == [f"/redirect?to={target}"]  # the hop to the internal file never happened
    assert not any((tmp_path / "data").rglob("*.csv"))


def test_oekobaudat_base_url_on_loopback_is_refused(settings, internal, tmp_path):
    from services_app.capabilities.downloads.jobs import download
    from services_app.jobs.context import JobContext
    from services_app.storage import Storage

    settings.SERVICES_OUTBOUND_ALLOW_HOSTS = []
    ctx = JobContext(storage=Storage(data_root=tmp_path / "data"))
    with pytest.raises(ServiceError) as exc:
        download(
            ctx,
            {"connector": "oekobaudat", "params": {"base_url": f"http://127.0.0.1:{internal}/resource", "retries": 0}},
        )
    assert exc.value.code == "outbound_blocked"
    assert Internal.hits == []


def test_openai_base_url_on_loopback_is_refused(settings, internal, tmp_path):
    from services_app.embeddings import get_embedder

    settings.SERVICES_OUTBOUND_ALLOW_HOSTS = []
    with pytest.raises(ServiceError) as exc:
        get_embedder(
            provider="openai", model="m", cache_dir=tmp_path, api_key="k", base_url=f"http://127.0.0.1:{internal}/v1"
        )
    assert exc.value.code == "outbound_blocked"
