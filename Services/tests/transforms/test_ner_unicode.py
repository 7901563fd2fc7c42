"""NER tokens follow Unicode: word boundaries (UAX #29), grapheme clusters kept whole, span-aligned."""

from __future__ import annotations

import unicodedata

import pytest

from services_app.capabilities.transforms.job_types.ner import RowError, spans_to_bio, tokenize


def test_a_combining_accent_stays_with_its_letter():
    text = unicodedata.normalize("NFD", "José lives here")  # "e" + U+0301
    tokens, tags, spans = spans_to_bio(text, [{"start": 0, "end": 5, "label": "PER"}])
    assert tokens == [unicodedata.normalize("NFD", "José"), "lives", "here"]
    assert tags == ["B-PER", "O", "O"] and spans[0]["text"] == text[:5]


def test_a_hindi_word_is_one_token():
    text = "दिल्ली में बारिश"
    tokens, tags, _ = spans_to_bio(text, [{"start": 0, "end": 6, "label": "LOC"}])
    assert tokens == ["दिल्ली", "में", "बारिश"]
    assert tags == ["B-LOC", "O", "O"]


def test_an_emoji_zwj_sequence_is_one_token():
    family = "\U0001f469\u200d\U0001f469\u200d\U0001f467"
    assert [t for t, _, _ in tokenize(f"{family} family")] == [family, "family"]


def test_a_span_in_a_script_without_spaces_is_kept():
    tokens, tags, spans = spans_to_bio("独伊", [{"start": 0, "end": 1, "label": "LOC"}])
    assert tokens == ["独", "伊"] and tags == ["B-LOC", "O"] and spans[0]["text"] == "独"
    text = "東京都に住む"  # a span on 東京 inside the run of ideographs and kana
    tokens, tags, _ = spans_to_bio(text, [{"start": 0, "end": 2, "label": "LOC"}])
    assert tokens[:2] == ["東", "京"] and tags[:3] == ["B-LOC", "I-LOC", "O"]


def test_a_span_that_ends_inside_a_word_cuts_the_word_there():
    tokens, tags, _ = spans_to_bio("Berlinale opens", [{"start": 0, "end": 6, "label": "LOC"}])
    assert tokens == ["Berlin", "ale", "opens"] and tags == ["B-LOC", "O", "O"]


def test_a_span_inside_a_grapheme_cluster_is_refused_by_name():
    text = unicodedata.normalize("NFD", "José")
    with pytest.raises(RowError, match="cuts a character in two at offset 4"):
        spans_to_bio(text, [{"start": 0, "end": 4, "label": "PER"}])


def test_ascii_text_tokenizes_as_before():
    assert [t for t, _, _ in tokenize("Acme Corp hired Jane Doe.")] == ["Acme", "Corp", "hired", "Jane", "Doe", "."]
