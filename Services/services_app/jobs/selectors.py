"""Reads of jobs, scoped to what a user may see."""

from __future__ import annotations

from django.db.models import QuerySet

from ..models import Job
from ..workspaces import jobs_visible_to


def job_list(*, user, kind: str | None = None, status: str | None = None, workspace=None) -> QuerySet[Job]:
    """Jobs in the user's workspaces (staff: all), or in ``workspace`` only."""
    qs = jobs_visible_to(user)
    if workspace is not None:
        qs = qs.filter(workspace=workspace)
    qs = qs.filter(parent__isnull=True)  # batches show through their parent's progress and result
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at")
