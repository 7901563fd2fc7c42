"""The web app's pages. Views stay thin: what a user may see comes from
``access``, writes go through ``services``, and every page is a template."""

from __future__ import annotations

import functools
from datetime import datetime, time, timedelta
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model, login, update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.contrib.auth.tokens import default_token_generator
from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from django.views.decorators.http import require_GET, require_POST

from ..errors import ServiceError
from ..jobs.registry import KINDS
from ..jobs.services import job_cancel
from ..models import ApiKey, Job
from ..params import redacted
from ..storage import get_storage
from ..workspaces import default_workspace, job_storage, root_location, workspace_storage
from . import access, charts, datasets, services

PAGE_SIZE = 50
REPORT_CSP = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; frame-ancestors 'self'"
)


def web_view(view):
    """Login required; a ServiceError becomes an error page with its status and plain message.

    A live part (an htmx request) whose session has ended is told to go to the login page,
    instead of swapping the login page into a table row."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if request.headers.get("HX-Request"):
                response = HttpResponse(status=204)
                response["HX-Redirect"] = resolve_url(settings.LOGIN_URL)
                return response
            return redirect_to_login(request.get_full_path())
        try:
            return view(request, *args, **kwargs)
        except ServiceError as exc:
            template = "web/_error.html" if request.headers.get("HX-Request") else "web/error.html"
            return render(request, template, {"error": exc}, status=exc.status)

    return wrapper


# --- login -----------------------------------------------------------------------------------


@require_GET
def login_link(request, uidb64: str, token: str):
    """A one-time login link (``manage.py login_link``): valid until used or until
    PASSWORD_RESET_TIMEOUT; logging in changes ``last_login``, which voids the token."""
    User = get_user_model()
    try:
        user = User.objects.get(pk=force_str(urlsafe_base64_decode(uidb64)), is_active=True)
    except (User.DoesNotExist, ValueError, TypeError, OverflowError):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        return render(request, "web/login_link_invalid.html", status=400)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    if not user.has_usable_password():
        return redirect("web:password")
    return redirect("web:jobs")


@web_view
def password(request):
    """Set a password (a user who came in by a login link has none yet) or change it."""
    form_class = PasswordChangeForm if request.user.has_usable_password() else SetPasswordForm
    form = form_class(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        update_session_auth_hash(request, form.user)
        return render(request, "web/password.html", {"form": None, "saved": True})
    return render(request, "web/password.html", {"form": form, "saved": False})


# --- jobs ------------------------------------------------------------------------------------


def _job_filters(request) -> dict:
    g = request.GET
    return {k: g.get(k, "").strip() for k in ("kind", "status", "owner", "since", "until")}


def _filtered_jobs(user, f: dict):
    qs = access.visible_jobs(user)
    if f["kind"]:
        qs = qs.filter(kind=f["kind"])
    if f["status"]:
        qs = qs.filter(status=f["status"])
    if f["owner"]:
        qs = qs.filter(owner__username=f["owner"])
    for key, lookup, end in (("since", "created_at__gte", False), ("until", "created_at__lt", True)):
        if f[key]:
            try:
                day = datetime.strptime(f[key], "%Y-%m-%d").date()
            except ValueError:
                raise ServiceError(f"{key}: {f[key]!r} is not a date; use YYYY-MM-DD", code="invalid_date") from None
            moment = timezone.make_aware(datetime.combine(day, time.min))
            qs = qs.filter(**{lookup: moment + timedelta(days=1) if end else moment})
    return qs


@web_view
def job_list(request):
    f = _job_filters(request)
    qs = _filtered_jobs(request.user, f)
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    jobs = list(qs[(page - 1) * PAGE_SIZE : page * PAGE_SIZE + 1])
    context = {
        "jobs": jobs[:PAGE_SIZE],
        "filters": f,
        "kinds": sorted(KINDS),
        "statuses": [s.value for s in Job.Status],
        "owners": access.visible_owners(request.user),
        "page": page,
        "has_next": len(jobs) > PAGE_SIZE,
        "query": request.GET.urlencode(),
    }
    return render(request, "web/jobs.html", context)


@web_view
def job_row(request, job_id: UUID):
    """One row of the jobs table; an unfinished row asks for itself again every 2 s."""
    return render(request, "web/_job_row.html", {"job": access.visible_job(request.user, job_id)})


def _job_context(user, job: Job) -> dict:
    ctx: dict = {"job": job, "can_act": access.can_act_on(user, job)}
    ctx["params_rows"] = _readable(redacted(job.params or {}))
    ctx["outputs"] = [
        _output_link(user, root_location(job.workspace, o)) for o in job.outputs or [] if isinstance(o, str)
    ]
    result = job.result or {}
    ctx["result"] = result
    if job.kind == services.CHECKS_KIND and result:
        ctx["checks"] = result.get("checks", [])
    if job.kind == services.CONVERSION_KIND and result:
        ctx["files"] = result.get("files", [])
    if job.error:
        ctx["error"] = job.error
        ctx["show_details"] = user.is_staff and job.error.get("details")
    ctx["producers"], ctx["consumers"] = _lineage(user, job)
    return ctx


def _readable(params: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Parameters as (name, value) rows; nested objects flattened with dots."""
    rows: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows.extend(_readable(value, name + "."))
        elif isinstance(value, list):
            rows.append((name, ", ".join(map(str, value)) if value else "(none)"))
        elif value is None or value == "":
            rows.append((name, "(default)"))
        else:
            rows.append((name, str(value)))
    return rows


