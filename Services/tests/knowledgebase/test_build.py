"""The build job function on a real folder tree: records, outputs, incremental rebuilds."""

from __future__ import annotations

import csv
import json
import os
import time
import uuid
import zipfile

import pyarrow.parquet as pq
import pytest

from services_app.capabilities.knowledgebase.jobs import build
from services_app.capabilities.knowledgebase.records import NAMESPACE
from services_app.errors import ServiceError

OUT = "knowledgebases/kb/output"


def _records(storage):
    lines = (storage.data_root / OUT / "knowledge.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(x) for x in lines]


def test_every_format_becomes_records(ctx, storage, tree):
    result = build(ctx, {"name": "kb", "source": "master"})
    assert result["added"] == 11 and result["errors"] == [] and result["counts"]["documents"] == 11
    recs = _records(storage)
    by_path = {}
    for r in recs:
        by_path.setdefault(r["path"], []).append(r)

    water = by_path["esg/reports/water.txt"][0]
    assert water["top_folder"] == "esg" and water["subfolders"] == ["reports"] and water["folder"] == "esg/reports"
    assert water["file_name"] == "water.txt" and water["extension"] == ".txt" and water["title"] == "water"
    assert water["text"].startswith("Water usage fell") and water["char_count"] == len(water["text"])
    assert water["id"] == str(uuid.uuid5(NAMESPACE, "esg/reports/water.txt#0"))
    raw = (tree / "esg/reports/water.txt").read_bytes()
    assert water["size"] == len(raw) and len(water["sha256"]) == 64 and water["modified"].endswith("Z")

    assert by_path["esg/policy.md"][0]["title"] == "Emissions policy"
    html = by_path["news/2024/launch.html"][0]
    assert html["title"] == "Launch day" and "New solar park opens." in html["text"]
    assert "tracking" not in html["text"] and "color" not in html["text"]
    pages = by_path["esg/reports/annual.pdf"]
    assert [(p["page"], p["text"]) for p in pages] == [(1, "Page one text"), (2, "Page two text")]
    assert pages[0]["title"] == "Annual" and [p["chunk_index"] for p in pages] == [0, 1]
    assert "The board approved the budget." in by_path["news/minutes.docx"][0]["text"]
    assert by_path["news/minutes.docx"][0]["title"] == "Board minutes"
    prices = by_path["news/prices.csv"][0]
    assert prices["columns"] == ["product", "price"] and "product: solar panel; price: 120" in prices["text"]
    assert by_path["news/stock.tsv"][0]["text"] == "item: bolts; count: 5"
    sites = by_path["esg/sites.xlsx"][0]
    assert sites["sheet"] == "Sites" and sites["columns"] == ["site", "country"] and "site: Hamburg" in sites["text"]
    assert "info.k: v" in by_path["news/meta.json"][0]["text"] and by_path["news/meta.json"][0]["title"] == "Meta"
    assert by_path["news/events.jsonl"][0]["columns"] == ["event", "n"]
    assert by_path["root.txt"][0]["top_folder"] == "" and by_path["root.txt"][0]["subfolders"] == []

    # Parquet holds the same rows as JSONL, typed
    table = pq.read_table(storage.data_root / OUT / "knowledge.parquet")
    assert table.num_rows == len(recs) and table.column("id").to_pylist() == [r["id"] for r in recs]
    assert str(table.schema.field("modified").type) == "timestamp[us, tz=UTC]"
    manifest = json.loads((storage.data_root / OUT / "manifest.json").read_text())
    assert manifest["counts"]["chunks"] == len(recs) and "knowledge.parquet" in manifest["exports"]
    assert set(result["outputs"]) >= {f"{OUT}/knowledge.jsonl", f"{OUT}/knowledge.parquet", f"{OUT}/manifest.json"}


def test_parquet_files_become_records_like_other_tables(ctx, storage, data_roots):
    """A folder that holds the platform's own Parquet outputs: their rows are read (up to max_table_rows),
    not listed as unsupported."""
    import pyarrow as pa

    src = data_roots / "mixed"
    src.mkdir()
    pq.write_table(
        pa.table({"city": ["Berlin", "Hamburg", "Munich"], "population": [3850809, 1892122, 1512491]}),
        src / "cities.parquet",
    )
    (src / "notes.txt").write_text("Cities of Germany.")
    result = build(ctx, {"name": "kb", "source": "mixed", "max_table_rows": 2})
    assert result["added"] == 2 and result["errors"] == []
    by_path = {r["path"]: r for r in _records(storage)}
    cities = by_path["cities.parquet"]
    assert cities["columns"] == ["city", "population"]
    assert "city: Berlin; population: 3850809" in cities["text"] and "Hamburg" in cities["text"]
    assert "Munich" not in cities["text"]  # max_table_rows


def test_neo4j_export(ctx, storage, tree):
    build(ctx, {"name": "kb", "source": "master", "chunking": {"mode": "characters", "size": 20, "overlap": 0}})
    folder = storage.data_root / OUT / "neo4j"

    def rows(name):
        with open(folder / name, encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))

    folders = {r["path"]: r for r in rows("folders.csv")}
    assert {"", "esg", "esg/reports", "news", "news/2024"} == set(folders)
    docs = rows("documents.csv")
    chunks = rows("chunks.csv")
    assert len(docs) == 11 and len(chunks) == len(_records(storage))
    f2f = {(r[":START_ID(Folder)"], r[":END_ID(Folder)"]) for r in rows("folder_contains_folder.csv")}
    assert (folders["esg"]["id:ID(Folder)"], folders["esg/reports"]["id:ID(Folder)"]) in f2f
    assert len(rows("folder_contains_document.csv")) == 11
    assert len(rows("document_contains_chunk.csv")) == len(chunks)
    # NEXT_CHUNK links consecutive chunks within each document
    per_doc = {}
    for r in _records(storage):
        per_doc.setdefault(r["document_id"], []).append(r["id"])
    expected = {(ids[i], ids[i + 1]) for ids in per_doc.values() for i in range(len(ids) - 1)}
    got = {(r[":START_ID(Chunk)"], r[":END_ID(Chunk)"]) for r in rows("next_chunk.csv")}
    assert got == expected and len(expected) > 0
    assert "LOAD CSV" in (folder / "import.cypher").read_text() and "NEXT_CHUNK" in (folder / "import.sh").read_text()
    from services_app.capabilities.knowledgebase.store import export_path

    with zipfile.ZipFile(export_path(storage, "kb", "neo4j.zip")) as z:
        assert "neo4j/chunks.csv" in z.namelist() and "neo4j/import.cypher" in z.namelist()


