"""Turning deepchecks results into a verdict, a JSON summary and an offline HTML page."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from .suites import CheckSpec, jsonable


def check_entry(spec: CheckSpec, result: Any, dataset: str) -> dict:
    """One check's line in the summary: passed, measured value, the condition that judged it."""
    from deepchecks.core import CheckFailure, ConditionCategory

    entry: dict[str, Any] = {"id": spec.id, "stage": spec.stage, "dataset": dataset}
    if isinstance(result, CheckFailure):
        entry.update(
            name=result.header,
            status="error",
            passed=False,
            value=None,
            conditions=[],
            error=str(result.exception)[:500],
        )
        return entry
    conditions = []
    worst = "pass"
    for cond in result.conditions_results:
        category = cond.category
        status = {
            ConditionCategory.PASS: "pass",
            # deepchecks grades some conditions "warn"; here a threshold the
            # user set (or accepted) was crossed, so the gate fails.
            ConditionCategory.WARN: "fail",
            ConditionCategory.FAIL: "fail",
            ConditionCategory.ERROR: "error",
        }[category]
        conditions.append({"condition": cond.name, "status": status, "details": _plain(cond.details)})
        if status in ("fail", "error"):
            worst = status
        elif status == "warn" and worst == "pass":
            worst = "warn"
    try:
        measured = jsonable(spec.measure(result.value))
    except Exception:  # noqa: BLE001 - a value shape we did not expect must not lose the verdict
        measured = None
    entry.update(
        name=result.get_header(),
        status=worst if conditions else "info",
        passed=worst not in ("fail", "error"),
        value=measured,
        conditions=conditions,
    )
    return entry


def _plain(text: str) -> str:
    return re.sub(r"<[^>]+>", "", str(text or ""))[:1000]


def save_html(results: list[Any], *, title: str, notes: list[str], target: Path) -> None:
    """One self-contained page: scripts (requirejs, plotly) are inlined, nothing is fetched.

    Every value of the checked data that lands in a table is escaped first: deepchecks renders its
    tables through pandas' Styler, which writes cell values as raw HTML, so a cell holding
    ``<script>`` would run in the page. The API also serves the page under a sandboxing
    Content-Security-Policy (see `services_app.api.reports`)."""
    from deepchecks.core.suite import SuiteResult

    for result in results:
        _escape_display(result)
    suite_result = SuiteResult(title, results, extra_info=[html.escape(n) for n in notes])
    suite_result.save_as_html(str(target), as_widget=False, connected=False)


def _escape_frame(df):
    """A copy of ``df`` whose string cells, column names and index labels are HTML-escaped."""
    import pandas as pd

    def esc(v):
        return html.escape(v) if isinstance(v, str) else v

    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = out[col].map(esc)
    out.columns = out.columns.map(lambda c: esc(c) if not isinstance(c, tuple) else tuple(esc(x) for x in c))
    out.index = out.index.map(lambda c: esc(c) if not isinstance(c, tuple) else tuple(esc(x) for x in c))
    return out


def _escape_display(result: Any) -> None:
    """Escape the tables (DataFrames and Stylers) a check result displays, and its header, in place."""
    import pandas as pd
    from pandas.io.formats.style import Styler

    header = getattr(result, "header", None)
    if isinstance(header, str):
        try:
            result.header = html.escape(header, quote=False)
        except AttributeError:
            pass
    display = getattr(result, "display", None)
    if not isinstance(display, list):
        return
    for i, item in enumerate(display):
        try:
            if isinstance(item, pd.DataFrame):
                display[i] = _escape_frame(item)
            elif isinstance(item, Styler):
                escaped = _escape_frame(item.data)
                item.data = escaped
                item.index, item.columns = escaped.index, escaped.columns
        except Exception:  # noqa: BLE001 - a table we cannot rewrite is dropped rather than shown raw
            display[i] = "<p>(a table of this check was left out: its values could not be escaped)</p>"
