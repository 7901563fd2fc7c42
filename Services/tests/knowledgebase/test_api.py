"""The HTTP API, the management command and semantic search, end to end on real files."""

from __future__ import annotations

import io
import json
from http import HTTPStatus

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.urls import reverse

from services_app.models import Job

from ..conftest import run_job_now
from .conftest import make_tree

pytestmark = pytest.mark.django_db


def _url(url_name, **kw):
    return reverse(f"api:{url_name}", kwargs=kw)


def _build(api, **payload):
    r = api.post(_url("kb_build"), {"name": "kb", "source": "master", **payload})
    assert r.status_code == HTTPStatus.ACCEPTED, r.content
    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "succeeded", job.error
    return job


def test_build_list_get_documents_exports(api, data_roots):
    make_tree(data_roots / "master")
    (data_roots / "master" / "broken.pdf").write_bytes(b"%PDF-1.4 nonsense")
    job = _build(api, chunking={"mode": "characters", "size": 200})
    assert job.result["added"] == 12 and job.result["errors_total"] == 1
    assert "knowledgebases/kb/output/knowledge.parquet" in job.outputs

    listed = api.get(_url("kb_list")).json()
    assert listed["count"] == 1 and listed["items"][0]["name"] == "kb"
    kb = api.get(_url("kb_get", name="kb")).json()
    assert kb["counts"]["documents"] == 11 and kb["counts"]["errors"] == 1 and kb["embeddings"] is None

    docs = api.get(_url("kb_documents", name="kb"), data={"folder": "esg"}).json()
    assert docs["count"] == 4 and all(d["folder"].startswith("esg") for d in docs["items"])
    errors = api.get(_url("kb_documents", name="kb"), data={"status": "error"}).json()["items"]
    assert [(d["path"], d["code"]) for d in errors] == [("broken.pdf", "corrupt")]

    r = api.get(_url("kb_export", name="kb", export="knowledge.jsonl"))
    assert r.status_code == 200 and r["Content-Type"] == "application/x-ndjson"
    lines = b"".join(r.streaming_content).decode().splitlines()
    assert len(lines) == kb["counts"]["chunks"] and json.loads(lines[0])["id"]
    r = api.get(_url("kb_export", name="kb", export="knowledge.parquet"))
    assert pq.read_table(io.BytesIO(b"".join(r.streaming_content))).num_rows == len(lines)
    assert api.get(_url("kb_export", name="kb", export="secrets.txt")).status_code == 404

    # building again with the same files answers the earlier job (idempotent), force runs an incremental rebuild
    again = api.post(
        _url("kb_build"), {"name": "kb", "source": "master", "chunking": {"mode": "characters", "size": 200}}
    )
    assert again.status_code == HTTPStatus.OK and again.json()["id"] == str(job.pk)
    job2 = _build(api, chunking={"mode": "characters", "size": 200}, force=True)
    assert job2.result["unchanged"] == 12 and job2.result["files_read"] == 0


