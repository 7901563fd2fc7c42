import pytest

from tests.gcs_fixtures import gcs, gcs_emulator  # noqa: F401


@pytest.fixture(autouse=True)
def allow_local_server(settings):
    """The OpenAI-compatible test server listens on 127.0.0.1: the operator allow list lets it through."""
    settings.SERVICES_OUTBOUND_ALLOW_HOSTS = ["127.0.0.1"]
