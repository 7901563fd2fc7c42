"""Two users with separate workspaces over the real API: Alice's data is not Bob's. Uploads, jobs, knowledge
bases and previews stay in their workspace; names are per workspace; a shared workspace is shared."""

from __future__ import annotations

import io
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.urls import reverse

from services_app.models import ApiKey, Job, Membership, Workspace
from tests.conftest import run_job_now

pytestmark = pytest.mark.django_db

SECRET = b"id,secret\n1,alice-only\n2,alice-too\n"


class Client:
    def __init__(self, client, user, workspace: str | None = None):
        self.client, self.key = client, ApiKey.issue(user=user, name="t")[1]
        self.headers = {"X-API-Key": self.key} | ({"X-Workspace": workspace} if workspace else {})

    def get(self, url, **kw):
        return self.client.get(url, headers=self.headers, **kw)

    def post(self, url, data=None, **kw):
        values = [x for v in (data or {}).values() for x in (v if isinstance(v, list) else [v])]
        if not any(hasattr(v, "read") for v in values):
            kw.setdefault("content_type", "application/json")
        return self.client.post(url, data, headers=self.headers, **kw)

    def run(self, response):
        assert response.status_code in (HTTPStatus.ACCEPTED, HTTPStatus.OK), response.content
        job = run_job_now(Job.objects.get(pk=response.json()["id"]))
        assert job.status == "succeeded", job.error
        return job


@pytest.fixture
def alice(client, user):
    return Client(client, user)


@pytest.fixture
def bob(client, other_user):
    return Client(client, other_user)


def _kb_export(c, name):
    r = c.get(reverse("api:kb_export", kwargs={"name": name, "export": "knowledge.jsonl"}))
    return r.status_code, (b"".join(r.streaming_content) if r.status_code == 200 else r.content)


def test_alices_upload_is_not_bobs(alice, bob, settings, user, other_user):
    upload = io.BytesIO(SECRET)
    upload.name = "secret.csv"
    job = alice.run(alice.post(reverse("api:conversion_upload"), {"files": [upload]}))
    parquet = next(o for o in job.outputs if o.endswith(".parquet"))
    assert alice.get(reverse("api:dataset_preview"), data={"location": parquet}).status_code == HTTPStatus.OK

    # Bob: not her job, not her upload folder, not her parquet, not by an absolute path or a way around
    assert bob.get(reverse("api:job_get", args=[job.pk])).status_code == HTTPStatus.NOT_FOUND
    assert bob.get(reverse("api:job_list")).json()["count"] == 0
    r = bob.post(reverse("api:kb_build"), {"name": "x", "source": "uploads"})
    assert r.status_code == HTTPStatus.NOT_FOUND, r.content  # his workspace has no uploads of hers
    assert bob.get(reverse("api:dataset_preview"), data={"location": parquet}).status_code == HTTPStatus.NOT_FOUND
    for location in (str(settings.DATA_ROOT / parquet), f"../../{parquet}", "../../uploads"):
        r = bob.get(reverse("api:dataset_preview"), data={"location": location})
        assert 400 <= r.status_code < 500, (location, r.status_code)
        assert b"alice-only" not in r.content
    # Bob's own workspace is a folder of its own, which Alice's default workspace cannot reach either
    bob_ws = Workspace.objects.get(memberships__user=other_user)
    assert bob_ws.slug == "bob" and (settings.DATA_ROOT / "workspaces/bob").is_dir()
    (settings.DATA_ROOT / "workspaces/bob/mine.csv").write_text("a\n1\n")
    r = alice.post(reverse("api:conversion_create"), {"source": "workspaces/bob/mine.csv"})
    assert r.status_code == HTTPStatus.FORBIDDEN and r.json()["error"]["code"] == "path_outside_root"
    # and naming her workspace does not help him
    r = Client(bob.client, other_user, workspace="default").get(
        reverse("api:dataset_preview"), data={"location": parquet}
    )
    assert r.status_code == HTTPStatus.NOT_FOUND and r.json()["error"]["code"] == "workspace_not_found"


def test_knowledge_base_names_are_per_workspace(alice, bob, settings, other_user):
    (settings.DATA_ROOT / "master").mkdir()
    (settings.DATA_ROOT / "master/alice.txt").write_text("Alice's master knowledge: water targets.")
    alice.run(alice.post(reverse("api:kb_build"), {"name": "esg", "source": "master"}))
    assert b"water targets" in _kb_export(alice, "esg")[1]

    # Bob sees no knowledge base "esg", cannot export it, and building his own "esg" leaves hers alone
    assert bob.get(reverse("api:kb_get", kwargs={"name": "esg"})).status_code == HTTPStatus.NOT_FOUND
    assert _kb_export(bob, "esg")[0] == HTTPStatus.NOT_FOUND
    assert bob.get(reverse("api:kb_list")).json()["count"] == 0
    bob.get(reverse("api:job_list"))  # creates his workspace on first use
    bob_root = settings.DATA_ROOT / "workspaces/bob"
    (bob_root / "master").mkdir(parents=True)
    (bob_root / "master/bob.txt").write_text("Bob's notes: steel prices.")
    bob.run(bob.post(reverse("api:kb_build"), {"name": "esg", "source": "master"}))
    assert b"steel prices" in _kb_export(bob, "esg")[1] and b"water" not in _kb_export(bob, "esg")[1]
    assert b"water targets" in _kb_export(alice, "esg")[1] and b"steel" not in _kb_export(alice, "esg")[1]