def test_bad_requests(api, data_roots, tmp_path):
    (data_roots / "master").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    r = api.post(_url("kb_build"), {"name": "kb", "source": str(outside)})
    assert r.status_code == 403 and r.json()["error"]["code"] == "path_outside_root"
    r = api.post(_url("kb_build"), {"name": "kb", "source": "nope"})
    assert r.status_code == 404
    r = api.post(_url("kb_build"), {"name": "bad name!", "source": "master"})
    assert r.status_code == 422
    r = api.post(
        _url("kb_build"),
        {"name": "kb", "source": "master", "chunking": {"mode": "characters", "size": 100, "overlap": 200}},
    )
    assert r.status_code == 422 and "overlap" in r.json()["error"]["message"]
    (data_roots / "master" / "one.pdf").write_bytes(b"%PDF-1.4")
    r = api.post(_url("kb_build"), {"name": "kb", "source": "master/one.pdf"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "source_not_folder"
    (data_roots / "knowledgebases" / "other").mkdir(parents=True)
    r = api.post(_url("kb_build"), {"name": "kb", "source": "knowledgebases/other"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_source"
    assert api.get(_url("kb_get", name="missing")).status_code == 404
    assert api.get(_url("kb_documents", name="missing")).status_code == 404
    assert api.get(_url("kb_search", name="missing"), data={"q": "x"}).status_code == 404
    assert Job.objects.count() == 0


def test_search_with_embeddings_and_qdrant(api, data_roots, settings):
    src = data_roots / "master"
    (src / "energy").mkdir(parents=True)
    (src / "food").mkdir()
    (src / "energy" / "solar.txt").write_text("Solar panels on the roof produce renewable electricity.")
    (src / "energy" / "wind.md").write_text("# Wind\n\nOffshore wind turbines generate power at sea.")
    (src / "food" / "bread.txt").write_text("Bake the bread with flour, water and yeast.")
    job = _build(api, embed=True)
    emb = job.result["embeddings"]
    assert emb["dim"] == 384 and emb["count"] == 3 and emb["qdrant"]["mode"] == "local" and emb["qdrant"]["points"] == 3

    r = api.get(_url("kb_search", name="kb"), data={"q": "how is bread made", "k": 2})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["backend"] == "local" and len(body["results"]) == 2
    top = body["results"][0]
    assert (
        top["path"] == "food/bread.txt" and top["top_folder"] == "food" and top["score"] > body["results"][1]["score"]
    )
    only_energy = api.get(_url("kb_search", name="kb"), data={"q": "how is bread made", "folder": "energy"}).json()
    assert {h["path"] for h in only_energy["results"]} == {"energy/solar.txt", "energy/wind.md"}
    # a folder the knowledge base does not have is an error that lists its folders, not an empty result
    for wrong in ("../..", "energie", "energy/solar.txt/x"):
        r = api.get(_url("kb_search", name="kb"), data={"q": "bread", "folder": wrong})
        assert r.status_code == 422, (wrong, r.content)
        assert r.json()["error"]["code"] == "unknown_folder" and r.json()["error"]["details"]["top_folders"] == [
            "energy",
            "food",
        ]
    r = api.get(_url("kb_documents", name="kb"), data={"folder": "nowhere"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_folder"
    r = api.get(_url("kb_documents", name="kb"), data={"folder": "/energy/"})
    assert sorted(d["path"] for d in r.json()["items"]) == ["energy/solar.txt", "energy/wind.md"]

    # the Qdrant store holds the same vectors: its nearest neighbour agrees
    from qdrant_client import QdrantClient

    from services_app.embeddings import get_embedder

    q = get_embedder(provider="local").embed(["how is bread made"])[0]
    client = QdrantClient(path=str(data_roots / "knowledgebases/kb/qdrant"))
    try:
        hit = client.query_points("kb_kb", query=q.tolist(), limit=1).points[0]
        assert hit.payload["path"] == "food/bread.txt" and str(hit.id) == top["id"]
    finally:
        client.close()

    # incremental: only the changed chunk is embedded and upserted, the removed one deleted
    (src / "food" / "bread.txt").write_text("Knead the dough and let it rise overnight.")
    (src / "energy" / "wind.md").unlink()
    job = _build(api, embed=True)
    emb = job.result["embeddings"]
    assert (emb["embedded"], emb["reused"]) == (1, 1)
    assert (emb["qdrant"]["upserted"], emb["qdrant"]["deleted"], emb["qdrant"]["points"]) == (1, 1, 2)


def test_search_needs_embeddings(api, data_roots):
    make_tree(data_roots / "master")
    _build(api)
    r = api.get(_url("kb_search", name="kb"), data={"q": "water"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_embedded"


def test_management_command(data_roots, capsys):
    make_tree(data_roots / "master")
    call_command(
        "build_knowledgebase",
        "master",
        "--name",
        "cli",
        "--chunking",
        "characters",
        "--chunk-size",
        "100",
        "--no-progress",
    )
    out = capsys.readouterr().out
    assert "cli: 11 documents" in out and "added 11" in out
    assert (data_roots / "knowledgebases/cli/output/knowledge.parquet").is_file()
    call_command(
        "build_knowledgebase",
        "master",
        "--name",
        "cli",
        "--chunking",
        "characters",
        "--chunk-size",
        "100",
        "--no-progress",
    )
    assert "unchanged 11" in capsys.readouterr().out
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="outside your workspace"):
        call_command("build_knowledgebase", "/etc", "--name", "cli", "--no-progress")
