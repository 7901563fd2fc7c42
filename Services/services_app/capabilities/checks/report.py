"""Turning check results into a verdict, the problems in plain words, a JSON summary and an offline HTML page."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pandas as pd

# What each check's failure means, in plain words; {n} is filled with the rows concerned where known.
PLAIN = {
    "label_issues": "Likely wrong labels: {n} rows whose label the models and the neighbours contradict",
    "near_duplicates": "Near-duplicates: {n} rows are near copies of other rows",
    "near_duplicate_conflicts": "Near-duplicates with different labels: {n} rows",
    "coverage": "Rows unlike the reference (a new cluster, topic or outliers): {n} rows",
    "feature_drift": "Columns whose distribution changed",
    "column_types": "Columns whose type changed (e.g. numbers arriving as text with units)",
    "date_columns": "Date columns with a new format, unreadable dates or dates out of range",
    "language_mix": "A language that is new or much more frequent than in the reference",
    "markup": "Texts with HTML/XML markup: {n} rows",
    "empty_texts": "Empty texts: {n} rows",
    "embedding_drift": "The meaning of the texts drifted (whole-batch embedding classifier)",
    "label_drift": "The share of each label changed",
    "property_drift": "Text properties (length, characters, ...) drifted",
    "property_outliers": "Texts with unusual properties (length, characters, ...)",
    "text_duplicates": "Exact duplicate texts",
    "data_duplicates": "Duplicate rows",
    "conflicting_labels": "Identical rows or texts with different labels",
    "mixed_data_types": "Columns mixing numbers and strings",
    "mixed_nulls": "Columns with several kinds of missing value",
    "percent_of_nulls": "Columns with many missing values",
    "is_single_value": "Columns with a single value",
    "special_characters": "Values made of special characters",
    "new_label": "Labels that the reference does not have",
    "new_category": "Categories that the reference does not have",
    "multivariate_drift": "The rows as a whole drifted (domain classifier)",
    "train_test_samples_mix": "Rows that also appear in the reference",
}
ROW_ISSUE = {
    "label_issues": "label_issue",
    "near_duplicates": "near_duplicate",
    "near_duplicate_conflicts": "conflicting_near_duplicate",
    "coverage": "outlier",
    "markup": "markup",
    "empty_texts": "empty_text",
}


def describe_problems(entries: list[dict], rows: pd.DataFrame | None = None) -> list[dict]:
    """One line per failed check, in plain words: what, how many rows, which check."""
    problems = []
    for e in entries:
        if e["passed"]:
            continue
        value = e.get("value") if isinstance(e.get("value"), dict) else {}
        n = value.get("flagged", value.get("rows_in_sets", value.get("out_of_coverage", value.get("rows"))))
        if e["id"] == "coverage":
            n = value.get("out_of_coverage")
        text = PLAIN.get(e["id"], e.get("name") or e["id"])
        if e["status"] == "error":
            text = f"The check {e['id']} could not run: {e.get('error', '')}"
        what = text.format(n=n if n is not None else "some")
        details = "; ".join(c["details"] for c in e.get("conditions", []) if c["status"] != "pass")[:400]
        problems.append(
            {
                "check": e["id"],
                "what": what,
                "rows": n if isinstance(n, int) else None,
                "details": details,
                "row_issue": ROW_ISSUE.get(e["id"]),
            }
        )
    return problems


def problems_html(problems: list[dict], entries: list[dict], exports: dict | None) -> str:
    """The block at the top of the report: the verdict, each problem in plain words, our checks' results,
    and links to the per-row results."""
    esc = html.escape
    verdict = "FAILED" if problems else "PASSED"
    parts = [
        '<section id="services-summary" style="font-family:sans-serif;margin:16px;padding:12px;'
        f'border:2px solid {"#c0392b" if problems else "#27ae60"}">',
        f"<h2>Verdict: {verdict}</h2>",
    ]
    if problems:
        parts.append("<ol>")
        for pr in problems:
            parts.append(
                f"<li><b>{esc(pr['what'])}</b> (check <code>{esc(pr['check'])}</code>)"
                f"<br><small>{esc(pr['details'])}</small></li>"
            )
        parts.append("</ol>")
    else:
        parts.append("<p>No check found a problem.</p>")
    if exports:
        parts.append(
            "<p>Per-row results: "
            '<a href="exports/fix_first.csv">fix first (CSV)</a> · '
            '<a href="exports/label_studio.json">Label Studio import (JSON)</a> · '
            '<a href="exports/rows.parquet">every row (Parquet)</a>'
            f" ({exports.get('fix_first_rows', 0)} rows to fix first)</p>"
        )
    own = [e for e in entries if e.get("source") == "services" or e["status"] == "not_applicable"]
    if own:
        parts.append(
            "<table border=1 cellpadding=4 style='border-collapse:collapse'><tr><th>check</th><th>result</th>"
            "<th>details</th></tr>"
        )
        for e in own:
            details = (
                "; ".join(c["details"] for c in e.get("conditions", [])) or e.get("reason") or e.get("error") or ""
            )
            parts.append(
                f"<tr><td>{esc(e['name'])} (<code>{esc(e['id'])}</code>)</td><td>{esc(e['status'].upper())}</td>"
                f"<td>{esc(details[:600])}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</section>")
    return "".join(parts)


def check_entry(spec, result: Any, dataset: str) -> dict:
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
    from .suites import jsonable

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


def save_html(
    results: list[Any],
    *,
    title: str,
    notes: list[str],
    target: Path,
    problems: list[dict] | None = None,
    entries: list[dict] | None = None,
    exports: dict | None = None,
) -> None:
    """One self-contained page: scripts (requirejs, plotly) are inlined, nothing is fetched. The problems in
    plain words and our checks come first (escaped), then deepchecks' own pages.

    Every value of the checked data that lands in a table is escaped first: deepchecks renders its
    tables through pandas' Styler, which writes cell values as raw HTML, so a cell holding
    ``<script>`` would run in the page. The API also serves the page under a sandboxing
    Content-Security-Policy (see `services_app.api.reports`)."""
    from deepchecks.core.suite import SuiteResult

    for result in results:
        _escape_display(result)
    suite_result = SuiteResult(title, results, extra_info=[html.escape(n) for n in notes])
    suite_result.save_as_html(str(target), as_widget=False, connected=False)
    if problems is None and entries is None:
        return
    page = target.read_text(encoding="utf-8")
    block = problems_html(problems or [], entries or [], exports)
    match = re.search(r"<body[^>]*>", page)
    at = match.end() if match else 0
    target.write_text(page[:at] + block + page[at:], encoding="utf-8")


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
