"""HTTP door of the jobs every capability runs (`services_app.jobs`): list, read, cancel; and the demo job."""

from uuid import UUID

from ninja import Query, Router
from ninja.pagination import paginate

from ...capabilities.demo import DemoRequest
from ...jobs.selectors import job_list
from ...jobs.services import job_cancel, job_get_for_user
from ...workspaces import request_workspace, requested_slug
from ..jobs import submit
from ..schemas.common import ERRORS, ErrorOut
from ..schemas.jobs import JobFilters, JobOut, JobSummaryOut

router = Router(tags=["Jobs"])


@router.get(
    "/jobs",
    response={200: list[JobSummaryOut], 401: ErrorOut, 422: ErrorOut},
    url_name="job_list",
    summary="List your jobs",
)
@paginate
def list_jobs(request, filters: Query[JobFilters]):
    """Newest first, without inputs, outputs and results (`GET /api/jobs/{id}` has them): the jobs of every
    workspace you are a member of (staff: every job), or of the workspace named by `X-Workspace` or
    `?workspace=`."""
    workspace = request_workspace(request) if requested_slug(request) else None
    return job_list(user=request.auth, kind=filters.kind, status=filters.status, workspace=workspace).select_related(
        "owner", "workspace"
    )


@router.get("/jobs/{job_id}", response={200: JobOut, **ERRORS}, url_name="job_get", summary="Read one job")
def get_job(request, job_id: UUID):
    """Poll this for progress, the result, or the error."""
    return job_get_for_user(user=request.auth, job_id=job_id)


@router.post("/jobs/{job_id}/cancel", response={200: JobOut, **ERRORS}, url_name="job_cancel", summary="Cancel a job")
def cancel_job(request, job_id: UUID):
    """A queued job is cancelled at once; a running job stops at its next progress report."""
    return job_cancel(job=job_get_for_user(user=request.auth, job_id=job_id))


@router.post("/demo-jobs", response={200: JobOut, 202: JobOut, **ERRORS}, url_name="job_demo", summary="Run a demo job")
def demo_job(request, payload: DemoRequest):
    """Sleeps for `seconds`, reporting progress `steps` times; with `fail` it ends failed.
    Use it to see the job lifecycle end to end."""
    return submit(request, kind=payload.kind, params=payload.job_params(), force=payload.force)
