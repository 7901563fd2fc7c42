"""The dataset card (README.md) written beside the splits."""

from __future__ import annotations

from typing import Any


def _table(rows: list[list[Any]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def dataset_card(
    *,
    title: str,
    job_type: dict,
    params: dict,
    stats: dict,
    label_map: dict | None,
    schema: list[dict],
    files: list[dict],
) -> str:
    splits = stats["splits"]
    out = [f"# {title}", "", f"Job type: **{job_type['title']}** (`{job_type['name']}`). {job_type['description']}", ""]
    out += [
        "## Source",
        "",
        f"- location: `{params['source']}`",
        f"- rows read: {stats['rows_in']}",
        f"- text columns: {', '.join(params['text_columns']) or '-'} (joined with {params['text_separator']!r})",
    ]
    if params.get("label_columns"):
        delim = f" (delimiter {params['label_delimiter']!r})" if params.get("label_delimiter") else ""
        out.append(f"- label columns: {', '.join(params['label_columns'])}{delim}")
    for key in ("spans_column", "tokens_column", "tags_column", "id_column"):
        if params.get(key):
            out.append(f"- {key.replace('_', ' ')}: {params[key]}")
    out += [
        "",
        "## Splits",
        "",
        f"Each row's split is decided by a SipHash of its {'`' + params['id_column'] + '` value' if params.get('id_column') else 'normalised text'}"
        f" keyed with seed {params['seed']}" + (", stratified by label" if stats["stratified"] else "") + ".",
        "",
    ]
    rows = [[name, s["rows"], f"{params['splits'][name]:g}"] for name, s in splits.items()]
    out += [_table(rows, ["split", "rows", "fraction asked"]), ""]
    dropped = stats["dropped"]
    out += [
        "## Cleaning",
        "",
        f"- deduplicate: {params['deduplicate']}, drop empty: {params['drop_empty']},"
        f" min text length: {params['min_text_length']}",
    ]
    if dropped:
        out += ["- dropped rows:"] + [f"  - {reason}: {count}" for reason, count in dropped.items()]
    else:
        out.append("- no rows dropped")
    if label_map:
        counts = {name: s.get("label_counts") or {} for name, s in splits.items()}
        names = label_map.get("labels") or label_map.get("tags") or []
        key = "entity" if "entities" in label_map else "label"
        if "entities" in label_map:
            names = label_map["entities"]
        out += [
            "",
            "## Labels",
            "",
            _table([[n, *[counts[s].get(n, 0) for s in splits]] for n in names], [key, *splits.keys()]),
        ]
    lengths = stats.get("text_length", {})
    if lengths:
        out += [
            "",
            "## Text length (characters)",
            "",
            _table([[k, v] for k, v in lengths.get("chars", {}).items()], ["statistic", "value"]),
        ]
    out += [
        "",
        "## Columns",
        "",
        _table([[c["name"], c["type"], c["role"]] for c in schema], ["column", "type", "role"]),
    ]
    out += [
        "",
        "## Files",
        "",
        _table([[f["name"], f.get("rows", ""), f["bytes"]] for f in files], ["file", "rows", "bytes"]),
    ]
    if stats.get("warnings"):
        out += ["", "## Warnings", ""] + [f"- {w}" for w in stats["warnings"]]
    return "\n".join(out) + "\n"
