"""HTTP door of the knowledge base capability (`services_app.capabilities.knowledgebase`)."""

from django.http import FileResponse
from ninja import Query, Router
from ninja.pagination import paginate

from ...capabilities.knowledgebase import store
from ...capabilities.knowledgebase.request import KnowledgeBaseRequest
from ...capabilities.knowledgebase.submit import knowledgebase_submit
from ...workspaces import request_storage
from ..jobs import accepted, job_scope
from ..schemas.common import ERRORS
from ..schemas.jobs import JobOut
from ..schemas.knowledgebase import (
    DocumentFilters,
    DocumentOut,
    KnowledgeBaseOut,
    SearchOut,
    SearchQuery,
)

router = Router(tags=["Knowledge base"])


@router.post(
    "/knowledgebases",
    response={200: JobOut, 202: JobOut, **ERRORS},
    url_name="kb_build",
    summary="Build or rebuild a knowledge base",
)
def build_kb(request, payload: KnowledgeBaseRequest):
    """Walks `source` (a folder under the data root, or a `gs://bucket/prefix` in an allowed bucket, which is
    mirrored first: only objects whose generation changed are downloaded) and writes one record per document chunk to
    `knowledge.jsonl` and `knowledge.parquet`, a Neo4j export and, with `embed`, a semantic index.
    Building an existing name again is incremental: only new and changed files are read."""
    return accepted(
        *knowledgebase_submit(
            owner=request.auth, request=payload, storage=request_storage(request), **job_scope(request)
        )
    )


@router.get("/knowledgebases", response=list[KnowledgeBaseOut], url_name="kb_list", summary="List knowledge bases")
@paginate
def list_kbs(request):
    return store.kb_list(request_storage(request))


@router.get(
    "/knowledgebases/{name}",
    response={200: KnowledgeBaseOut, **ERRORS},
    url_name="kb_get",
    summary="Read a knowledge base",
)
def get_kb(request, name: str):
    """The manifest of the last completed build: counts, options, exports, embeddings."""
    return store.read_manifest(request_storage(request), store.check_name(name))


@router.get(
    "/knowledgebases/{name}/documents",
    response={200: list[DocumentOut], **ERRORS},
    url_name="kb_documents",
    summary="List the documents of a knowledge base",
)
@paginate
def list_documents(request, name: str, filters: Query[DocumentFilters]):
    """One row per file, with its status: ok, empty (no text), or error with the reason."""
    return store.documents(
        request_storage(request),
        store.check_name(name),
        folder=filters.folder,
        status=filters.status,
        extension=filters.extension,
    )


@router.get(
    "/knowledgebases/{name}/search",
    response={200: SearchOut, **ERRORS},
    url_name="kb_search",
    summary="Semantic search in a knowledge base",
)
def search_kb(request, name: str, query: Query[SearchQuery]):
    """The `k` chunks nearest in meaning to `q`, with cosine scores and their metadata.
    Needs a build with `embed: true`."""
    from ...capabilities.knowledgebase.index import search

    return search(request_storage(request), store.check_name(name), q=query.q, k=query.k, folder=query.folder)


@router.get(
    "/knowledgebases/{name}/exports/{export}",
    response={200: None, **ERRORS},
    url_name="kb_export",
    summary="Download an export of a knowledge base",
)
def download_export(request, name: str, export: str):
    """`knowledge.jsonl`, `knowledge.parquet`, `files.parquet`, `manifest.json` or `neo4j.zip`
    (CSV files for `neo4j-admin database import` and a Cypher script)."""
    path = store.export_path(request_storage(request), store.check_name(name), export)
    response = FileResponse(open(path, "rb"), as_attachment=True, filename=f"{name}-{export}")  # noqa: SIM115
    response["Content-Type"] = store.EXPORTS[export]
    return response
