"""Outputs: JSONL, Parquet and a Neo4j export of the knowledge base.

The Neo4j export is a folder of CSV files in the format of
``neo4j-admin database import full`` (node files with ``:ID(space)`` columns,
relationship files with ``:START_ID``/``:END_ID``/``:TYPE``) plus
``import.cypher``, which loads the same files with ``LOAD CSV`` into a running
database, and ``import.sh`` with the exact admin command. The graph:

    (:Folder)-[:CONTAINS]->(:Folder)      folders and subfolders, from the root
    (:Folder)-[:CONTAINS]->(:Document)
    (:Document)-[:CONTAINS]->(:Chunk)
    (:Chunk)-[:NEXT_CHUNK]->(:Chunk)      reading order within a document
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .records import NAMESPACE, _uuid5


def write_jsonl(table: pa.Table, path: Path) -> None:
    """One JSON object per line, timestamps as ISO 8601 with ``Z`` (orjson: several times faster
    than the json module on records like these)."""
    import orjson

    option = orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE
    with open(path, "wb") as out:
        for batch in table.to_batches(max_chunksize=8192):
            out.write(b"".join(orjson.dumps(row, option=option) for row in batch.to_pylist()))


def write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd", row_group_size=50_000)


def folder_id(folder: str) -> str:
    return _uuid5(b"folder:" + folder.encode("utf-8", "surrogateescape"))


CYPHER = """// Load the knowledge base into a running Neo4j database.
// Copy the CSV files of this folder into the database's import folder, then run:
//   cypher-shell -u neo4j -p <password> -f import.cypher
CREATE CONSTRAINT folder_id IF NOT EXISTS FOR (f:Folder) REQUIRE f.id IS UNIQUE;
CREATE CONSTRAINT document_id IF NOT EXISTS FOR (d:Document) REQUIRE d.id IS UNIQUE;
CREATE CONSTRAINT chunk_id IF NOT EXISTS FOR (c:Chunk) REQUIRE c.id IS UNIQUE;

LOAD CSV WITH HEADERS FROM 'file:///folders.csv' AS row
CALL { WITH row
  MERGE (f:Folder {id: row.`id:ID(Folder)`})
  SET f.path = row.path, f.name = row.name, f.depth = toInteger(row.`depth:int`)
} IN TRANSACTIONS OF 10000 ROWS;

LOAD CSV WITH HEADERS FROM 'file:///documents.csv' AS row
CALL { WITH row
  MERGE (d:Document {id: row.`id:ID(Document)`})
  SET d.path = row.path, d.name = row.name, d.extension = row.extension, d.title = row.title,
      d.size = toInteger(row.`size:long`), d.sha256 = row.sha256, d.modified = datetime(row.`modified:datetime`),
      d.status = row.status, d.chunks = toInteger(row.`chunks:int`)
} IN TRANSACTIONS OF 10000 ROWS;

LOAD CSV WITH HEADERS FROM 'file:///chunks.csv' AS row
CALL { WITH row
  MERGE (c:Chunk {id: row.`id:ID(Chunk)`})
  SET c.text = row.text, c.page = toInteger(row.`page:int`), c.chunkIndex = toInteger(row.`chunkIndex:int`),
      c.charCount = toInteger(row.`charCount:int`), c.path = row.path
} IN TRANSACTIONS OF 10000 ROWS;

LOAD CSV WITH HEADERS FROM 'file:///folder_contains_folder.csv' AS row
CALL { WITH row
  MATCH (a:Folder {id: row.`:START_ID(Folder)`}), (b:Folder {id: row.`:END_ID(Folder)`})
  MERGE (a)-[:CONTAINS]->(b)
} IN TRANSACTIONS OF 10000 ROWS;

LOAD CSV WITH HEADERS FROM 'file:///folder_contains_document.csv' AS row
CALL { WITH row
  MATCH (a:Folder {id: row.`:START_ID(Folder)`}), (b:Document {id: row.`:END_ID(Document)`})
  MERGE (a)-[:CONTAINS]->(b)
} IN TRANSACTIONS OF 10000 ROWS;

LOAD CSV WITH HEADERS FROM 'file:///document_contains_chunk.csv' AS row
CALL { WITH row
  MATCH (a:Document {id: row.`:START_ID(Document)`}), (b:Chunk {id: row.`:END_ID(Chunk)`})
  MERGE (a)-[:CONTAINS]->(b)
} IN TRANSACTIONS OF 10000 ROWS;

LOAD CSV WITH HEADERS FROM 'file:///next_chunk.csv' AS row
CALL { WITH row
  MATCH (a:Chunk {id: row.`:START_ID(Chunk)`}), (b:Chunk {id: row.`:END_ID(Chunk)`})
  MERGE (a)-[:NEXT_CHUNK]->(b)
} IN TRANSACTIONS OF 10000 ROWS;
"""

ADMIN = """#!/bin/sh
# Offline bulk import into an empty database (Neo4j 5): stop the database first.
# Run from this folder; DATABASE defaults to "neo4j".
set -eu
neo4j-admin database import full "${DATABASE:-neo4j}" --overwrite-destination \\
  --multiline-fields=true \\
  --nodes=Folder=folders.csv \\
  --nodes=Document=documents.csv \\
  --nodes=Chunk=chunks.csv \\
  --relationships=CONTAINS=folder_contains_folder.csv \\
  --relationships=CONTAINS=folder_contains_document.csv \\
  --relationships=CONTAINS=document_contains_chunk.csv \\
  --relationships=NEXT_CHUNK=next_chunk.csv
