"""Turning deepchecks results into a verdict, a JSON summary and an offline HTML page."""

from __future__ import annotations

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
    """One self-contained page: scripts (requirejs, plotly) are inlined, nothing is fetched."""
    from deepchecks.core.suite import SuiteResult

    suite_result = SuiteResult(title, results, extra_info=notes)
    suite_result.save_as_html(str(target), as_widget=False, connected=False)