def test_character_and_token_chunking(ctx, storage, data_roots):
    src = data_roots / "docs"
    src.mkdir()
    text = " ".join(f"Sentence number {i} talks about renewable energy." for i in range(200))
    (src / "long.txt").write_text(text)
    build(ctx, {"name": "kb", "source": "docs", "chunking": {"mode": "characters", "size": 300, "overlap": 50}})
    recs = _records(storage)
    assert len(recs) > 20 and all(r["char_count"] <= 300 for r in recs)
    assert all(text[r["char_start"] : r["char_end"]] == r["text"] for r in recs)
    assert all(recs[i + 1]["char_start"] < recs[i]["char_end"] for i in range(len(recs) - 1))  # overlap
    assert all(r["chunk_count"] == len(recs) for r in recs)

    result = build(ctx, {"name": "kb", "source": "docs", "chunking": {"mode": "tokens", "size": 64, "overlap": 8}})
    assert result["changed"] == 1  # new chunking settings re-read the file
    from services_app.capabilities.knowledgebase.chunking import load_tokenizer

    tok = load_tokenizer()
    recs = _records(storage)
    assert len(recs) > 10
    assert all(len(tok.encode(r["text"], add_special_tokens=False).ids) <= 66 for r in recs)
    assert all(text[r["char_start"] : r["char_end"]] == r["text"] for r in recs)

    with pytest.raises(ServiceError, match="overlap"):
        build(ctx, {"name": "kb", "source": "docs", "chunking": {"mode": "characters", "size": 100, "overlap": 100}})