"""


def _csv(table: pa.Table, path: Path, header: list[str]) -> None:
    """Write ``table`` with the given header names (Arrow's CSV writer quotes every string, doubles
    quotes inside them, and leaves nulls empty: what ``neo4j-admin import`` and ``LOAD CSV`` read)."""
    pacsv.write_csv(table.rename_columns(header), path)


def write_neo4j(chunks: pa.Table, files: pa.Table, folder: Path, *, root_name: str) -> dict:
    """Write the Neo4j export into ``folder``; returns node and relationship counts.

    ``chunks`` must be sorted by path and chunk index (the build sorts them)."""
    folder.mkdir(parents=True, exist_ok=True)
    # folders: every ancestor of every document, and the root ("")
    all_folders: set[str] = {""}
    for f in pc.unique(files["folder"]).to_pylist():
        parts = f.split("/") if f else []
        for i in range(1, len(parts) + 1):
            all_folders.add("/".join(parts[:i]))
    ordered = sorted(all_folders)
    ids = {p: folder_id(p) for p in ordered}
    _csv(
        pa.table(
            {
                "id": [ids[p] for p in ordered],
                "path": ordered,
                "name": [p.rsplit("/", 1)[-1] if p else root_name for p in ordered],
                "depth": pa.array([p.count("/") + 1 if p else 0 for p in ordered], pa.int32()),
            }
        ),
        folder / "folders.csv",
        ["id:ID(Folder)", "path", "name", "depth:int"],
    )
    sub = [p for p in ordered if p]
    _csv(
        pa.table(
            {"start": [ids[p.rsplit("/", 1)[0] if "/" in p else ""] for p in sub], "end": [ids[p] for p in sub]},
            schema=pa.schema([("start", pa.string()), ("end", pa.string())]),
        ),
        folder / "folder_contains_folder.csv",
        [":START_ID(Folder)", ":END_ID(Folder)"],
    )

    docs = files.select(
        ["document_id", "path", "file_name", "extension", "title", "size", "sha256", "modified", "status", "chunks"]
    )
    # Arrow's %S prints the fraction of a microsecond timestamp: 2024-05-01T10:00:00.123456Z
    modified = pc.strftime(files["modified"], format="%Y-%m-%dT%H:%M:%SZ")
    docs = docs.set_column(docs.schema.get_field_index("modified"), "modified", modified)
    _csv(
        docs,
        folder / "documents.csv",
        [
            "id:ID(Document)",
            "path",
            "name",
            "extension",
            "title",
            "size:long",
            "sha256",
            "modified:datetime",
            "status",
            "chunks:int",
        ],
    )
    _csv(
        pa.table(
            {"start": pa.array([ids[f] for f in files["folder"].to_pylist()], pa.string()), "end": files["document_id"]}
        ),
        folder / "folder_contains_document.csv",
        [":START_ID(Folder)", ":END_ID(Document)"],
    )

    _csv(
        chunks.select(["id", "path", "text", "page", "chunk_index", "char_count"]),
        folder / "chunks.csv",
        ["id:ID(Chunk)", "path", "text", "page:int", "chunkIndex:int", "charCount:int"],
    )
    _csv(
        chunks.select(["document_id", "id"]),
        folder / "document_contains_chunk.csv",
        [":START_ID(Document)", ":END_ID(Chunk)"],
    )
    # reading order: consecutive rows of the same document
    n = chunks.num_rows
    doc = chunks["document_id"]
    same = pc.equal(doc.slice(0, max(n - 1, 0)), doc.slice(1)) if n > 1 else pa.array([], pa.bool_())
    nxt = pa.table({"start": chunks["id"].slice(0, max(n - 1, 0)), "end": chunks["id"].slice(1)}).filter(same)
    _csv(nxt, folder / "next_chunk.csv", [":START_ID(Chunk)", ":END_ID(Chunk)"])

    (folder / "import.cypher").write_text(CYPHER, encoding="utf-8")
    (folder / "import.sh").write_text(ADMIN, encoding="utf-8")
    (folder / "import.sh").chmod(0o755)
    return {
        "folders": len(ordered),
        "documents": files.num_rows,
        "chunks": n,
        "contains": len(sub) + files.num_rows + n,
        "next_chunk": nxt.num_rows,
    }


def zip_neo4j(folder: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=3) as z:
        for p in sorted(folder.iterdir()):
            z.write(p, arcname=f"neo4j/{p.name}")


__all__ = ["NAMESPACE", "write_jsonl", "write_parquet", "write_neo4j", "folder_id"]
