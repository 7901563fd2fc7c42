from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema


class KnowledgeBaseOut(Schema):
    name: str
    source: str
    build_id: str
    built_at: datetime
    checked_at: datetime
    config: dict[str, Any]
    options: dict[str, Any]
    counts: dict[str, Any] = Field(description="files, documents, empty, errors, chunks, characters, skipped")
    graph: dict[str, Any] = Field(description="Node and relationship counts of the Neo4j export")
    embeddings: dict[str, Any] | None
    last_build: dict[str, Any] = Field(description="added, changed, unchanged, removed, seconds of the last build")
    exports: dict[str, Any] = Field(description="Downloadable files: GET /api/knowledgebases/{name}/exports/{file}")


class DocumentFilters(Schema):
    folder: str | None = Field(None, description="Only documents in this folder or below", examples=["esg/reports"])
    status: Literal["ok", "empty", "error"] | None = None
    extension: str | None = Field(None, examples=[".pdf"])


class DocumentOut(Schema):
    document_id: str
    path: str
    uri: str | None = Field(None, description="gs://bucket/prefix/<path> for a bucket source, else <source>/<path>")
    folder: str
    file_name: str
    extension: str
    title: str | None
    status: str = Field(description="ok, empty (no text) or error (see code and reason)")
    code: str | None
    reason: str | None
    chunks: int
    characters: int
    pages: int | None
    encoding: str | None
    sha256: str | None
    size: int
    modified: datetime


class SearchQuery(Schema):
    q: str = Field(..., min_length=1, max_length=2000, description="What to look for", examples=["water usage targets"])
    k: int = Field(10, ge=1, le=200, description="How many chunks to return")
    folder: str | None = Field(
        None,
        description="Only chunks in this folder or below; a folder the knowledge base does not hold is a 422 "
        "`unknown_folder` that lists its top folders",
        examples=["esg"],
    )


class SearchHit(Schema):
    id: str
    score: float = Field(description="Cosine similarity, -1..1")
    document_id: str
    path: str
    uri: str | None = None
    folder: str
    top_folder: str
    subfolders: list[str]
    file_name: str
    extension: str
    title: str | None
    page: int | None
    sheet: str | None
    chunk_index: int
    chunk_count: int
    char_count: int
    text: str


class SearchOut(Schema):
    name: str
    query: str
    k: int
    folder: str | None
    model: str
    backend: str = Field(description="local (exact top-k over the stored vectors) or qdrant (a Qdrant server)")
    took_ms: float
    embed_ms: float
    results: list[SearchHit]
