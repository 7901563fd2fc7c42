"""A real GCS API for tests: the gcp-storage-emulator server, one per test session.

Import the fixtures into a conftest (``from tests.gcs_fixtures import gcs_emulator, gcs  # noqa: F401``).
``gcs`` gives each test a fresh bucket on the allow list of both a plain
`Storage` (``gcs.storage``) and the Django settings, so job functions,
routers and management commands all reach the emulator.

The emulator does not enforce generation preconditions; the storage module
checks them itself before publishing, and tests of "never overwrite" rely
on that check.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class GcsEmulator:
    host: str
    server: object

    def create_bucket(self, name: str) -> None:
        from gcp_storage_emulator.handlers import buckets

        buckets.create_bucket(name, self.server._storage)  # type: ignore[attr-defined]

    def corrupt(self, bucket: str, key: str, data: bytes) -> None:
        """Replace an object's bytes but keep its recorded checksums (bit rot, a bad proxy)."""
        st = self.server._storage  # type: ignore[attr-defined]
        st._store.write_bytes(st._object_path(bucket, key), data)


@pytest.fixture(scope="session")
def gcs_emulator():
    from gcp_storage_emulator.server import create_server

    logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)  # one line per request otherwise
    port = _free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="services-test")
    server.start()
    old = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
    try:
        yield GcsEmulator(host=os.environ["STORAGE_EMULATOR_HOST"], server=server)
    finally:
        if old is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = old
        server.stop()


@dataclass
class GcsTestBucket:
    name: str
    emulator: GcsEmulator
    storage: object  # services_app.storage.Storage

    def url(self, key: str = "") -> str:
        return f"gs://{self.name}/{key}"

    def put(self, key: str, data: bytes) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage as gcs

        client = gcs.Client(project="test", credentials=AnonymousCredentials())
        client.bucket(self.name).blob(key).upload_from_string(data)

    def get(self, key: str) -> bytes:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage as gcs

        client = gcs.Client(project="test", credentials=AnonymousCredentials())
        return client.bucket(self.name).blob(key).download_as_bytes()

    def keys(self, prefix: str = "") -> list[str]:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage as gcs

        client = gcs.Client(project="test", credentials=AnonymousCredentials())
        return sorted(b.name for b in client.list_blobs(self.name, prefix=prefix or None))


@pytest.fixture
def gcs(gcs_emulator, settings, data_roots, monkeypatch):
    """A fresh, allowed bucket for this test, wired into Storage and the settings."""
    from services_app.storage import Storage

    # Each conftest that imports these fixtures has its own session emulator; the one this test's bucket
    # lives on is the one its clients must reach, whichever emulator started last.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.host)

    name = f"b-{uuid.uuid4().hex[:12]}"
    gcs_emulator.create_bucket(name)
    settings.GCS_ALLOWED_BUCKETS = [name]
    settings.GCS_MODELS_BUCKET = name
    storage = Storage(data_root=settings.DATA_ROOT, models_root=settings.MODELS_ROOT, allowed_buckets=(name,))
    return GcsTestBucket(name=name, emulator=gcs_emulator, storage=storage)
