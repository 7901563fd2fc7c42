"""HTTP door of the language models capability (`services_app.capabilities.language_models`): train (a job), then
query the trained model by the training job's id."""

from uuid import UUID

from ninja import Query, Router

from ...capabilities.language_models.artifacts import load_model
from ...capabilities.language_models.request import LanguageModelRequest
from ...capabilities.language_models.submit import language_model_submit
from ...errors import ServiceError
from ...jobs.services import job_get_for_user
from ...workspaces import job_storage, request_storage
from ..jobs import accepted, job_scope
from ..schemas.common import ERRORS
from ..schemas.jobs import JobOut
from ..schemas.language_models import NextOut, PerplexityIn, PerplexityOut, SimilarOut

router = Router(tags=["Language models"])


def _model(request, job_id: UUID, kind: str):
    job = job_get_for_user(user=request.auth, job_id=job_id)
    if job.kind != "language_models.train":
        raise ServiceError(f"job {job_id} is a {job.kind} job, not a language model", code="not_a_model", status=404)
    if job.status != "succeeded":
        raise ServiceError(
            f"the model of job {job_id} is not ready: the job is {job.status}", code="model_not_ready", status=409
        )
    # A model saved to gs:// is mirrored into the local cache (re-downloaded only when its objects change).
    model = load_model(job_storage(job).local_copy(job.result["model"]))
    if model.kind != kind:
        other = "/similar" if model.kind == "cooccurrence" else "/next and /perplexity"
        raise ServiceError(
            f"job {job_id} trained a {model.kind} model; use {other}", code="wrong_model_kind", status=409
        )
    return model


@router.post(
    "/language-models",
    response={200: JobOut, 202: JobOut, **ERRORS},
    url_name="language_model_train",
    summary="Train a language model",
)
def train_model(request, payload: LanguageModelRequest):
    """Trains on the train split and reports perplexity (n-gram) on the validation split. The model is saved under
    `jobs/language_modeling/models/<name or job id>/`; query it with the job id."""
    return accepted(
        *language_model_submit(
            owner=request.auth, request=payload, storage=request_storage(request), **job_scope(request)
        )
    )


@router.get(
    "/language-models/{job_id}/similar",
    response={200: SimilarOut, **ERRORS},
    url_name="language_model_similar",
    summary="Words most similar to a word (co-occurrence model)",
)
def similar(request, job_id: UUID, word: str, k: Query[int] = 10):
    """Cosine similarity of PPMI rows."""
    model = _model(request, job_id, "cooccurrence")
    return {"word": word, "similar": model.similar(word, max(1, min(k, 100)))}


@router.get(
    "/language-models/{job_id}/next",
    response={200: NextOut, **ERRORS},
    url_name="language_model_next",
    summary="Most likely next words (n-gram model)",
)
def next_words(request, job_id: UUID, context: str = "", k: Query[int] = 10):
    model = _model(request, job_id, "ngram")
    return {"context": context, "next": model.next_words(context, max(1, min(k, 100)))}


@router.post(
    "/language-models/{job_id}/perplexity",
    response={200: PerplexityOut, **ERRORS},
    url_name="language_model_perplexity",
    summary="Perplexity of texts (n-gram model)",
)
def perplexity(request, job_id: UUID, payload: PerplexityIn):
    model = _model(request, job_id, "ngram")
    return model.perplexity(payload.texts)
