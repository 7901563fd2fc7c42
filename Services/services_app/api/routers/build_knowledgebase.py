from django.http import FileResponse
from ninja import Query, Router
from ninja.pagination import paginate

from ...capabilities.knowledgebase import store
from ...capabilities.knowledgebase.jobs import options_from_params
from ...workspaces import request_storage
from ..jobs import submit
from ..schemas.common import ERRORS
from ..schemas.jobs import JobOut
from ..schemas.knowledgebase import (
    DocumentFilters,
    DocumentOut,
    KnowledgeBaseIn,
    KnowledgeBaseOut,
    SearchOut,
    SearchQuery,
)

router = Router(tags=["build-knowledgebase"])


@router.post(
    "/knowledgebases",
    response={200: JobOut, 202: JobOut, **ERRORS},
    url_name="kb_build",
    summary="Build or rebuild a knowledge base",
)
def build_kb(request, payload: KnowledgeBaseIn):
    """Walks `source` (a folder under the data root, or a `gs://bucket/prefix` in an allowed bucket, which is
    mirrored first: only objects whose generation changed are downloaded) and writes one record per document chunk to
    `knowledge.jsonl` and `knowledge.parquet`, a Neo4j export and, with `embed`, a semantic index.
    Building an existing name again is incremental: only new and changed files are read."""
    params = payload.dict(exclude={"force"})
    params["chunking"] = {k: v for k, v in params["chunking"].items() if v is not None}
    params = {k: v for k, v in params.items() if v is not None}
    options_from_params(params)  # the same validation the job does, answered now
    storage = request_storage(request)
    # fingerprint checks the location now: outside the data root 403, a bucket not allowed 403, missing 404
    inputs = [storage.fingerprint(payload.source)]
    return submit(
        request,
        kind="knowledgebase.build",
        params=params,
        inputs=inputs,
        force=payload.force,
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
