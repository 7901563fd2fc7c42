from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema


class ChunkingIn(Schema):
    mode: Literal["none", "characters", "tokens"] = Field(
        "none", description="Split documents into chunks by characters or by tokens of the embedding model's tokenizer"
    )
    size: int | None = Field(None, ge=16, le=100_000, description="Chunk size (default 1000 characters / 256 tokens)")
    overlap: int | None = Field(None, ge=0, description="Overlap between consecutive chunks (default size/10)")


class KnowledgeBaseIn(Schema):
    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", examples=["esg-knowledge"])
    source: str = Field(
        ...,
        description="A folder under the data root, or a gs:// prefix in an allowed bucket (mirrored, then built)",
        examples=["knowledge/master", "gs://company-data/knowledge/master"],
    )
    include: list[str] = Field(
        default_factory=list,
        description="Glob patterns to keep (a name pattern or a path pattern)",
        examples=[["*.pdf", "*.md"]],
    )
    exclude: list[str] = Field(default_factory=list, description="Glob patterns to leave out", examples=[["drafts/*"]])
    include_hidden: bool = Field(False, description="Also read files and folders whose names start with '.'")
    chunking: ChunkingIn = Field(default_factory=ChunkingIn)
    embed: bool = Field(False, description="Embed every chunk and index it in Qdrant for semantic search")
    embeddings_provider: Literal["local", "openai"] | None = Field(None, description="Default: EMBEDDINGS_PROVIDER")
    embeddings_model: str | None = Field(None, description="Default: EMBEDDINGS_MODEL or the provider's default")
    file_timeout: float = Field(120.0, gt=0, le=3600, description="Seconds one file may take to extract")
    max_file_size: int = Field(512 * 1024 * 1024, ge=1, description="Larger files are listed as errors, not read")
    max_depth: int = Field(256, ge=1, le=10_000, description="Folders deeper than this are listed, not read")
    full: bool = Field(False, description="Read every file again instead of only new and changed ones")
    force: bool = Field(False, description="Run even if an identical job already succeeded on the same files")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "name": "esg-knowledge",
                    "source": "knowledge/master",
                    "include": [],
                    "exclude": ["drafts/*"],
                    "chunking": {"mode": "characters", "size": 1000, "overlap": 100},
                    "embed": True,
                }
            ]
        }
    }


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
    folder: str | None = Field(None, description="Only chunks in this folder or below", examples=["esg"])


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