def _output_link(user, location: str) -> dict:
    local = not location.startswith("gs://")
    return {
        "location": location,
        "parquet": local and location.endswith(".parquet"),
        "downloadable": local,
    }


def _lineage(user, job: Job, limit: int = 500) -> tuple[list[Job], list[Job]]:
    """Jobs (that the user may see) which produced this job's inputs, and which used its outputs."""
    inputs = {i.get("location") for i in job.inputs or [] if isinstance(i, dict)}
    outputs = set(job.outputs or [])
    if not inputs and not outputs:
        return [], []
    producers, consumers = [], []
    # locations are relative to a job's workspace: only jobs of the same workspace share them
    for other in access.visible_jobs(user).filter(workspace_id=job.workspace_id).exclude(pk=job.pk)[:limit]:
        if inputs & set(other.outputs or []):
            producers.append(other)
        other_inputs = {i.get("location") for i in other.inputs or [] if isinstance(i, dict)}
        if outputs & other_inputs or outputs & {(other.params or {}).get("dataset")}:
            consumers.append(other)
    return producers, consumers


@web_view
def job_detail(request, job_id: UUID):
    job = access.visible_job(request.user, job_id)
    return render(request, "web/job.html", _job_context(request.user, job))


@web_view
def job_panel(request, job_id: UUID):
    """The live part of the job page (status, progress, results), polled while the job runs."""
    job = access.visible_job(request.user, job_id)
    return render(request, "web/_job_panel.html", _job_context(request.user, job))


@require_POST
@web_view
def job_cancel_view(request, job_id: UUID):
    job = access.visible_job(request.user, job_id)
    if not access.can_act_on(request.user, job):
        raise ServiceError("only the owner of a job can cancel it", code="forbidden", status=403)
    job_cancel(job=job)
    return redirect("web:job", job_id=job.pk)


@require_POST
@web_view
def job_rerun_view(request, job_id: UUID):
    job = access.visible_job(request.user, job_id)
    if not access.can_act_on(request.user, job):
        raise ServiceError("only the owner of a job can run it again", code="forbidden", status=403)
    new = services.job_rerun(user=request.user, job=job)
    return redirect("web:job", job_id=new.pk)


# --- checks ----------------------------------------------------------------------------------


def _check_job(user, job_id: UUID) -> Job:
    job = access.visible_job(user, job_id)
    if job.kind != services.CHECKS_KIND:
        raise ServiceError(f"job {job_id} is not a checks job", code="not_a_check", status=404)
    return job


@web_view
def check_report(request, job_id: UUID):
    """The plain-words summary on top and the deepchecks report below, in a sandboxed frame."""
    job = _check_job(request.user, job_id)
    return render(request, "web/check_report.html", _job_context(request.user, job))


