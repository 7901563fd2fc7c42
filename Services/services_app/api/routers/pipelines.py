"""HTTP door of the MLOps pipelines capability (`services_app.capabilities.pipelines`)."""

from ninja import Router
from ninja.pagination import paginate

from ...capabilities.pipelines.definitions import (
    Pipeline,
    list_pipelines,
    load_model_tests,
    load_pipeline,
    read_metrics,
    read_params,
)
from ...capabilities.pipelines.jobs import latest_run
from ...capabilities.pipelines.request import PipelineRunRequest
from ...capabilities.pipelines.runner import check_metrics
from ...capabilities.pipelines.submit import pipeline_run_submit
from ...errors import ServiceError
from ...workspaces import request_storage
from ..jobs import accepted, job_scope
from ..schemas.common import ERRORS
from ..schemas.jobs import JobOut
from ..schemas.pipelines import PipelineOut

router = Router(tags=["MLOps pipelines"])


def _describe(pipeline: Pipeline, tests, storage) -> dict:
    latest = latest_run(storage, pipeline.name)  # the latest run in the request's workspace
    if latest:
        metrics, source = latest.get("metrics") or {}, "run"
    else:
        metrics = read_metrics(pipeline)
        source = "repository" if metrics else None
    spec = tests.pipelines.get(pipeline.name) if tests else None
    checks = check_metrics(metrics, spec) if metrics else []
    return {
        "name": pipeline.name,
        "description": pipeline.description,
        "stages": [s.__dict__ for s in pipeline.stages],
        "params": read_params(pipeline.path),
        "metrics": metrics,
        "metrics_source": source,
        "checks": [c.__dict__ for c in checks],
        "passed": all(c.passed for c in checks) if checks else None,
        "latest_run": latest,
    }


def _tests():
    try:
        return load_model_tests()
    except ServiceError:
        return None


@router.get("/pipelines", response=list[PipelineOut], url_name="pipeline_list", summary="List the DVC pipelines")
@paginate
def list_all(request):
    """Every pipeline under `Services/DVC/` with its stages, params and latest metrics (from the latest run
    through the API, else the metrics committed in the repository), checked against model_tests.yaml."""
    tests = _tests()
    storage = request_storage(request)
    return [_describe(p, tests, storage) for p in list_pipelines()]


@router.get(
    "/pipelines/{name}", response={200: PipelineOut, **ERRORS}, url_name="pipeline_get", summary="Read one pipeline"
)
def get_one(request, name: str):
    return _describe(load_pipeline(name), _tests(), request_storage(request))


@router.post(
    "/pipelines/{name}/runs",
    response={200: JobOut, 202: JobOut, **ERRORS},
    url_name="pipeline_run",
    summary="Run a DVC pipeline",
)
def run(request, name: str, payload: PipelineRunRequest):
    """Runs `dvc repro` on a worker with the given parameter overrides; only stages whose inputs changed rerun.
    Runs that include a GPU stage go to the `gpu` queue when a GPU worker is up. The job's result holds the
    metrics and the model test checks; its output folder holds metrics, plots and a markdown report.
    An identical request (same overrides, same pipeline files) returns the earlier job unless `force`."""
    return accepted(*pipeline_run_submit(owner=request.auth, name=name, request=payload, **job_scope(request)))