def test_incremental_rebuild(ctx, storage, tree):
    build(ctx, {"name": "kb", "source": "master", "chunking": {"mode": "characters", "size": 40}})
    ids_before = {r["path"]: r["id"] for r in _records(storage)}
    manifest_before = json.loads((storage.data_root / OUT / "manifest.json").read_text())

    again = build(ctx, {"name": "kb", "source": "master", "chunking": {"mode": "characters", "size": 40}})
    assert (again["added"], again["changed"], again["unchanged"], again["removed"]) == (0, 0, 11, 0)
    assert again["files_read"] == 0
    assert (
        json.loads((storage.data_root / OUT / "manifest.json").read_text())["build_id"] == manifest_before["build_id"]
    )

    (tree / "esg/policy.md").write_text("# Emissions policy\n\nWe cut scope 1 and 2 emissions.\n")
    touched = tree / "news/prices.csv"
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # same content, new mtime
    (tree / "root.txt").unlink()
    (tree / "news/new.md").write_text("# Fresh\n\nA new file.")
    time.sleep(0.01)
    third = build(ctx, {"name": "kb", "source": "master", "chunking": {"mode": "characters", "size": 40}})
    assert (third["added"], third["changed"], third["unchanged"], third["removed"]) == (1, 1, 9, 1)
    assert third["files_read"] == 2
    recs = _records(storage)
    paths = {r["path"] for r in recs}
    assert "root.txt" not in paths and "news/new.md" in paths
    assert "2 emissions" in " ".join(r["text"] for r in recs if r["path"] == "esg/policy.md")
    ids_after = {r["path"]: r["id"] for r in recs}
    assert all(ids_after[p] == ids_before[p] for p in ids_after if p in ids_before)  # stable ids
    prices = [r for r in recs if r["path"] == "news/prices.csv"][0]
    assert prices["modified"].startswith(time.strftime("%Y", time.gmtime(touched.stat().st_mtime)))
    files = pq.read_table(storage.data_root / OUT / "files.parquet").to_pylist()
    assert {f["path"] for f in files} == paths | set()  # one row per file
    assert [f for f in files if f["path"] == "news/prices.csv"][0]["mtime_ns"] == touched.stat().st_mtime_ns

    full = build(ctx, {"name": "kb", "source": "master", "chunking": {"mode": "characters", "size": 40}, "full": True})
    assert full["added"] == 11 and full["files_read"] == 11
    assert {r["path"]: r["id"] for r in _records(storage)} == ids_after


def test_include_exclude_and_hidden(ctx, storage, tree):
    (tree / ".git").mkdir()
    (tree / ".git" / "notes.txt").write_text("hidden")
    result = build(ctx, {"name": "kb", "source": "master", "include": ["*.txt", "*.md"], "exclude": ["esg/reports/*"]})
    paths = {r["path"] for r in _records(storage)}
    assert paths == {"esg/policy.md", "root.txt"}
    assert result["counts"]["files"] == 2


def test_extraction_timeout_is_a_per_file_error(ctx, storage, tree):
    # a file that takes far longer than file_timeout is stopped (its worker replaced); the others are read
    row = "solar,wind,water,coal,gas,nuclear,hydro,biomass\n"
    (tree / "huge.csv").write_text("a,b,c,d,e,f,g,h\n" + row * 400_000)
    result = build(ctx, {"name": "kb", "source": "master", "include": ["*.csv", "*.md"], "file_timeout": 0.2})
    assert result["errors"] == [
        {"path": "huge.csv", "code": "timeout", "reason": "extraction took longer than 0.2s and was stopped"}
    ]
    assert result["counts"]["documents"] == 2  # esg/policy.md and news/prices.csv
    assert (storage.data_root / OUT / "manifest.json").is_file()


def test_same_pipeline_without_a_pool(ctx, storage, tree):
    pooled = build(ctx, {"name": "kb", "source": "master"})
    first = _records(storage)
    inline = build(ctx, {"name": "kb", "source": "master", "workers": 0, "full": True})
    assert pooled["counts"] == inline["counts"]
    assert [(r["id"], r["text"]) for r in _records(storage)] == [(r["id"], r["text"]) for r in first]


def test_invalid_params(ctx, tree):
    with pytest.raises(ServiceError, match="name"):
        build(ctx, {"name": "../x", "source": "master"})
    with pytest.raises(ServiceError, match="unknown field .colour.; known fields: chunking, embed"):
        build(ctx, {"name": "kb", "source": "master", "colour": 1})
    with pytest.raises(ServiceError, match="is a file"):
        build(ctx, {"name": "kb", "source": "master/root.txt"})
    with pytest.raises(ServiceError) as exc:
        build(ctx, {"name": "kb", "source": "missing"})
    assert exc.value.status == 404