@web_view
def check_report_html(request, job_id: UUID):
    """The report file itself, with a CSP that sandboxes it: no script in it runs, and it
    has no access to the app's origin (cookies, pages, API), even when opened directly."""
    job = _check_job(request.user, job_id)
    location = (job.result or {}).get("report")
    if not location:
        raise ServiceError(f"this check has no report yet (status: {job.status})", code="report_not_ready", status=409)
    path = job_storage(job).resolve(location, must_exist=True)  # the report lives in the job's workspace
    download = request.GET.get("download") == "1"
    response = FileResponse(
        open(path, "rb"),  # noqa: SIM115 - FileResponse closes it
        content_type="text/html; charset=utf-8",
        as_attachment=download,
        filename=f"check-{job.pk}.html",
    )
    response["Content-Security-Policy"] = REPORT_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Referrer-Policy"] = "no-referrer"
    return response


@web_view
def check_history(request):
    """Every check of one dataset the user may see, with the share of checks passed over time."""
    dataset = request.GET.get("dataset", "")
    if not dataset:
        raise ServiceError("give the dataset whose check history to show (?dataset=...)", code="invalid_params")
    runs = [
        j
        for j in access.visible_jobs(request.user).filter(kind=services.CHECKS_KIND).order_by("created_at")
        if (j.params or {}).get("dataset") == dataset
    ]
    if not runs:
        raise ServiceError(f"no checks of {dataset!r} that you can see", code="not_found", status=404)
    points = [{"job": j, "score": charts.check_score(j.result), "passed": (j.result or {}).get("passed")} for j in runs]
    return render(
        request,
        "web/check_history.html",
        {"dataset": dataset, "points": points, "chart": charts.line_chart(points)},
    )


@require_POST
@web_view
def check_run(request):
    dataset = access.require_location(request.user, request.POST.get("dataset", ""))
    reference = request.POST.get("reference", "").strip()
    if reference:
        reference = access.require_location(request.user, reference)
    job, _ = services.check_submit(
        user=request.user,
        dataset=dataset,
        label=request.POST.get("label", "").strip(),
        text=request.POST.get("text", "").strip(),
        reference=reference,
        wandb=request.POST.get("wandb") == "on",
    )
    return redirect("web:job", job_id=job.pk)


# --- datasets --------------------------------------------------------------------------------


@web_view
def data_browse(request):
    location = access.norm_location(request.GET.get("location", ""))
    user = request.user
    if not access.location_visible(user, location) and (location == "" or access.leads_to_data(user, location)):
        # a folder above the user's data: only the way down to it is listed
        names = access.children_towards_data(user, location)
        entries = [_entry(loc) for loc in names[: datasets.LISTING_MAX]]
        context = {
            "location": location,
            "entries": entries,
            "crumbs": _crumbs(user, location),
            "truncated": len(names) > datasets.LISTING_MAX,
        }
        return render(request, "web/data.html", context)
    location = access.require_location(user, location)
    storage = get_storage()
    _, is_file = storage.lookup(location or ".")
    if is_file:
        return redirect(_dataset_url(location) if location.endswith(".parquet") else _download_url(location))
    entries, truncated = datasets.list_folder(storage, location)
    return render(
        request,
        "web/data.html",
        {"location": location, "entries": entries, "crumbs": _crumbs(user, location), "truncated": truncated},
    )


def _entry(location: str) -> datasets.Entry:
    path = get_storage().resolve(location)
    is_dir = not path.is_file()  # these lead down to the user's data (with a bucket data root: maybe not fetched)
    return datasets.Entry(
        name=location.rsplit("/", 1)[-1],
        location=location,
        is_dir=is_dir,
        size=path.stat().st_size if path.is_file() else 0,
        is_parquet=location.endswith(".parquet"),
    )


def _crumbs(user, location: str) -> list[dict]:
    parts = location.split("/") if location else []
    crumbs = []
    for i in range(len(parts)):
        loc = "/".join(parts[: i + 1])
        link = access.location_visible(user, loc) or access.leads_to_data(user, loc)
        crumbs.append({"name": parts[i], "location": loc, "link": link})
    return crumbs


