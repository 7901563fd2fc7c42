"""Every bad location is a clear 4xx on every endpoint that takes one: never a 500, never a folder named
after a scheme, never a server path in the message."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.urls import reverse

LONG = "a/" * 3000 + "x.csv"
LONG_NAME = "b" * 300 + ".csv"

# (operation, body with {loc} where the location goes)
ENDPOINTS = [
    ("conversion_create", {"source": "{loc}"}),
    ("conversion_create", {"source": "raw/in.csv", "output": "{loc}"}),
    ("kb_build", {"name": "kb", "source": "{loc}"}),
    ("checks_run", {"dataset": "{loc}", "label": "label"}),
    (
        "transform_create",
        {"job_type": "classification", "source": "{loc}", "text_columns": ["text"], "label_columns": ["label"]},
    ),
    (
        "transform_create",
        {
            "job_type": "classification",
            "source": "raw/in.csv",
            "text_columns": ["text"],
            "label_columns": ["label"],
            "output": "{loc}",
        },
    ),
    ("language_model_train", {"source": "{loc}", "text_column": "text"}),
    ("language_model_train", {"source": "raw/in.csv", "text_column": "text", "output": "{loc}"}),
]
BAD = [
    LONG,
    LONG_NAME,
    "file:///tmp/x.parquet",
    "file:x.csv",
    "http://example.com/x.csv",
    "s3://b/k.csv",
    "raw/a\x00b.csv",
    "raw/\x07x.csv",
]


@pytest.fixture
def raw_csv(data_roots):
    (data_roots / "raw").mkdir()
    (data_roots / "raw/in.csv").write_text("text,label\nhello,a\nworld,b\n")
    return data_roots


def _fill(body, loc):
    return {k: (v.replace("{loc}", loc) if isinstance(v, str) else v) for k, v in body.items()}


@pytest.mark.django_db
@pytest.mark.parametrize("name, body", ENDPOINTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ENDPOINTS)])
def test_bad_locations_answer_4xx_with_a_clear_message(api, raw_csv, settings, name, body):
    for loc in BAD:
        r = api.post(reverse(f"api:{name}"), _fill(body, loc))
        assert 400 <= r.status_code < 500, (loc[:40], r.status_code, r.content[:300])
        error = r.json()["error"]
        assert error["code"] in ("invalid_location", "location_too_long", "validation_error"), (loc[:40], error)
        assert str(settings.DATA_ROOT) not in r.content.decode()
    # nothing named after a scheme was created anywhere under the data root
    assert not [p for p in settings.DATA_ROOT.rglob("*") if ":" in p.name]


@pytest.mark.django_db
def test_preview_and_inspect_of_bad_locations(api, settings):
    for loc in BAD:
        r = api.get(reverse("api:dataset_preview"), data={"location": loc})
        assert 400 <= r.status_code < 500, (loc[:40], r.status_code)
        assert str(settings.DATA_ROOT) not in r.content.decode()
        r = api.post(
            reverse("api:dataset_inspect"), {"location": loc}, content_type="application/x-www-form-urlencoded"
        )
        assert 400 <= r.status_code < 500, (loc[:40], r.status_code, r.content[:300])


@pytest.mark.django_db
def test_outside_root_message_names_the_location_not_the_server_path(api, settings):
    r = api.get(reverse("api:dataset_preview"), data={"location": "/etc/passwd"})
    assert r.status_code == HTTPStatus.FORBIDDEN
    body = r.content.decode()
    assert "/etc/passwd" in body and str(settings.DATA_ROOT) not in body
