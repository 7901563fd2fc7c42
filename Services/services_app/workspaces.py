"""Workspaces: which data a user may reach, and the storage that confines a request or a job to it.

Every location, upload, dataset, knowledge base, report and job belongs to a
workspace. A user reaches the workspaces they are a member of; staff reach
all. A request names its workspace with the ``X-Workspace`` header or the
``workspace`` query parameter; without one it uses the user's default
workspace (their membership marked default, else their only one, else a
personal workspace created on first use).

A workspace's storage is a `Storage` whose data root is the workspace's
folder (``<data root>/workspaces/<slug>/`` unless set otherwise) and whose
buckets are the workspace's buckets that are also on GCS_ALLOWED_BUCKETS.
Every existing confinement rule (no ``..``, no symlink out, the confined walk)
then holds per workspace, and names (knowledge bases, outputs, uploads) are
unique per workspace because each lives in its own folder. The workspace
whose folder is the data root itself (existing data, migrated) never sees
the ``workspaces/`` folder. The models root is shared by the deployment
(models come from the models bucket, synced by an operator).
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from .errors import NotFound, ServiceError
from .models import SLUG_PATTERN, Job, Membership, Workspace
from .storage import Storage

WORKSPACES_DIR = "workspaces"
HEADER = "HTTP_X_WORKSPACE"
ALL_BUCKETS = "*"

_storages: dict[tuple, Storage] = {}


# --- reads -------------------------------------------------------------------------------------------
def workspaces_for(user) -> QuerySet[Workspace]:
    """The workspaces ``user`` may reach: their memberships; staff reach all."""
    if user.is_staff:
        return Workspace.objects.all()
    return Workspace.objects.filter(memberships__user=user).distinct()


def workspace_get_for_user(*, user, slug: str) -> Workspace:
    """A workspace the user may reach, by slug, or 404 (the same answer whether it exists or not)."""
    found = workspaces_for(user).filter(slug=str(slug)).first()
    if found is None:
        raise NotFound(
            f"no workspace {slug!r} among yours; ask its owner to add you, or leave it out to use your default",
            code="workspace_not_found",
        )
    return found


def jobs_visible_to(user) -> QuerySet[Job]:
    """Jobs in the user's workspaces (staff: all). A job row without a workspace (made outside
    `job_submit`) belongs to its owner's default workspace and is shown to its owner only."""
    if user.is_staff:
        return Job.objects.all()
    return Job.objects.filter(
        Q(pk__in=Job.objects.filter(workspace__memberships__user=user).values("pk"))
        | Q(workspace__isnull=True, owner=user)
    )


# --- the workspace of a request ------------------------------------------------------------------------
def requested_slug(request) -> str | None:
    slug = request.META.get(HEADER) or request.GET.get("workspace")
    return slug.strip() if isinstance(slug, str) and slug.strip() else None


def request_workspace(request) -> Workspace:
    """The workspace a request acts in (cached on the request)."""
    cached = getattr(request, "_services_workspace", None)
    if cached is not None:
        return cached
    user = request.auth if getattr(request, "auth", None) is not None else request.user
    slug = requested_slug(request)
    workspace = workspace_get_for_user(user=user, slug=slug) if slug else default_workspace(user)
    request._services_workspace = workspace
    return workspace


def request_storage(request) -> Storage:
    """The storage of the request's workspace: every user-given location goes through it."""
    return workspace_storage(request_workspace(request))


def job_storage(job: Job) -> Storage:
    """The storage a job runs in (its workspace's)."""
    if job.workspace_id is None:  # a row made outside job_submit: its owner's default workspace
        return workspace_storage(default_workspace(job.owner))
    return workspace_storage(job.workspace)


def root_location(workspace: Workspace | None, location: str) -> str:
    """A location of ``workspace`` as a location of the whole data root (what the web app browses):
    ``parquet/a.parquet`` in workspace ``bob`` is ``workspaces/bob/parquet/a.parquet``."""
    if not isinstance(location, str) or workspace is None or not workspace.folder:
        return location
    if location.startswith("gs://") or location.startswith("/") or location.startswith("pipeline:"):
        return location
    return f"{workspace.folder.rstrip('/')}/{location.lstrip('./')}" if location not in ("", ".") else workspace.folder


def workspace_location(workspace: Workspace, location: str) -> str:
    """The inverse of `root_location`: a data-root location as a location of ``workspace``."""
    if not isinstance(location, str) or not workspace.folder or location.startswith("gs://"):
        return location
    prefix = workspace.folder.rstrip("/") + "/"
    return location[len(prefix) :] if location.startswith(prefix) else location


