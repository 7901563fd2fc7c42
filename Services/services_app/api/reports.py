"""How the API serves HTML built from user data (the checks report, pipeline reports).

Such a page holds values from datasets a user uploaded. Escaping those values
is the first defence (see `capabilities/checks/report.py`); this header is the
second. ``sandbox allow-scripts`` without ``allow-same-origin`` runs the page
in an opaque origin: its scripts (the report's charts) work, but they cannot
read the API's cookies or storage, cannot call the API with the viewer's
credentials, cannot open pop-ups, dialogs or forms, and cannot navigate the
top window. ``connect-src 'none'`` and ``default-src 'none'`` keep it from
sending anything anywhere; images and fonts load only from ``data:`` URLs
(the report inlines everything it needs).
"""

from __future__ import annotations

from django.http import HttpResponse

REPORT_CSP = "; ".join(
    [
        "sandbox allow-scripts",
        "default-src 'none'",
        "script-src 'unsafe-inline' 'unsafe-eval'",
        "style-src 'unsafe-inline'",
        "img-src data: blob:",
        "font-src data:",
        "connect-src 'none'",
        "frame-src 'none'",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


def sandboxed_html(response: HttpResponse, *, download_name: str | None = None) -> HttpResponse:
    """``response`` with the report sandbox headers (and as an attachment when ``download_name``)."""
    response["Content-Security-Policy"] = REPORT_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    response["Cross-Origin-Opener-Policy"] = "same-origin"
    response["Cache-Control"] = "private, no-store"
    if download_name:
        response["Content-Disposition"] = f'attachment; filename="{download_name}"'
    return response
