"""Column types (numbers, numbers with units, dates, categories, free text) and per-feature drift
with statistical tests chosen by sample size.

Drift method (after Evidently's defaults, ``evidently.calculations.stattests``): when the smaller
side has at most ``small_sample_max`` rows, a two-sample Kolmogorov-Smirnov test (numbers) or a
chi-squared test (categories), significant below ``p_value`` divided by the number of features
(Bonferroni), *and* an effect-size floor (KS statistic ``min_ks``, Cramér's V ``min_cramers_v``)
so a tiny shift in a large batch is not called drift. Above that size a p-value finds any
shift, so the test is a distance: the Wasserstein distance divided by the reference's
standard deviation (numbers, ``max_wasserstein``, 0.1 = a tenth of a standard deviation) and
the Jensen-Shannon distance of the category shares (``max_jensen_shannon``), each confirmed by
the KS / chi-squared test at the same corrected ``p_value`` (on a skewed money column the
normed distance passed 0.1 between two samples of one distribution).

Column types are read from the values: a text column whose values are >= 95% numbers is
numeric; >= 90% "number unit" (``12.3 kg``, ``5 %``, ``$ 20``) a number with a unit; >= 90%
dates in one format (ISO 8601, DD/MM/YYYY, MM/DD/YYYY, DD.MM.YYYY, ...) a date column with
that format. A column typed differently in the new batch and the reference is a type change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

UNIT = re.compile(
    r"^\s*(?P<pre>[$€£¥])?\s*(?P<num>[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)\s*(?P<unit>[A-Za-zµ°%][A-Za-z0-9/²³]*)?\s*$"
)
DATE_FORMATS = {
    "%Y-%m-%d": "YYYY-MM-DD (ISO 8601)",
    "%Y-%m-%d %H:%M:%S": "YYYY-MM-DD hh:mm:ss",
    "%Y-%m-%dT%H:%M:%S": "YYYY-MM-DDThh:mm:ss (ISO 8601)",
    "%d/%m/%Y": "DD/MM/YYYY",
    "%m/%d/%Y": "MM/DD/YYYY",
    "%d.%m.%Y": "DD.MM.YYYY",
    "%d-%m-%Y": "DD-MM-YYYY",
    "%Y/%m/%d": "YYYY/MM/DD",
    "%d %b %Y": "DD Mon YYYY",
    "%b %d, %Y": "Mon DD, YYYY",
}
TYPE_SAMPLE = 2000
CATEGORICAL_MAX_UNIQUE = 100


@dataclass
class ColumnType:
    kind: str  # numeric | number_with_unit | date | boolean | categorical | text | empty
    unit: str | None = None
    date_format: str | None = None  # strptime format, or "typed" for a datetime column
    written_as: str | None = None  # a typed date column read from text: how the file wrote it (strptime format)
    share: float = 1.0  # share of the sampled values that fit the kind
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.kind == "number_with_unit":
            return f"numbers with the unit {self.unit!r}"
        if self.kind == "date":
            if self.date_format == "typed":
                return f"dates as {_format_name(self.written_as)}" if self.written_as else "dates (typed)"
            return f"dates as {_format_name(self.date_format)}"
        return {"numeric": "numbers", "text": "free text"}.get(self.kind, self.kind)


def _strings(series: pd.Series) -> pd.Series:
    values = series.dropna()
    if len(values) > TYPE_SAMPLE:
        values = values.sample(TYPE_SAMPLE, random_state=0)
    return values.astype(str).str.strip()


def date_share(values: pd.Series, fmt: str) -> float:
    return float(pd.to_datetime(values, format=fmt, errors="coerce").notna().mean()) if len(values) else 0.0


def _format_name(fmt: str) -> str:
    if fmt in DATE_FORMATS:
        return DATE_FORMATS[fmt]
    return fmt.replace("%d", "DD").replace("%m", "MM").replace("%Y", "YYYY").replace("%y", "YY")


def column_type(series: pd.Series) -> ColumnType:
    """What a column holds, read from its values (a sample of 2,000)."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return ColumnType("date", date_format="typed")
    if pd.api.types.is_bool_dtype(series.dtype):
        return ColumnType("boolean")
    if pd.api.types.is_numeric_dtype(series.dtype):
        return ColumnType("numeric")
    values = _strings(series)
    values = values[values != ""]
    if values.empty:
        return ColumnType("empty")
    numeric = float(pd.to_numeric(values, errors="coerce").notna().mean())
    if numeric >= 0.95:
        return ColumnType("numeric", share=numeric)
    if values.str.contains(r"\d", regex=True).mean() >= 0.9:
        shares = {fmt: date_share(values, fmt) for fmt in DATE_FORMATS}
        best = max(shares, key=lambda f: shares[f])
        if shares[best] >= 0.9:
            col = ColumnType("date", date_format=best, share=shares[best])
            twin = {"%d/%m/%Y": "%m/%d/%Y", "%m/%d/%Y": "%d/%m/%Y"}.get(best)
            if twin and shares[twin] >= shares[best]:
                col.notes.append("day and month are ambiguous (no value has a day above 12): read as DD/MM/YYYY")
            return col
    match = values.str.extract(UNIT)
    has_unit = match["num"].notna() & (match["unit"].notna() | match["pre"].notna())
    if has_unit.mean() >= 0.9:
        units = match["unit"].fillna(match["pre"]).where(has_unit)
        return ColumnType("number_with_unit", unit=str(units.value_counts().index[0]), share=float(has_unit.mean()))
    unique = values.nunique()
    return ColumnType("categorical" if unique <= CATEGORICAL_MAX_UNIQUE else "text", share=1.0)


