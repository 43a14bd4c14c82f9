"""The word-recall measure used on fax-like pages."""

from __future__ import annotations

from pipeline.samples.fax import text_tokens, word_recall


def test_latin_words_are_case_folded_and_single_letters_ignored() -> None:
    assert text_tokens("Door hinge, STEEL  x 29 pcs") == {"door": 1, "hinge": 1, "steel": 1, "29": 1, "pcs": 1}


def test_codes_stay_one_word_and_cjk_counts_by_character() -> None:
    assert text_tokens("DN-2026-044935 上海恒达") == {"dn-2026-044935": 1, "上": 1, "海": 1, "恒": 1, "达": 1}


def test_a_word_is_found_at_most_as_often_as_it_was_read() -> None:
    assert word_recall("pcs pcs pcs Göteborg", "PCS göteborg goteborg") == (2, 4)
    assert word_recall("", "anything") == (0, 0)