def test_a_shared_workspace_is_shared_with_its_members_only(client, user, other_user, django_user_model, settings):
    carol = django_user_model.objects.create_user(username="carol")
    call_command("create_workspace", "esg-team", "--owner", "alice", "--member", "bob", stdout=io.StringIO())
    team = settings.DATA_ROOT / "workspaces/esg-team"
    (team / "master").mkdir(parents=True)
    (team / "master/shared.txt").write_text("The team's master folder.")
    alice_team = Client(client, user, workspace="esg-team")
    bob_team = Client(client, other_user, workspace="esg-team")
    job = alice_team.run(alice_team.post(reverse("api:kb_build"), {"name": "master", "source": "master"}))
    assert job.workspace.slug == "esg-team"
    assert bob_team.get(reverse("api:job_get", args=[job.pk])).json()["workspace"] == "esg-team"
    assert b"master folder" in _kb_export(bob_team, "master")[1]
    # Alice's default workspace does not hold the team's knowledge base; Carol, not a member, gets a 404
    assert _kb_export(Client(client, user), "master")[0] == HTTPStatus.NOT_FOUND
    r = Client(client, carol, workspace="esg-team").get(reverse("api:kb_list"))
    assert r.status_code == HTTPStatus.NOT_FOUND
    assert Client(client, carol).get(reverse("api:job_get", args=[job.pk])).status_code == HTTPStatus.NOT_FOUND
    # removing Bob ends his access
    call_command("add_workspace_member", "esg-team", "bob", "--remove", stdout=io.StringIO())
    assert bob_team.get(reverse("api:kb_list")).status_code == HTTPStatus.NOT_FOUND
    assert Membership.objects.filter(workspace__slug="esg-team").count() == 1


def test_staff_reach_every_workspace(client, user, django_user_model, settings):
    staff = django_user_model.objects.create_user(username="ops", is_staff=True)
    (settings.DATA_ROOT / "a.csv").write_text("x\n1\n")
    job = Client(client, user).run(Client(client, user).post(reverse("api:conversion_create"), {"source": "a.csv"}))
    ops = Client(client, staff, workspace="default")
    assert ops.get(reverse("api:job_get", args=[job.pk])).status_code == HTTPStatus.OK
    assert ops.get(reverse("api:dataset_preview"), data={"location": "parquet/a.parquet"}).status_code == 200


def test_migration_puts_existing_users_and_jobs_in_the_default_workspace(transactional_db, django_user_model):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("services_app", "0001_initial")])
    old_apps = executor.loader.project_state([("services_app", "0001_initial")]).apps
    OldUser = old_apps.get_model("auth", "User")
    OldJob = old_apps.get_model("services_app", "Job")
    dora = OldUser.objects.create(username="dora")
    OldJob.objects.create(kind="demo.sleep", owner_id=dora.pk, params={})
    executor = MigrationExecutor(connection)
    executor.migrate([("services_app", "0002_workspaces")])
    default = Workspace.objects.get(slug="default")
    assert default.folder == "" and default.buckets == ["*"]
    assert Membership.objects.get(user__username="dora").workspace == default
    assert Job.objects.get(owner__username="dora").workspace == default


def test_no_folder_reader_of_the_data_root_enters_other_workspaces(user, other_user, settings):
    """The migrated default workspace's folder is the data root: a walk from it (checks, transforms,
    conversion, knowledge base all use the one walk) never lists another workspace's files."""
    from services_app.walk import walk
    from services_app.workspaces import default_workspace

    default_workspace(other_user)  # creates workspaces/bob and fences workspaces/
    (settings.DATA_ROOT / "workspaces/bob/theirs.parquet").write_bytes(b"PAR1")
    (settings.DATA_ROOT / "mine.parquet").write_bytes(b"PAR1")
    files = [e.rel_text for e in walk(settings.DATA_ROOT, data_root=settings.DATA_ROOT)]
    assert files == ["mine.parquet"]
    from services_app.capabilities.checks.io import parquet_files

    assert [p.rsplit("/", 1)[-1] for p in parquet_files(settings.DATA_ROOT)] == ["mine.parquet"]


def test_web_app_shows_each_user_the_file_of_their_own_workspace(bob, other_user, settings):
    """The web app browses the whole data root: a job's locations are mapped into its workspace's folder,
    so Bob's output `parquet/same.csv` downloads his file, not the default workspace's file of that name."""
    from django.test import Client as WebClient

    (settings.DATA_ROOT / "parquet").mkdir()
    (settings.DATA_ROOT / "parquet/same.csv").write_text("owner\nalice\n")  # the default workspace's
    bob.get(reverse("api:job_list"))  # his workspace, created on first use
    bob_root = settings.DATA_ROOT / "workspaces/bob"
    (bob_root / "raw").mkdir(parents=True)
    (bob_root / "raw/same.csv").write_text("owner\nbob\n")
    job = bob.run(
        bob.post(reverse("api:conversion_create"), {"source": "raw/same.csv", "output": "parquet/same.parquet"})
    )
    assert job.outputs == ["parquet/same.parquet"] and job.workspace.slug == "bob"
    web = WebClient()
    web.force_login(other_user)
    page = web.get(reverse("web:job", args=[job.pk])).content.decode()
    assert "workspaces/bob/parquet/same.parquet" in page
    r = web.get(reverse("web:download") + "?location=workspaces/bob/parquet/same.parquet")
    assert r.status_code == HTTPStatus.OK
    import io as _io

    import pyarrow.parquet as pq

    assert pq.read_table(_io.BytesIO(b"".join(r.streaming_content))).column("owner").to_pylist() == ["bob"]
    # and the default workspace's files stay out of his reach in the web app too
    r = web.get(reverse("web:download") + "?location=parquet/same.csv")
    assert r.status_code == HTTPStatus.NOT_FOUND