def parse_units(series: pd.Series) -> pd.Series:
    """The numbers of a "12.3 kg" column (units dropped, thousands separators removed); others NaN."""
    match = series.astype(str).str.extract(UNIT)
    return pd.to_numeric(match["num"].str.replace(",", "", regex=False), errors="coerce").where(series.notna())


def parse_dates(series: pd.Series, kind: ColumnType) -> pd.Series:
    if kind.date_format == "typed":
        return pd.to_datetime(series, errors="coerce", utc=True).dt.tz_localize(None)
    return pd.to_datetime(series.astype(str).str.strip(), format=kind.date_format, errors="coerce").where(
        series.notna()
    )


def type_changes(types_ref: dict[str, ColumnType], types_new: dict[str, ColumnType]) -> dict[str, dict]:
    """Columns typed differently on the two sides (date formats are the date check's business)."""
    changes = {}
    for col, ref in types_ref.items():
        new = types_new.get(col)
        if new is None or ref.kind == "empty" or new.kind == "empty":
            continue
        same = ref.kind == new.kind or {ref.kind, new.kind} <= {"categorical", "text"}
        if ref.kind == new.kind == "number_with_unit" and ref.unit != new.unit:
            same = False
        if not same:
            changes[col] = {"reference": ref.describe(), "dataset": new.describe()}
    return changes


# --- drift ---------------------------------------------------------------------------------


def _numeric_drift(ref: pd.Series, new: pd.Series, cfg: dict, tests: int) -> dict:
    from scipy.stats import ks_2samp, wasserstein_distance

    a, b = ref.dropna().to_numpy(float), new.dropna().to_numpy(float)
    if len(a) < 2 or len(b) < 2:
        return {"method": "none", "drifted": False, "score": None, "note": "fewer than two values on a side"}
    n = min(len(a), len(b))
    if n <= cfg["small_sample_max"]:
        stat, p = ks_2samp(a, b)
        return {
            "method": "Kolmogorov-Smirnov",
            "score": round(float(stat), 4),
            "p_value": float(f"{p:.3g}"),
            "drifted": bool(p < cfg["p_value"] / tests and stat >= cfg["min_ks"]),
        }
    scale = float(np.std(a)) or 1.0
    w = wasserstein_distance(a, b) / scale
    # The distance is the effect size; on skewed columns it wanders past 0.1 by chance, so the KS test
    # must agree that the two samples differ.
    _, p = ks_2samp(a, b)
    return {
        "method": "Wasserstein (normed)",
        "score": round(float(w), 4),
        "p_value": float(f"{p:.3g}"),
        "drifted": bool(w >= cfg["max_wasserstein"] and p < cfg["p_value"] / tests),
    }


