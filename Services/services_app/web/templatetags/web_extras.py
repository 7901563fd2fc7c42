"""Formatting filters of the web app's templates."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def duration(job) -> str:
    """How long a job ran (or has been running): '1 min 5 s', '' before it starts."""
    if not job.started_at:
        return ""
    end = job.finished_at or timezone.now()
    seconds = max(0, int((end - job.started_at).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.filter
def percent(value) -> str:
    try:
        return f"{float(value) * 100:.0f}%"
    except (TypeError, ValueError):
        return ""


@register.filter
def filesize(value) -> str:
    try:
        n = float(value)
    except (TypeError, ValueError):
        return ""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


@register.filter
def get(mapping, key):
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def cell(value) -> str:
    """A table cell: None shown as an empty marker, long text cut."""
    if value is None:
        return "∅"
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."


@register.simple_tag
def loc_query(location: str) -> str:
    return urlencode({"location": location})


@register.simple_tag
def output_query(job, location: str) -> str:
    """`loc_query` for an output of ``job``: its location is inside the job's workspace, the pages browse the
    whole data root (`workspaces.root_location`)."""
    from ...workspaces import root_location

    return loc_query(root_location(job.workspace, location))