def _dataset_url(location: str) -> str:
    return reverse("web:dataset") + "?" + _q(location)


def _download_url(location: str) -> str:
    return reverse("web:download") + "?" + _q(location)


def _q(location: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"location": location})


@web_view
def dataset(request):
    """A Parquet file: schema, row count, first rows, per-column statistics, the conversion that made it."""
    from ..capabilities.conversion.preview import preview_parquet

    location = access.require_location(request.user, request.GET.get("location", ""))
    storage = get_storage()
    preview = preview_parquet(storage, location, rows=20)
    stats, covered, total = datasets.column_stats(storage.resolve(location, must_exist=True))
    for s in stats:
        s.bars = datasets.histogram_bars(s.histogram)
    made_by = _conversion_of(request.user, location)
    checks = [
        j
        for j in access.visible_jobs(request.user).filter(kind=services.CHECKS_KIND)[:200]
        if (j.params or {}).get("dataset") == location
    ]
    return render(
        request,
        "web/dataset.html",
        {
            "location": location,
            "preview": preview,
            "columns": [c["name"] for c in preview["columns"]],
            "rows": [[r.get(c["name"]) for c in preview["columns"]] for r in preview["preview"]],
            "stats": stats,
            "covered": covered,
            "total": total,
            "made_by": made_by,
            "checks": checks,
            "crumbs": _crumbs(request.user, location),
        },
    )


def _conversion_of(user, location: str) -> dict | None:
    """The visible conversion job whose output is this file, and its entry for the file."""
    for job in access.visible_jobs(user).filter(kind=services.CONVERSION_KIND, status=Job.Status.SUCCEEDED)[:500]:
        outputs = {root_location(job.workspace, o): o for o in job.outputs or [] if isinstance(o, str)}
        if location in outputs:
            own = outputs[location]  # the location as the job knows it, in its workspace
            report = (job.result or {}).get("report")
            report = root_location(job.workspace, report) if report else None  # as the pages browse it
            for entry in (job.result or {}).get("files", []):
                for out in entry.get("outputs", []):
                    if out.get("location") == own:
                        return {"job": job, "entry": entry, "output": out, "report": report}
            return {"job": job, "entry": None, "report": report}
    return None


@web_view
def download(request):
    location = access.require_location(request.user, request.GET.get("location", ""))
    path = get_storage().resolve(location, must_exist=True)
    if not path.is_file():
        raise ServiceError(f"{location!r} is a folder; open it to download its files", code="not_a_file")
    response = FileResponse(open(path, "rb"), as_attachment=True, filename=path.name)  # noqa: SIM115
    # a downloaded file never renders as a page of this origin, whatever it holds
    response["Content-Security-Policy"] = REPORT_CSP
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- upload ----------------------------------------------------------------------------------


@web_view
def upload(request):
    return render(request, "web/upload.html", {"max_bytes": settings.MAX_UPLOAD_BYTES})


@require_POST
@web_view
def upload_file(request):
    """One file (the page sends each dropped file on its own): a conversion job, answered as a
    result row that follows the job until it finishes."""
    upload = request.FILES.get("file")
    if upload is None:
        raise ServiceError("send one file in the `file` field", code="invalid_request")
    job, created = services.conversion_upload_submit(user=request.user, upload=upload)
    # the path inside a dropped folder, shown to the user (the stored file keeps its base name)
    name = request.POST.get("path", "")[:500] or upload.name
    return render(request, "web/_upload_row.html", {"job": job, "name": name, "reused": not created})


@web_view
def upload_row(request, job_id: UUID):
    job = access.visible_job(request.user, job_id)
    return render(request, "web/_upload_row.html", {"job": job, "name": request.GET.get("name", ""), "reused": False})


# --- knowledge bases -------------------------------------------------------------------------


@web_view
def knowledge_bases(request):
    from ..capabilities.knowledgebase import store

    workspace = default_workspace(request.user)  # knowledge bases live in a workspace's folder
    manifests = {m["name"]: m for m in store.kb_list(workspace_storage(workspace))}
    names = access.visible_knowledge_base_names(request.user, list(manifests), workspace)
    return render(request, "web/knowledge_bases.html", {"kbs": [manifests[n] for n in names]})