def _categorical_drift(ref: pd.Series, new: pd.Series, cfg: dict, tests: int) -> dict:
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency

    a = ref.astype(str).where(ref.notna(), "\x00missing").value_counts()
    b = new.astype(str).where(new.notna(), "\x00missing").value_counts()
    cats = sorted(set(a.index) | set(b.index))
    table = np.array([[a.get(c, 0) for c in cats], [b.get(c, 0) for c in cats]], dtype=float)
    n = int(min(table[0].sum(), table[1].sum()))
    if len(cats) < 2:
        return {"method": "none", "drifted": False, "score": 0.0}
    if n <= cfg["small_sample_max"]:
        chi2, p, _, _ = chi2_contingency(table + 0.5)
        v = float(np.sqrt(chi2 / table.sum() / (min(table.shape) - 1)))
        return {
            "method": "chi-squared",
            "score": round(v, 4),
            "score_name": "Cramér's V",
            "p_value": float(f"{p:.3g}"),
            "drifted": bool(p < cfg["p_value"] / tests and v >= cfg["min_cramers_v"]),
        }
    js = float(jensenshannon(table[0] / table[0].sum(), table[1] / table[1].sum(), base=2))
    _, p, _, _ = chi2_contingency(table + 0.5)
    return {
        "method": "Jensen-Shannon",
        "score": round(js, 4),
        "p_value": float(f"{p:.3g}"),
        "drifted": bool(js >= cfg["max_jensen_shannon"] and p < cfg["p_value"] / tests),
    }


def feature_drift(
    ref: pd.DataFrame, new: pd.DataFrame, *, numeric: list[str], categorical: list[str], cfg: dict
) -> dict:
    """Per column: method, score, p-value (small samples) and whether it drifted."""
    tests = max(1, len(numeric) + len(categorical))
    columns = {}
    for col in numeric:
        columns[col] = _numeric_drift(
            pd.to_numeric(ref[col], errors="coerce"), pd.to_numeric(new[col], errors="coerce"), cfg, tests
        )
    for col in categorical:
        columns[col] = _categorical_drift(ref[col], new[col], cfg, tests)
    drifted = sorted(c for c, r in columns.items() if r["drifted"])
    scored = {c: r["score"] for c, r in columns.items() if r.get("score") is not None}
    top = max(scored, key=lambda c: scored[c] if columns[c]["drifted"] else scored[c] / 10, default=None)
    return {
        "drifted_columns": drifted,
        "max_drift_column": top,
        "max_drift_score": scored.get(top) if top else None,
        "columns": columns,
        "failing": len(drifted) > cfg["allowed_drifted_features"],
    }


def date_checks(ref: pd.Series | None, new: pd.Series, *, ref_type: ColumnType | None, new_type: ColumnType, cfg: dict):
    """A date column: format change, unreadable dates, dates outside the reference's range."""
    new_dates = parse_dates(new, new_type)
    out: dict = {
        "format": new_type.describe(),
        "unreadable": int((new.notna() & new_dates.isna()).sum()),
        "min": None if new_dates.dropna().empty else str(new_dates.min().date()),
        "max": None if new_dates.dropna().empty else str(new_dates.max().date()),
    }
    problems = []
    share_unreadable = out["unreadable"] / max(1, int(new.notna().sum()))
    out["unreadable_share"] = round(share_unreadable, 4)
    if ref is not None and ref_type is not None and ref_type.kind == "date":
        out["reference_format"] = ref_type.describe()
        ref_written = ref_type.written_as or ref_type.date_format
        new_written = new_type.written_as or new_type.date_format
        if ref_written != new_written and "typed" not in (ref_written, new_written):
            problems.append(f"format changed from {ref_type.describe()} to {new_type.describe()}")
        ref_dates = parse_dates(ref, ref_type).dropna()
        if len(ref_dates) and new_dates.notna().any():
            lo, hi = ref_dates.min(), ref_dates.max()
            span = max(hi - lo, pd.Timedelta(days=1))
            low, high = lo - cfg["range_margin"] * span, hi + cfg["range_margin"] * span
            outside = new_dates.notna() & ((new_dates < low) | (new_dates > high))
            out["outside_range"] = int(outside.sum())
            out["outside_range_share"] = round(float(outside.sum() / max(1, new_dates.notna().sum())), 4)
            out["allowed_range"] = [str(low.date()), str(high.date())]
            out["median_shift_days"] = round(float((new_dates.median() - ref_dates.median()).days), 1)
            if out["outside_range_share"] > cfg["max_outside_range"]:
                problems.append(
                    f"{out['outside_range']} dates outside {out['allowed_range'][0]} .. {out['allowed_range'][1]}"
                )
    if share_unreadable > cfg["max_unreadable"]:
        problems.append(f"{out['unreadable']} values are not dates in the column's format")
    out["problems"] = problems
    return out
