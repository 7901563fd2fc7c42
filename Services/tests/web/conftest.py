"""Fixtures of the web app's tests: logged-in clients and jobs with real files behind them."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.test import Client

from services_app.models import Job


@pytest.fixture
def alice_client(user):
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def bob_client(other_user):
    c = Client()
    c.force_login(other_user)
    return c


@pytest.fixture
def staff_client(db, django_user_model):
    staff = django_user_model.objects.create_user(username="carol", is_staff=True)
    c = Client()
    c.force_login(staff)
    return c


def write_parquet(data_root, location: str, table: pa.Table) -> str:
    path = data_root / location
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return location


SALES = pa.table(
    {
        "region": ["north", "south", None, "north", "east"],
        "amount": [10.0, 20.0, 30.0, None, 50.0],
        "label": ["a", "b", "a", "b", "a"],
    }
)


@pytest.fixture
def alice_dataset(user, data_roots):
    """A Parquet file that one of alice's conversion jobs wrote, and that job."""
    location = write_parquet(data_roots, "parquet/uploads/j1/sales.parquet", SALES)
    job = Job.objects.create(
        owner=user,
        kind="conversion.parquet",
        status=Job.Status.SUCCEEDED,
        params={"files": ["uploads/abc/sales.csv"], "output": None, "options": {}},
        inputs=[{"location": "uploads/abc/sales.csv", "sha256": "ab" * 32}],
        outputs=[location],
        result={
            "rows": 5,
            "output": "parquet/uploads/j1",
            "report": None,
            "files": [
                {
                    "source": "uploads/abc/sales.csv",
                    "relative_path": "sales.csv",
                    "status": "converted",
                    "format": "csv",
                    "encoding": "windows-1252",
                    "delimiter": ";",
                    "rows": 5,
                    "bytes_in": 100,
                    "bytes_out": 900,
                    "outputs": [{"location": location, "rows": 5, "columns": 3, "table": "sales"}],
                    "warnings": ["column 'amount': 1 value was not a number and became null"],
                }
            ],
        },
        progress=1.0,
    )
    return location, job
