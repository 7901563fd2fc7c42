"""Reads of jobs, scoped to what a user may see."""

from __future__ import annotations

from django.db.models import QuerySet

from ..models import Job


def job_list(*, user, kind: str | None = None, status: str | None = None) -> QuerySet[Job]:
    qs = Job.objects.all() if user.is_staff else Job.objects.filter(owner=user)
    qs = qs.filter(parent__isnull=True)  # batches show through their parent's progress and result
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at")
