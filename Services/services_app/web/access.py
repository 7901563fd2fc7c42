"""What a web user may see: every such decision of the web app is made here.

The rules are the API's: a user sees their own jobs, staff see all. Data
follows jobs: a user sees a location of the data root when it is an input or
an output of a job they may see (or lies under such a folder); staff see the
whole data root. Knowledge bases follow the jobs that built them. Pipelines
and models are shared by everyone who can log in, as in the API.

Workspaces plug in here: replace the body of ``visible_jobs`` (and, where a
workspace owns folders outright, ``data_roots``) and every page follows.
"""

from __future__ import annotations

from posixpath import normpath

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from ..errors import NotFound
from ..jobs.selectors import job_list
from ..models import ApiKey, Job
from ..storage import get_storage
from ..workspaces import root_location

# Folders of the data root that belong to the platform, never to a user.
HIDDEN_TOP = (".cache",)


def visible_jobs(user) -> QuerySet[Job]:
    """Jobs the user may see, newest first (the API's rule)."""
    return job_list(user=user).select_related("owner", "workspace")


def visible_job(user, job_id) -> Job:
    """One job the user may see, or NotFound (a 404: never says whether it exists)."""
    job = visible_jobs(user).filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"no job {job_id}", code="job_not_found")
    return job


def can_act_on(user, job: Job) -> bool:
    """Cancel or run again: the owner, or staff."""
    return user.is_staff or job.owner_id == user.pk


def visible_owners(user) -> QuerySet:
    """Users whose jobs this user may filter by."""
    users = get_user_model().objects.order_by("username")
    return users if user.is_staff else users.filter(pk=user.pk)


def norm_location(location: str) -> str:
    """A location in one spelling: posix, no leading ./ or trailing /, '' for the data root."""
    if not location or location in (".", "/"):
        return ""
    if location.startswith("gs://"):
        return location.rstrip("/")
    out = normpath(location.strip().lstrip("/"))
    return "" if out == "." else out


def _job_locations(job: Job) -> set[str]:
    """The job's inputs and outputs as data-root locations (a job's own locations are relative to its
    workspace's folder)."""
    locs = {o for o in job.outputs or [] if isinstance(o, str)}
    locs |= {i.get("location") for i in job.inputs or [] if isinstance(i, dict) and i.get("location")}
    result = job.result or {}
    for key in ("output", "report", "summary"):
        if isinstance(result.get(key), str):
            locs.add(result[key])
    return {norm_location(root_location(job.workspace, loc)) for loc in locs if loc and not loc.startswith("pipeline:")}


def data_roots(user) -> list[str]:
    """The locations a user may browse from: '' (the whole data root) for staff,
    else the inputs and outputs of their visible jobs, outermost only.

    Worked out once per request (kept on the request's user object)."""
    cached = getattr(user, "_web_data_roots", None)
    if cached is not None:
        return cached
    if user.is_staff:
        roots = [""]
    else:
        locs: set[str] = set()
        for job in visible_jobs(user).select_related(None).only("inputs", "outputs", "result"):
            locs |= _job_locations(job)
        roots = _outermost(locs)
    user._web_data_roots = roots
    return roots


def _ancestors(loc: str) -> list[str]:
    """'a/b/c' -> ['a', 'a/b']."""
    parts = loc.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _outermost(locs: set[str]) -> list[str]:
    """Locations that lie under no other location of the set (O(n x depth))."""
    return sorted(loc for loc in locs if not any(a in locs for a in _ancestors(loc)))


def _routes(user) -> set[str]:
    """Every folder above a data root of the user ('' included): the way to their data."""
    cached = getattr(user, "_web_routes", None)
    if cached is None:
        cached = {a for r in data_roots(user) for a in ["", *_ancestors(r)]} if data_roots(user) else set()
        user._web_routes = cached
    return cached


def leads_to_data(user, location: str) -> bool:
    """A folder the user may not list, but which holds some of their data further down."""
    return norm_location(location) in _routes(user)


def children_towards_data(user, location: str) -> list[str]:
    """The entries of ``location`` that are, or lead to, the user's data (nothing else is listed)."""
    loc = norm_location(location)
    prefix = loc + "/" if loc else ""
    found = set()
    for root in data_roots(user):
        if root.startswith(prefix) and root != loc and not root.startswith("gs://"):
            found.add(prefix + root[len(prefix) :].split("/", 1)[0])
    return sorted(found)


def location_visible(user, location: str) -> bool:
    loc = norm_location(location)
    if loc.split("/", 1)[0] in HIDDEN_TOP:
        return False
    roots = data_roots(user)
    if "" in roots:
        return True
    root_set = set(roots)
    return loc in root_set or any(a in root_set for a in _ancestors(loc))


def require_location(user, location: str) -> str:
    """The normalised location, or NotFound when the user may not see it (the same
    answer as for a location that does not exist, so nothing leaks)."""
    loc = norm_location(location)
    missing = NotFound(f"no dataset or folder {location!r} that you can see", code="location_not_found")
    if not location_visible(user, loc):
        raise missing
    if loc and not loc.startswith("gs://") and not user.is_staff:
        # a symlink inside a visible folder must not lead to data the user may not see
        storage = get_storage()
        real = storage.relative(storage.resolve(loc))
        if real != loc and not location_visible(user, real):
            raise missing
    return loc


def visible_knowledge_base_names(user, all_names: list[str], workspace=None) -> list[str]:
    """Knowledge bases (of ``workspace``, whose folder holds them) built by a job the user may see
    (staff: all)."""
    if user.is_staff:
        return list(all_names)
    jobs = visible_jobs(user).select_related(None).filter(kind="knowledgebase.build")
    if workspace is not None:  # rows without a workspace belong to their owner's default one
        jobs = jobs.filter(Q(workspace=workspace) | Q(workspace__isnull=True, owner=user))
    built = {(job.params or {}).get("name") for job in jobs.only("params")}
    return [n for n in all_names if n in built]


def own_api_keys(user) -> QuerySet[ApiKey]:
    """API keys a user manages in the app: only their own, even for staff."""
    return ApiKey.objects.filter(user=user).order_by("revoked", "-created_at")
