"""Text properties computed here, vectorised, instead of deepchecks' built-ins.

deepchecks' `calculate_builtin_properties` loads a fasttext language model and
NLTK data from the internet and runs per text in Python; these are computed
with pandas string methods over the whole column and need nothing offline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WORD = r"[^\W_]+(?:['’-][^\W_]+)*"
URL = r"https?://\S+|www\.\S+"
SENTENCE_END = r"[.!?]+(?:\s|$)"


def text_properties(texts: pd.Series) -> pd.DataFrame:
    s = texts.fillna("").astype(str)
    length = s.str.len()
    safe_len = length.replace(0, np.nan)
    words = s.str.findall(WORD)
    word_count = words.str.len()
    safe_words = word_count.replace(0, np.nan)
    word_lengths = words.map(lambda ws: [len(w) for w in ws])
    sentences = s.str.count(SENTENCE_END).clip(lower=1).where(length > 0, 0)
    props = pd.DataFrame(
        {
            "Text Length": length.astype(float),
            "Word Count": word_count.astype(float),
            "Average Word Length": word_lengths.map(lambda ls: float(np.mean(ls)) if ls else np.nan),
            "Max Word Length": word_lengths.map(lambda ls: float(max(ls)) if ls else np.nan),
            "% Special Characters": s.str.count(r"[^\w\s]") / safe_len,
            "% Uppercase": s.str.count(r"[A-Z]") / safe_len,
            "% Digits": s.str.count(r"\d") / safe_len,
            "Lexical Density": words.map(lambda ws: len({w.lower() for w in ws})) / safe_words,
            "Sentences Count": sentences.astype(float),
            "Average Words Per Sentence": word_count / sentences.replace(0, np.nan),
            "URLs Count": s.str.count(URL).astype(float),
        },
        index=texts.index,
    )
    return props.astype(float)
