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

import csv
import json
import zipfile
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .records import NAMESPACE, _uuid5


def write_jsonl(table: pa.Table, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for batch in table.to_batches(max_chunksize=4096):
            for row in batch.to_pylist():
                for k, v in row.items():
                    if isinstance(v, datetime):
                        row[k] = v.isoformat().replace("+00:00", "Z")
                out.write(json.dumps(row, ensure_ascii=False))
                out.write("\n")


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


def write_neo4j(chunks: pa.Table, files: pa.Table, folder: Path, *, root_name: str) -> dict:
    """Write the Neo4j export into ``folder``; returns node and relationship counts."""
    folder.mkdir(parents=True, exist_ok=True)

    def writer(name: str, header: list[str]):
        f = open(folder / name, "w", encoding="utf-8", newline="")
        w = csv.writer(f, quoting=csv.QUOTE_MINIMAL)
        w.writerow(header)
        return f, w

    counts = {"folders": 0, "documents": 0, "chunks": 0, "contains": 0, "next_chunk": 0}
    # folders: every ancestor of every document, and the root ("")
    all_folders: set[str] = {""}
    for f in files.column("folder").to_pylist():
        parts = f.split("/") if f else []
        for i in range(1, len(parts) + 1):
            all_folders.add("/".join(parts[:i]))
    fh, w = writer("folders.csv", ["id:ID(Folder)", "path", "name", "depth:int"])
    for path in sorted(all_folders):
        w.writerow(
            [folder_id(path), path, path.rsplit("/", 1)[-1] if path else root_name, path.count("/") + 1 if path else 0]
        )
    fh.close()
    counts["folders"] = len(all_folders)
    fh, w = writer("folder_contains_folder.csv", [":START_ID(Folder)", ":END_ID(Folder)"])
    for path in sorted(all_folders):
        if path:
            parent = path.rsplit("/", 1)[0] if "/" in path else ""
            w.writerow([folder_id(parent), folder_id(path)])
            counts["contains"] += 1
    fh.close()

    cols = [
        "document_id",
        "path",
        "folder",
        "file_name",
        "extension",
        "title",
        "size",
        "sha256",
        "modified",
        "status",
        "chunks",
    ]
    fh, w = writer(
        "documents.csv",
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
    fh2, w2 = writer("folder_contains_document.csv", [":START_ID(Folder)", ":END_ID(Document)"])
    for row in files.select(cols).to_pylist():
        modified = row["modified"].isoformat().replace("+00:00", "Z")
        w.writerow(
            [
                row["document_id"],
                row["path"],
                row["file_name"],
                row["extension"],
                row["title"] or "",
                row["size"],
                row["sha256"] or "",
                modified,
                row["status"],
                row["chunks"],
            ]
        )
        w2.writerow([folder_id(row["folder"]), row["document_id"]])
        counts["documents"] += 1
        counts["contains"] += 1
    fh.close()
    fh2.close()

    fh, w = writer("chunks.csv", ["id:ID(Chunk)", "path", "text", "page:int", "chunkIndex:int", "charCount:int"])
    fh2, w2 = writer("document_contains_chunk.csv", [":START_ID(Document)", ":END_ID(Chunk)"])
    fh3, w3 = writer("next_chunk.csv", [":START_ID(Chunk)", ":END_ID(Chunk)"])
    previous: tuple[str, str] | None = None  # (document_id, chunk id); rows are sorted by path, chunk_index
    for batch in chunks.select(["id", "document_id", "path", "text", "page", "chunk_index", "char_count"]).to_batches(
        8192
    ):
        for row in batch.to_pylist():
            page = "" if row["page"] is None else row["page"]
            w.writerow([row["id"], row["path"], row["text"], page, row["chunk_index"], row["char_count"]])
            w2.writerow([row["document_id"], row["id"]])
            counts["chunks"] += 1
            counts["contains"] += 1
            if previous is not None and previous[0] == row["document_id"]:
                w3.writerow([previous[1], row["id"]])
                counts["next_chunk"] += 1
            previous = (row["document_id"], row["id"])
    for h in (fh, fh2, fh3):
        h.close()
    (folder / "import.cypher").write_text(CYPHER, encoding="utf-8")
    (folder / "import.sh").write_text(ADMIN, encoding="utf-8")
    (folder / "import.sh").chmod(0o755)
    return counts


def zip_neo4j(folder: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=3) as z:
        for p in sorted(folder.iterdir()):
            z.write(p, arcname=f"neo4j/{p.name}")


__all__ = ["NAMESPACE", "write_jsonl", "write_parquet", "write_neo4j", "folder_id"]
