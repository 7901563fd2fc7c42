from tests.gcs_fixtures import gcs, gcs_emulator  # noqa: F401
