"""Small server-rendered SVG charts: numbers in, coordinates out (the template draws them)."""

from __future__ import annotations

WIDTH, HEIGHT, PAD = 560, 160, 28


def check_score(result: dict | None) -> float | None:
    """Share of a check run's checks that passed (0..1); None when the run has no checks."""
    checks = (result or {}).get("checks") or []
    judged = [c for c in checks if c.get("status") != "info"]
    if not judged:
        return None
    return sum(1 for c in judged if c.get("passed")) / len(judged)


def line_chart(points: list[dict], *, key: str = "score") -> dict:
    """Coordinates of a 0..1 line chart over runs in time order: ``points`` are dicts with ``key``.

    Runs without a value are left out of the line (and listed as such by the page)."""
    usable = [(i, p) for i, p in enumerate(points) if p.get(key) is not None]
    n = max(len(points) - 1, 1)
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    marks = []
    for i, p in usable:
        x = PAD + plot_w * (i / n if len(points) > 1 else 0.5)
        y = PAD + plot_h * (1 - float(p[key]))
        marks.append({"x": round(x, 1), "y": round(y, 1), "value": p[key], "passed": p.get("passed"), "point": p})
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "pad": PAD,
        "bottom": HEIGHT - PAD,
        "right": WIDTH - PAD,
        "mid": PAD + plot_h / 2,
        "polyline": " ".join(f"{m['x']},{m['y']}" for m in marks),
        "marks": marks,
    }


def pipeline_chart(runs: list) -> dict | None:
    """Share of a pipeline's model tests that passed, per run, oldest first; None without runs."""
    points = []
    for job in runs:
        checks = (job.result or {}).get("checks") or []
        score = sum(1 for c in checks if c.get("passed")) / len(checks) if checks else None
        points.append({"score": score, "passed": (job.result or {}).get("passed"), "job": job})
    if not any(p["score"] is not None for p in points):
        return None
    return line_chart(points)
