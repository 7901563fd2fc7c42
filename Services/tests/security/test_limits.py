"""Limits per user: queued jobs past the limit answer 429, a user past the running limit waits (other users'
jobs still run), and non-staff users cannot ask for a time limit past the cap."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.urls import reverse

from services_app.jobs.services import job_claim, job_submit
from services_app.models import Job

pytestmark = pytest.mark.django_db


def _demo(api, n, query=""):
    return api.post(reverse("api:job_demo") + query, {"seconds": 0, "steps": 1, "message": f"job {n}"})


def test_queued_jobs_past_the_limit_answer_429(api, settings, user):
    settings.JOB_MAX_QUEUED_PER_USER = 2
    assert _demo(api, 1).status_code == HTTPStatus.ACCEPTED
    assert _demo(api, 2).status_code == HTTPStatus.ACCEPTED
    r = _demo(api, 3)
    assert r.status_code == HTTPStatus.TOO_MANY_REQUESTS
    error = r.json()["error"]
    assert error["code"] == "too_many_jobs" and error["details"] == {"queued": 2, "max_queued": 2}
    assert Job.objects.filter(owner=user).count() == 2
    # staff are not limited
    user.is_staff = True
    user.save()
    assert _demo(api, 4).status_code == HTTPStatus.ACCEPTED


def test_a_user_at_the_running_limit_waits_and_others_still_run(settings, user, other_user):
    settings.JOB_MAX_RUNNING_PER_USER = 1
    first, _ = job_submit(owner=user, kind="demo.sleep", params={"n": 1})
    second, _ = job_submit(owner=user, kind="demo.sleep", params={"n": 2})
    theirs, _ = job_submit(owner=other_user, kind="demo.sleep", params={"n": 3})
    assert job_claim(job_id=str(first.pk)) is not None
    assert job_claim(job_id=str(second.pk)) is None  # waits: alice already runs one
    second.refresh_from_db()
    assert second.status == "queued" and second.attempts == 0
    assert job_claim(job_id=str(theirs.pk)) is not None  # bob is not held up by alice
    Job.objects.filter(pk=first.pk).update(status="succeeded")
    assert job_claim(job_id=str(second.pk)) is not None  # her slot is free again


def test_staff_and_batches_are_not_held_by_the_running_limit(settings, user):
    settings.JOB_MAX_RUNNING_PER_USER = 1
    first, _ = job_submit(owner=user, kind="demo.sleep", params={"n": 1})
    assert job_claim(job_id=str(first.pk)) is not None
    batch = Job.objects.create(owner=user, workspace=first.workspace, kind="demo.sleep", parent=first)
    claimed = job_claim(job_id=str(batch.pk))  # a batch runs under its parent's slot
    assert claimed is not None and claimed.status == "running" and claimed.attempts == 1
    second, _ = job_submit(owner=user, kind="demo.sleep", params={"n": 2})
    assert job_claim(job_id=str(second.pk)) is None
    user.is_staff = True
    user.save()
    claimed = job_claim(job_id=str(second.pk))
    assert claimed is not None and claimed.pk == second.pk and claimed.worker and claimed.started_at


def test_time_limit_cap_for_non_staff(api, settings, user):
    settings.JOB_USER_MAX_TIME_LIMIT_SECONDS = 60
    r = _demo(api, 1, "?time_limit=3600")
    assert r.status_code == HTTPStatus.BAD_REQUEST
    assert r.json()["error"]["code"] == "time_limit_too_long" and r.json()["error"]["details"] == {"max": 60}
    r = _demo(api, 2, "?time_limit=30")
    assert r.status_code == HTTPStatus.ACCEPTED and Job.objects.get(pk=r.json()["id"]).time_limit == 30
    assert _demo(api, 3, "?time_limit=soon").status_code == HTTPStatus.BAD_REQUEST
    # a kind whose own limit is longer than the cap gets the cap when nothing is asked
    job, _ = job_submit(owner=user, kind="conversion.parquet", params={"source": "x"})
    assert job.time_limit == 60
    user.is_staff = True
    user.save()
    r = _demo(api, 4, "?time_limit=600")  # demo.sleep's own limit is 600 s: staff may ask for it
    assert r.status_code == HTTPStatus.ACCEPTED and Job.objects.get(pk=r.json()["id"]).time_limit == 600
