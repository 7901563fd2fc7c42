"""The checks computed here rather than by deepchecks, each a named step that returns its summary
entry (same shape as deepchecks' entries: id, stage, name, status, passed, value, conditions) and
fills per-row columns of the new batch.

Label issues, near-duplicates and coverage work on one numeric matrix per side (features.py);
column types, dates, feature drift, language, markup and empty texts on the values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import drift_stats, label_issues, near_duplicates, outliers, text_checks

# Checks that only make sense for class labels: "not applicable" on a continuous (regression) label.
CLASSIFICATION_ONLY = {
    "class_imbalance",
    "conflicting_labels",
    "new_label",
    "label_issues",
    "near_duplicate_conflicts",
    "string_mismatch_label",
}

NAMES = {
    "label_issues": "Label Issues (confident learning + neighbours)",
    "near_duplicates": "Near Duplicates",
    "near_duplicate_conflicts": "Near Duplicates With Conflicting Labels",
    "coverage": "Out-of-Coverage Rows (k-th neighbour distance)",
    "feature_drift": "Feature Drift",
    "column_types": "Column Type Changes",
    "date_columns": "Date Columns",
    "language_mix": "Language Mix",
    "markup": "Markup In Texts",
    "empty_texts": "Empty Texts",
}


def entry(
    check_id: str, stage: str, *, failing: bool | None, value: Any, condition: str, details: str, dataset: str
) -> dict:
    """A summary entry: ``failing`` None means report only (status info)."""
    status = "info" if failing is None else ("fail" if failing else "pass")
    conditions = [] if failing is None else [{"condition": condition, "status": status, "details": details}]
    return {
        "id": check_id,
        "stage": stage,
        "dataset": dataset,
        "name": NAMES.get(check_id, check_id),
        "status": status,
        "passed": not failing,
        "value": value,
        "conditions": conditions,
        "source": "services",
    }


def not_applicable(check_id: str, stage: str, name: str, reason: str) -> dict:
    return {
        "id": check_id,
        "stage": stage,
        "dataset": "dataset",
        "name": name,
        "status": "not_applicable",
        "passed": True,
        "value": None,
        "conditions": [],
        "reason": reason,
    }


def error_entry(check_id: str, stage: str, exc: Exception) -> dict:
    return {
        "id": check_id,
        "stage": stage,
        "dataset": "dataset",
        "name": NAMES.get(check_id, check_id),
        "status": "error",
        "passed": False,
        "value": None,
        "conditions": [],
        "error": f"{type(exc).__name__}: {exc}"[:500],
    }


@dataclass
class RowData:
    """What the row engines share: matrices (reduced), labels, texts, and per-row outputs of the new rows."""

    n_new: int
    X_new: np.ndarray | None = None
    X_ref: np.ndarray | None = None
    y_new: np.ndarray | None = None  # str labels, or None for a continuous label
    y_ref: np.ndarray | None = None
    vectors_new: np.ndarray | None = None  # unit-length embeddings (texts)
    vectors_ref: np.ndarray | None = None
    texts_new: pd.Series | None = None
    texts_ref: pd.Series | None = None  # every reference text (language, markup, empty)
    texts_ref_rows: pd.Series | None = None  # the reference texts the row engines use (aligned with X_ref)
    seed: int = 0
    rows: dict[str, Any] = field(default_factory=dict)  # per-row columns of the new batch
    issues: dict[str, np.ndarray] = field(default_factory=dict)  # issue name -> bool per new row
    neighbours: np.ndarray | None = None  # pooled rows x k indices (reference first)
    neighbour_k: int = 0
    reference_distances: np.ndarray | None = None  # reference rows x k: distances to their nearest other rows
    new_distances: np.ndarray | None = None  # new rows x k: distances to their nearest reference rows
    coverage: outliers.Coverage | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def neighbour_graph(self, k: int) -> np.ndarray | None:
        """Each pooled row's k nearest reference rows (the reference's own: the others); within the
        new batch when there is no reference."""
        if (self.neighbours is None or self.neighbour_k != k) and self.X_new is not None:
            self.neighbour_k = k
            if self.X_ref is None or len(self.X_ref) <= k:
                _, idx = outliers.nearest_neighbours(self.X_new, self.X_new, k=k, exclude_self=True)
                self.neighbours = idx
            else:
                # One search serves label issues (the neighbours' labels) and coverage (their distances).
                ref_d, ref_idx = outliers.nearest_neighbours(self.X_ref, self.X_ref, k=k, exclude_self=True)
                new_d, new_idx = outliers.nearest_neighbours(self.X_new, self.X_ref, k=k)
                self.neighbours = np.vstack([ref_idx, new_idx])
                self.reference_distances, self.new_distances = ref_d, new_d
        return self.neighbours


def run_label_issues(data: RowData, cfg: dict, *, tabular: bool) -> dict:
    stage = "integrity"
    k = int(cfg["k"])
    has_ref = data.X_ref is not None
    known_new = pd.notna(data.y_new)
    known_ref = pd.notna(data.y_ref) if has_ref else None
    everything = known_new.all() and (known_ref is None or known_ref.all())
    # Rows without a label are left out (and keep no score); the shared neighbour search only fits all rows.
    result = label_issues.find_label_issues(
        data.X_ref[known_ref] if has_ref else None,
        data.y_ref[known_ref].astype(str) if has_ref else None,
        data.X_new[known_new],
        data.y_new[known_new].astype(str),
        tabular=tabular,
        k=k,
        folds=int(cfg["folds"]),
        max_label_quality=cfg["max_label_quality"],
        max_neighbour_agreement=cfg["max_neighbour_agreement"],
        seed=data.seed,
        neighbours=data.neighbour_graph(k) if everything else None,
    )
    n = len(known_new)
    quality, suggested = np.full(n, np.nan), np.full(n, None, dtype=object)
    probability, flagged = np.full(n, np.nan), np.zeros(n, dtype=bool)
    quality[known_new], flagged[known_new] = result.quality, result.flagged
    suggested[known_new] = np.where(result.flagged, result.suggested, None)
    probability[known_new] = np.where(result.flagged, result.suggested_probability, np.nan)
    data.rows["label_quality"] = quality
    data.rows["suggested_label"] = suggested
    data.rows["suggested_label_probability"] = probability
    data.issues["label_issue"] = flagged
    if result.skipped:
        return entry(
            "label_issues",
            stage,
            failing=None,
            value={"skipped": result.skipped},
            condition="",
            details=f"not run: {result.skipped}",
            dataset="dataset",
        )
    rates = label_issues.compare_rates(
        result.flagged,
        data.y_new[known_new],
        result.reference_flagged if has_ref else None,
        data.y_ref[known_ref] if has_ref else None,
        max_excess=cfg["max_excess"],
        p_value=cfg["p_value"],
    )
    failing_classes = [c for c, r in rates["per_class"].items() if r["failing"]]
    failing = rates["overall"]["failing"] or bool(failing_classes)
    o = rates["overall"]
    value = {
        "flagged": o["flagged"],
        "share": o["share"],
        "reference_share": o["reference_share"],
        "failing_classes": failing_classes,
        "per_class": rates["per_class"],
        "models": result.models,
        "folds": result.folds,
        "classes_left_out": result.left_out,
    }
    left_out = (
        f"; rows of {', '.join(repr(c) for c in result.left_out)} left out (a class with one row cannot be "
        "cross-validated)"
        if result.left_out
        else ""
    )
    if not has_ref:
        return entry(
            "label_issues",
            stage,
            failing=None,
            value=value,
            condition="",
            details=f"{o['flagged']} likely label errors ({o['share']:.1%}); no reference to compare the rate with"
            + left_out,
            dataset="dataset",
        )
    details = (
        f"{o['flagged']} of {o['rows']} rows ({o['share']:.1%}) look mislabelled; the reference's own rate is "
        f"{o['reference_share']:.1%} (p={o['p_value']:g})"
        + (f"; classes above their reference rate: {', '.join(failing_classes)}" if failing_classes else "")
        + left_out
    )
    return entry(
        "label_issues",
        stage,
        failing=failing,
        value=value,
        condition=f"Likely label errors exceed the reference's rate by less than {cfg['max_excess']:.0%} "
        f"(or not significantly, p >= {cfg['p_value']:g})",
        details=details,
        dataset="reference vs dataset",
    )


def _chance_share(ref_share: float, n_ref: int, n_pool: int) -> float:
    """The share of new rows expected to have a near-duplicate partner by chance, from the reference's own
    share (rows with a partner among n_ref - 1 others), for a partner among n_pool - 1 rows."""
    if n_ref < 2 or ref_share <= 0:
        return 0.0
    per_pair = 1.0 - (1.0 - min(ref_share, 0.999)) ** (1.0 / (n_ref - 1))
    return float(1.0 - (1.0 - per_pair) ** (n_pool - 1))


def _ref_shares(set_id: np.ndarray, n_ref: int, labels: np.ndarray | None) -> tuple[float, float]:
    """(share of reference rows with another reference row in their set, share in a set whose reference
    rows carry more than one label)."""
    if n_ref < 2:
        return 0.0, 0.0
    ids = pd.Series(set_id[:n_ref])
    sizes = ids[ids >= 0].value_counts()
    paired = ids.isin(sizes.index[sizes > 1])
    conflict = 0.0
    if labels is not None:
        frame = pd.DataFrame({"set": ids, "label": labels[:n_ref]})[paired.to_numpy()]
        n_labels = frame.groupby("set")["label"].nunique()
        conflict = float(ids.isin(n_labels.index[n_labels > 1]).mean())
    return float(paired.mean()), conflict


def _duplicate_rates(set_id: np.ndarray, n_ref: int, ref_share: float) -> dict:
    """Two like-for-like comparisons with the reference's own rate (reference rows with another reference
    row in their set): new rows with a reference row in their set (about as many candidates, Fisher's exact
    test), and new rows with another new row in their set (binomial test against the reference's rate
    scaled to the batch's size)."""
    from scipy.stats import binomtest, fisher_exact

    ids = pd.Series(set_id)
    ref_ids, new_ids = ids.iloc[:n_ref], ids.iloc[n_ref:]
    ref_count = ref_ids[ref_ids >= 0].value_counts()
    new_count = new_ids[new_ids >= 0].value_counts()
    n_new = len(new_ids)
    cross = int(new_ids.isin(ref_count.index).sum())
    within = int(new_ids.isin(new_count.index[new_count > 1]).sum())
    ref_hits = int(round(ref_share * n_ref))
    out = {}
    p = fisher_exact([[cross, n_new - cross], [ref_hits, n_ref - ref_hits]], alternative="greater").pvalue
    out["into_reference"] = {
        "rows": cross,
        "share": round(cross / max(1, n_new), 4),
        "excess": round(cross / max(1, n_new) - ref_share, 4),
        "p_value": float(f"{p:.3g}"),
    }
    expected = _chance_share(ref_share, n_ref, n_new) if n_ref else 0.0
    p = binomtest(within, n_new, min(max(expected, 1e-6), 1 - 1e-6), alternative="greater").pvalue if n_new else 1.0
    out["within_new"] = {
        "rows": within,
        "share": round(within / max(1, n_new), 4),
        "expected_share": round(expected, 4),
        "excess": round(within / max(1, n_new) - expected, 4),
        "p_value": float(f"{p:.3g}"),
    }
    out["expected_within_new"] = expected
    return out


def run_near_duplicates(
    data: RowData, cfg_dup: dict, cfg_conf: dict | None, sets: near_duplicates.DuplicateSets
) -> list[dict]:
    """Rows in near-duplicate sets, and sets with conflicting labels, against the reference's own
    near-duplicates (templates, boilerplate and coarse features make some by chance)."""
    labels = None
    if data.y_new is not None:
        labels = np.concatenate([data.y_ref, data.y_new]) if sets.n_ref and data.y_ref is not None else data.y_new
    summary = near_duplicates.summarise(sets, labels)
    conflict_rows = summary.pop("_conflict_rows")
    new_ids = sets.set_id[sets.n_ref :]
    data.rows["duplicate_set"] = np.where(new_ids >= 0, new_ids, -1)
    in_ref_set = np.zeros(len(new_ids), dtype=bool)
    if sets.n_ref:
        ref_ids = sets.set_id[: sets.n_ref]
        in_ref_set = np.isin(new_ids, np.unique(ref_ids[ref_ids >= 0])) & (new_ids >= 0)
    data.rows["duplicate_of_reference"] = in_ref_set
    data.issues["near_duplicate"] = new_ids >= 0
    data.issues["conflicting_near_duplicate"] = conflict_rows
    n_pool = len(sets.set_id)
    ref_share, ref_conflict = _ref_shares(sets.set_id, sets.n_ref, labels)
    rates = _duplicate_rates(sets.set_id, sets.n_ref, ref_share)
    share = summary["share_in_sets"]
    failing = (
        any(
            r["excess"] >= cfg_dup["max_excess"] and r["p_value"] < cfg_dup.get("p_value", 0.001)
            for r in (rates["into_reference"], rates["within_new"])
        )
        if sets.n_ref
        else share > cfg_dup["max_excess"]
    )
    value = {k: v for k, v in summary.items() if not k.startswith("conflict")}
    value.update(reference_share=round(ref_share, 4), **{k: v for k, v in rates.items() if k != "expected_within_new"})
    out = [
        entry(
            "near_duplicates",
            "integrity",
            failing=failing,
            value=value,
            condition="New rows with a near-duplicate in the reference, or in the batch itself, exceed the "
            f"reference's own share by less than {cfg_dup['max_excess']:.0%} (or not significantly)",
            details=f"{summary['rows_in_sets']} rows ({share:.1%}) in "
            f"{summary['sets']} near-duplicate sets ({summary['sets_with_reference_rows']} reaching into the "
            f"reference); {summary['method']}",
            dataset="dataset" if not sets.n_ref else "dataset (and reference rows)",
        )
    ]
    if cfg_conf is not None:
        expected_conflict = _chance_share(ref_conflict, sets.n_ref, n_pool)
        failing = summary["conflicting_share"] > expected_conflict + cfg_conf["max_excess"]
        out.append(
            entry(
                "near_duplicate_conflicts",
                "integrity",
                failing=failing,
                value={
                    "conflicting_sets": summary["conflicting_sets"],
                    "rows": summary["rows_in_conflicting_sets"],
                    "share": summary["conflicting_share"],
                    "reference_share": round(ref_conflict, 4),
                    "expected_share": round(expected_conflict, 4),
                },
                condition="Share of rows in near-duplicate sets with different labels exceeds what the reference's "
                f"own make expected by at most {cfg_conf['max_excess']:.1%}",
                details=f"{summary['rows_in_conflicting_sets']} rows ({summary['conflicting_share']:.1%}) in "
                f"{summary['conflicting_sets']} near-duplicate sets whose labels disagree; expected by chance "
                f"{expected_conflict:.1%}",
                dataset="dataset",
            )
        )
    return out


def run_coverage(data: RowData, cfg: dict) -> dict:
    k = int(cfg["k"])
    if len(data.X_ref) > k:
        data.neighbour_graph(k)  # shared with label issues when both ask for the same k
    cov = outliers.coverage(
        data.X_ref, data.X_new, k=k, seed=data.seed, distances=(data.reference_distances, data.new_distances)
    )
    data.coverage = cov
    data.rows["outlier_score"] = cov.scores
    data.issues["outlier"] = cov.scores >= 0.99
    verdict = outliers.coverage_verdict(
        cov.scores, quantile=cfg["quantile"], max_excess=cfg["max_excess"], p_value=cfg["p_value"]
    )
    failing = verdict.pop("failing")
    verdict.update(k=cov.k, reference_rows=cov.reference_rows)
    return entry(
        "coverage",
        "drift",
        failing=failing,
        value=verdict,
        condition=f"Rows beyond the reference's {cfg['quantile']:.0%} k-th neighbour distance exceed the expected "
        f"{1 - cfg['quantile']:.0%} by less than {cfg['max_excess']:.0%} (or not significantly)",
        details=f"{verdict['out_of_coverage']} rows ({verdict['share']:.1%}, expected {verdict['expected_share']:.0%}) "
        f"lie farther from the reference than {cfg['quantile']:.0%} of reference rows lie from each other; "
        f"{verdict['outliers_beyond_q99']} beyond its 99th percentile",
        dataset="reference vs dataset",
    )


def run_feature_drift(ref: pd.DataFrame, new: pd.DataFrame, numeric: list[str], cats: list[str], cfg: dict) -> dict:
    result = drift_stats.feature_drift(ref, new, numeric=numeric, categorical=cats, cfg=cfg)
    failing = result.pop("failing")
    drifted = result["drifted_columns"]
    cols = result["columns"]
    described = "; ".join(
        f"{c}: {cols[c]['method']} {cols[c].get('score_name', 'score')} {cols[c]['score']}"
        + (f" (p={cols[c]['p_value']:g})" if "p_value" in cols[c] else "")
        for c in drifted
    )
    return entry(
        "feature_drift",
        "drift",
        failing=failing,
        value=result,
        condition=f"Number of drifted features (drift score by sample size: KS / chi-squared below "
        f"{cfg['small_sample_max']} rows, Wasserstein / Jensen-Shannon above) is at most "
        f"{cfg['allowed_drifted_features']}",
        details=(f"Drifted: {described}" if drifted else f"No drift in {len(cols)} features"),
        dataset="reference vs dataset",
    )


def run_column_types(changes: dict[str, dict]) -> dict:
    return entry(
        "column_types",
        "drift",
        failing=bool(changes),
        value={"changed": changes},
        condition="Every column holds the same kind of values as in the reference",
        details="; ".join(f"{c}: {v['reference']} in the reference, {v['dataset']} now" for c, v in changes.items())
        or "No column changed its type",
        dataset="reference vs dataset",
    )


def run_date_columns(results: dict[str, dict]) -> dict:
    failing = {c: r["problems"] for c, r in results.items() if r["problems"]}
    return entry(
        "date_columns",
        "drift",
        failing=bool(failing),
        value={"columns": results},
        condition="Date columns keep their format and range, and every value reads as a date",
        details="; ".join(f"{c}: {', '.join(p)}" for c, p in failing.items())
        or f"{len(results)} date columns checked: format and range as in the reference",
        dataset="reference vs dataset",
    )


def run_language_mix(ref_texts: pd.Series | None, new_texts: pd.Series, cfg: dict, seed: int) -> dict:
    result = text_checks.language_mix(ref_texts, new_texts, cfg=cfg, seed=seed)
    failing = result.pop("failing") if ref_texts is not None else None
    grown = result["grown"]
    return entry(
        "language_mix",
        "drift",
        failing=failing,
        value=result,
        condition=f"No language's share grows by {cfg['max_share_increase']:.0%} or more",
        details="; ".join(
            f"{g['language']}: {g['share']:.0%} of texts (reference {g['reference_share']:.0%})" for g in grown
        )
        or f"Languages as in the reference: {result.get('dataset')}",
        dataset="reference vs dataset",
    )


def run_share_check(
    check_id: str, new_rows: np.ndarray, ref_rows: np.ndarray | None, cfg: dict, what: str, data: RowData, issue: str
) -> dict:
    data.issues[issue] = new_rows
    result = text_checks.share_check(new_rows, ref_rows, max_ratio=cfg["max_ratio"])
    failing = result.pop("failing")
    ref = "" if result["reference_share"] is None else f" (reference {result['reference_share']:.1%})"
    return entry(
        check_id,
        "integrity",
        failing=failing,
        value=result,
        condition=f"Share of {what} exceeds the reference's by at most {cfg['max_ratio']:.1%}",
        details=f"{result['rows']} {what} ({result['share']:.1%}){ref}",
        dataset="dataset",
    )


def timed(data: RowData, name: str, fn, *args, **kwargs):
    mark = time.monotonic()
    try:
        return fn(*args, **kwargs)
    finally:
        data.timings[name] = round(time.monotonic() - mark, 2)