@web_view
def knowledge_base(request, name: str):
    from ..capabilities.knowledgebase import store

    workspace = default_workspace(request.user)
    if name not in access.visible_knowledge_base_names(request.user, [name], workspace):
        raise ServiceError(f"no knowledge base {name!r} that you can see", code="not_found", status=404)
    storage = workspace_storage(workspace)
    manifest = store.read_manifest(storage, store.check_name(name))
    q = request.GET.get("q", "").strip()
    folder = request.GET.get("folder", "").strip()
    results = None
    if q:
        from ..capabilities.knowledgebase.index import search

        results = search(storage, name, q=q, k=10, folder=folder or None)
    docs = list(store.documents(storage, name, folder=folder or None, status=None, extension=None)[:200])
    source = str(manifest.get("source", "")).rstrip("/")
    for row in [*(results or {}).get("results", []), *docs]:
        # a link to the source document where the user may open it
        loc = root_location(workspace, f"{source}/{row.get('path', '')}")
        row["location"] = loc if not loc.startswith("gs://") and access.location_visible(request.user, loc) else None
    return render(
        request,
        "web/knowledge_base.html",
        {"kb": manifest, "q": q, "folder": folder, "results": results, "documents": docs},
    )


# --- pipelines and models --------------------------------------------------------------------


@web_view
def pipelines(request):
    from ..api.routers.pipelines import _describe, _tests
    from ..capabilities.pipelines.definitions import list_pipelines

    tests = _tests()
    storage = workspace_storage(default_workspace(request.user))
    rows = [_describe(p, tests, storage) for p in list_pipelines()]
    runs = {
        r["name"]: [
            j
            for j in access.visible_jobs(request.user).filter(kind__startswith="pipelines.")[:200]
            if (j.params or {}).get("pipeline") == r["name"]
        ]
        for r in rows
    }
    for r in rows:
        r["runs"] = runs[r["name"]][:10]
        r["chart"] = charts.pipeline_chart(list(reversed(runs[r["name"]])))
    return render(request, "web/pipelines.html", {"pipelines": rows})


@require_POST
@web_view
def pipeline_run(request, name: str):
    """A run with the pipeline's own parameters (as `POST /api/pipelines/{name}/runs` with an empty body)."""
    from ..capabilities.pipelines.request import PipelineRunRequest
    from ..capabilities.pipelines.submit import pipeline_run_submit

    job, _ = pipeline_run_submit(owner=request.user, name=name, request=PipelineRunRequest())
    return redirect("web:job", job_id=job.pk)


@web_view
def models(request):
    from ..capabilities.model_sync import core

    storage = get_storage()
    bucket = settings.GCS_MODELS_BUCKET
    problem = None
    try:
        storage.check_bucket(bucket)
        rows = core.list_models(storage, bucket)
    except ServiceError as exc:
        # no bucket configured here: the local models, and why their sync state is unknown
        problem = exc.message
        rows = [
            {"name": k[0], "version": k[1], "status": "unknown", "local": v.summary(), "remote": None}
            for k, v in sorted(core.local_versions(storage).items())
        ]
    return render(request, "web/models.html", {"models": rows, "problem": problem, "bucket": bucket})


# --- API keys --------------------------------------------------------------------------------


@web_view
def api_keys(request):
    new_key = None
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if not name:
            raise ServiceError("give the key a name, e.g. the laptop or CI job it is for", code="invalid_params")
        if len(name) > 100:
            raise ServiceError("a key name has at most 100 characters", code="invalid_params")
        _, new_key = ApiKey.issue(user=request.user, name=name)
    return render(request, "web/api_keys.html", {"keys": access.own_api_keys(request.user), "new_key": new_key})


@require_POST
@web_view
def api_key_revoke(request, key_id: int):
    key = access.own_api_keys(request.user).filter(pk=key_id).first()
    if key is None:
        raise ServiceError(f"no API key {key_id} of yours", code="not_found", status=404)
    key.revoked = True
    key.save(update_fields=["revoked"])
    return redirect("web:api_keys")
