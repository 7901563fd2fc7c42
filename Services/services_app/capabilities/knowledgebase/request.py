"""The knowledge base's one request model: router body, stored Job params, job input, command options."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ...params import RequestModel
from .build import BuildOptions
from .chunking import ChunkingOptions

KIND = "knowledgebase.build"


class Chunking(RequestModel):
    mode: Literal["none", "characters", "tokens"] = Field(
        "none", description="Split documents into chunks by characters or by tokens of the embedding model's tokenizer"
    )
    size: int | None = Field(None, ge=16, le=100_000, description="Chunk size (default 1000 characters / 256 tokens)")
    overlap: int | None = Field(None, ge=0, description="Overlap between consecutive chunks (default size/10)")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Chunking:
        if self.mode != "none" and self.overlap is not None:
            size = self.size or (256 if self.mode == "tokens" else 1000)
            if self.overlap >= size:
                raise ValueError(f"chunking.overlap ({self.overlap}) must be smaller than chunking.size ({size})")
        return self


class KnowledgeBaseRequest(RequestModel):
    """Build (or incrementally rebuild) the knowledge base ``name`` from the folder ``source``."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", examples=["esg-knowledge"])
    source: str = Field(
        ...,
        min_length=1,
        max_length=4096,
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
    chunking: Chunking = Field(default_factory=Chunking)
    embed: bool = Field(False, description="Embed every chunk and index it in Qdrant for semantic search")
    embeddings_provider: Literal["local", "openai"] | None = Field(None, description="Default: EMBEDDINGS_PROVIDER")
    embeddings_model: str | None = Field(None, description="Default: EMBEDDINGS_MODEL or the provider's default")
    workers: int | None = Field(
        None, ge=0, le=64, description="Extraction processes (default: one per CPU; 0: in the job's process)"
    )
    file_timeout: float = Field(120.0, gt=0, le=3600, description="Seconds one file may take to extract")
    max_file_size: int = Field(512 * 1024 * 1024, ge=1, description="Larger files are listed as errors, not read")
    max_depth: int = Field(256, ge=1, le=10_000, description="Folders deeper than this are listed, not read")
    max_table_rows: int = Field(100_000, ge=1, description="Rows of a table file that become text; more are cut")
    full: bool = Field(False, description="Read every file again instead of only new and changed ones")
    force: bool = Field(False, description="Run even if an identical job already succeeded on the same files")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "name": "esg-knowledge",
                    "source": "knowledge/master",
                    "exclude": ["drafts/*"],
                    "chunking": {"mode": "characters", "size": 1000, "overlap": 100},
                    "embed": True,
                }
            ]
        }
    }

    @model_validator(mode="after")
    def _no_empty_patterns(self) -> KnowledgeBaseRequest:
        for field, patterns in (("include", self.include), ("exclude", self.exclude)):
            if any(not p for p in patterns):
                raise ValueError(f"{field} holds an empty pattern; give globs such as '*.pdf' or 'reports/*'")
        return self

    def options(self) -> BuildOptions:
        """The engine's options (defaults of the chunking mode filled in)."""
        return BuildOptions(
            name=self.name,
            source=self.source,
            include=list(self.include),
            exclude=list(self.exclude),
            include_hidden=self.include_hidden,
            chunking=ChunkingOptions.parse(self.chunking.model_dump(exclude_none=True)),
            embed=self.embed,
            embeddings_provider=self.embeddings_provider,
            embeddings_model=self.embeddings_model,
            workers=self.workers,
            file_timeout=self.file_timeout,
            max_file_size=self.max_file_size,
            max_depth=self.max_depth,
            max_table_rows=self.max_table_rows,
            full=self.full,
        )