# --- storage -----------------------------------------------------------------------------------------
def workspace_root(workspace: Workspace) -> Path:
    return (Path(settings.DATA_ROOT) / workspace.folder).resolve() if workspace.folder else Path(settings.DATA_ROOT)


def workspace_buckets(workspace: Workspace) -> tuple[str, ...]:
    """The workspace's buckets that the deployment allows ("*": every allowed bucket), and the models bucket."""
    allowed = tuple(settings.GCS_ALLOWED_BUCKETS)
    wanted = list(workspace.buckets or [])
    if ALL_BUCKETS in wanted:
        return allowed
    # the models bucket serves the whole deployment (model sync), like the models root
    wanted.append(settings.GCS_MODELS_BUCKET)
    return tuple(dict.fromkeys(b for b in wanted if b in allowed))


def workspace_storage(workspace: Workspace) -> Storage:
    root = workspace_root(workspace)
    hidden = () if workspace.folder else (WORKSPACES_DIR,)
    remote = getattr(settings, "DATA_ROOT_REMOTE", None)
    key = (
        str(root),
        str(settings.MODELS_ROOT),
        workspace_buckets(workspace),
        hidden,
        settings.MAX_UPLOAD_BYTES,
        remote,
    )
    storage = _storages.get(key)
    if storage is None:
        storage = Storage(
            data_root=root,
            models_root=settings.MODELS_ROOT,
            allowed_buckets=key[2],
            max_upload_bytes=settings.MAX_UPLOAD_BYTES,
            hidden=hidden,
            remote_root=remote,
            remote_base=Path(settings.DATA_ROOT) if remote else None,
        )
        if len(_storages) > 256:
            _storages.clear()
        _storages[key] = storage
    return storage


# --- writes ------------------------------------------------------------------------------------------
def _check_slug(slug: str) -> str:
    if not re.match(SLUG_PATTERN, slug or ""):
        raise ServiceError(
            f"workspace name {slug!r}: use lower-case letters, digits and dashes (at most 63, starting with a "
            "letter or digit)",
            code="invalid_workspace",
        )
    return slug


def workspace_create(*, slug: str, name: str = "", buckets: list[str] | None = None, folder: str | None = None):
    """A new workspace with its folder under ``<data root>/workspaces/``."""
    _check_slug(slug)
    if folder is None:
        folder = f"{WORKSPACES_DIR}/{slug}"
    try:
        with transaction.atomic():
            workspace = Workspace.objects.create(slug=slug, name=name, folder=folder, buckets=list(buckets or []))
    except IntegrityError:
        raise ServiceError(f"a workspace {slug!r} already exists", code="workspace_exists", status=409) from None
    workspace_root(workspace).mkdir(parents=True, exist_ok=True)
    fence_workspaces_folder()
    return workspace


def fence_workspaces_folder() -> None:
    """Mark ``<data root>/workspaces/`` so that no folder walk from the data root enters it."""
    from .walk import FENCE

    folder = Path(settings.DATA_ROOT) / WORKSPACES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    fence = folder / FENCE.decode()
    if not fence.exists():
        fence.write_text("Each workspace's folder is reached only through its workspace.\n")


def workspace_add_member(*, workspace: Workspace, user, role: str = Membership.Role.MEMBER, default: bool = False):
    """Add ``user`` to ``workspace`` (or change their role); ``default`` makes it the user's default."""
    with transaction.atomic():
        membership, _ = Membership.objects.update_or_create(workspace=workspace, user=user, defaults={"role": role})
        if default or not Membership.objects.filter(user=user, is_default=True).exists():
            Membership.objects.filter(user=user, is_default=True).exclude(pk=membership.pk).update(is_default=False)
            membership.is_default = True
            membership.save(update_fields=["is_default"])
    return membership


def _personal_slug(user) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", str(user.get_username()).lower()).strip("-")[:50] or "user"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def default_workspace(user) -> Workspace:
    """The user's default workspace: their default membership, else their only one, else a personal one."""
    membership = Membership.objects.select_related("workspace").filter(user=user, is_default=True).first()
    if membership is not None:
        return membership.workspace
    memberships = list(Membership.objects.select_related("workspace").filter(user=user)[:2])
    if len(memberships) == 1:
        return memberships[0].workspace
    if memberships:
        raise ServiceError(
            "you are a member of several workspaces and none is your default: name one with the X-Workspace header "
            "or the workspace query parameter",
            code="workspace_required",
        )
    workspace = workspace_create(slug=_personal_slug(user), name=f"{user.get_username()}'s workspace")
    workspace_add_member(workspace=workspace, user=user, role=Membership.Role.OWNER, default=True)
    return workspace
