"""One confined walk for every folder reader: a symlink or hard link out of the root is skipped with a
per-file reason, and what is outside is never converted, previewed or named in a result."""

from __future__ import annotations

import json
import os
from http import HTTPStatus

import pytest
from django.urls import reverse

from services_app.models import Job
from tests.conftest import run_job_now


@pytest.fixture
def outside_secret(tmp_path):
    secret = tmp_path / "outside" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("id,secret\n1,do-not-leak\n")
    return secret


@pytest.fixture
def folder_with_escapes(data_roots, outside_secret):
    folder = data_roots / "incoming"
    folder.mkdir()
    (folder / "good.csv").write_text("id,name\n1,alpha\n2,beta\n")
    (folder / "link.csv").symlink_to(outside_secret)
    (folder / "linkdir").symlink_to(outside_secret.parent, target_is_directory=True)
    os.link(outside_secret, folder / "hard.csv")  # a hard link: same bytes, second name inside the root
    return folder


@pytest.mark.django_db
def test_folder_conversion_skips_links_out_of_the_root(api, settings, folder_with_escapes, outside_secret):
    r = api.post(reverse("api:conversion_create"), {"source": "incoming", "output": "parquet/incoming"})
    assert r.status_code == HTTPStatus.ACCEPTED, r.json()
    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "succeeded", job.error
    by_path = {f["relative_path"]: f for f in job.result["files"]}
    assert by_path["good.csv"]["status"] == "converted"
    assert by_path["link.csv"]["status"] == "skipped" and by_path["link.csv"]["code"] == "outside_root"
    assert by_path["linkdir"]["status"] == "skipped" and by_path["linkdir"]["code"] == "outside_root"
    assert by_path["hard.csv"]["status"] == "skipped" and by_path["hard.csv"]["code"] == "hard_link"
    assert job.result["converted"] == 1 and job.result["skipped"] == 3
    # nothing in the answer names the outside file or a server path
    text = json.dumps(job.result) + json.dumps(job.outputs) + json.dumps(job.result.get("warnings", []))
    assert str(outside_secret) not in text and str(outside_secret.parent) not in text
    assert str(settings.DATA_ROOT) not in text
    outputs = sorted(p.name for p in (settings.DATA_ROOT / "parquet/incoming").iterdir())
    assert outputs == ["_conversion_report.json", "good.parquet"]
    # and the preview of the place where the escape would have landed finds nothing
    r = api.get(reverse("api:dataset_preview"), data={"location": "parquet/incoming/link.parquet"})
    assert r.status_code == HTTPStatus.NOT_FOUND


@pytest.mark.django_db
def test_direct_symlink_source_and_preview_are_refused(api, data_roots, outside_secret):
    (data_roots / "direct.csv").symlink_to(outside_secret)
    r = api.post(reverse("api:conversion_create"), {"source": "direct.csv"})
    assert r.status_code == HTTPStatus.FORBIDDEN and r.json()["error"]["code"] == "path_outside_root"
    assert str(outside_secret) not in r.content.decode()


def test_the_walk_reports_each_escape(data_roots, folder_with_escapes):
    from services_app.walk import walk

    skipped = []
    files = [e.rel_text for e in walk(folder_with_escapes, data_root=data_roots, skipped=skipped)]
    assert files == ["good.csv"]
    assert sorted((s.rel, s.code) for s in skipped) == [
        ("hard.csv", "hard_link"),
        ("link.csv", "outside_root"),
        ("linkdir", "outside_root"),
    ]


def test_the_walk_does_not_enter_hidden_folders(data_roots):
    from services_app.walk import walk

    (data_roots / "workspaces/other").mkdir(parents=True)
    (data_roots / "workspaces/other/theirs.csv").write_text("a\n1\n")
    (data_roots / "mine.csv").write_text("a\n1\n")
    files = [e.rel_text for e in walk(data_roots, data_root=data_roots, skip_dirs=(data_roots / "workspaces",))]
    assert files == ["mine.csv"]
