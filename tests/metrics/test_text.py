"""Caption metrics against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from polymodal.errors import PolymodalError
from polymodal.metrics.text import bleu, caption_metrics, cider_d, exact_match, words


def test_words_split_punctuation_and_lowercase():
    assert words("Flag: United  States!") == ["flag", ":", "united", "states", "!"]


def test_bleu_single_sentence_by_hand():
    # 1-grams 5/6 (one "sat" unmatched), 2-grams 3/5, 3-grams 1/4, 4-grams 0/3; equal lengths: no penalty
    out = bleu(["the cat sat on the mat"], [["the cat is on the mat"]])
    assert out["bleu_1"] == pytest.approx(5 / 6)
    assert out["bleu_2"] == pytest.approx(math.sqrt(5 / 6 * 3 / 5))
    assert out["bleu_3"] == pytest.approx((5 / 6 * 3 / 5 * 1 / 4) ** (1 / 3))
    assert out["bleu_4"] == 0.0


def test_bleu_pools_counts_over_the_corpus_and_picks_the_closest_reference():
    # "a dog" against "a dog runs" / "the dog": closest reference length 2; 2/2 unigrams, 1/1 bigram
    out = bleu(["the cat sat on the mat", "a dog"], [["the cat is on the mat"], ["a dog runs", "the dog"]])
    assert out["bleu_1"] == pytest.approx(7 / 8)
    assert out["bleu_2"] == pytest.approx(math.sqrt(7 / 8 * 4 / 6))
    assert out["bleu_3"] == pytest.approx((7 / 8 * 4 / 6 * 1 / 4) ** (1 / 3))


def test_bleu_clips_repeated_words():
    # Papineni et al.'s example: "the" x7, and no reference holds "the" more than twice -> 2/7.
    # The second reference has 7 words like the candidate, so there is no brevity penalty.
    out = bleu(["the the the the the the the"], [["the cat is on the mat", "there is a cat on the mat"]], max_n=1)
    assert out["bleu_1"] == pytest.approx(2 / 7)


def test_bleu_brevity_penalty():
    out = bleu(["the cat"], [["the cat is here"]], max_n=2)
    assert out["bleu_1"] == pytest.approx(math.exp(1 - 4 / 2))
    assert out["bleu_2"] == pytest.approx(math.exp(1 - 4 / 2))


def test_bleu_smoothing_adds_one_above_unigrams():
    out = bleu(["the cat sat on the mat"], [["the cat is on the mat"]], smooth=True)
    assert out["bleu_4"] == pytest.approx((5 / 6 * 4 / 6 * 2 / 5 * 1 / 4) ** (1 / 4))


def test_bleu_accepts_token_ids_and_rejects_missing_references():
    assert bleu([[4, 5, 6]], [[[4, 5, 6]]], max_n=3)["bleu_3"] == pytest.approx(1.0)
    with pytest.raises(PolymodalError, match="no reference"):
        bleu(["a"], [[]])
    with pytest.raises(PolymodalError, match="one list of references per candidate"):
        bleu(["a", "b"], [["a"]])


def test_cider_d_by_hand():
    # Two items, one reference each. IDF = log(2) for every n-gram (each occurs in one item).
    # Item 1, a perfect 2-word caption: cosine 1 for unigrams and bigrams, 0 for 3/4-grams -> 10 * 2/4 = 5.
    # Item 2, "c" against "c d": unigram cosine log2^2 / (log2 * sqrt(2) log2) = 1/sqrt(2); no bigram;
    # length gap 1 -> exp(-1 / 72). Score 10 * (1/sqrt(2)) * exp(-1/72) / 4.
    out = cider_d(["a b", "c"], [["a b"], ["c d"]])
    second = 10 * (1 / math.sqrt(2)) * math.exp(-1 / 72) / 4
    assert out["per_item"] == pytest.approx([5.0, second])
    assert out["cider_d"] == pytest.approx((5.0 + second) / 2)


def test_cider_d_averages_over_references_and_ignores_ngrams_every_item_has():
    # "x" is in both items' references: IDF log(2/2) = 0, so it adds nothing. Item 1's candidate "x a"
    # against ["x a", "x b"]: unigram vectors {a: log2} vs {a: log2} -> 1 and vs {b: log2} -> 0;
    # bigrams {xa: log2} vs {xa} -> 1 and vs {xb} -> 0. Mean over the two references: 10 * (2/4) / 2 = 2.5.
    out = cider_d(["x a", "x c"], [["x a", "x b"], ["x c"]])
    assert out["per_item"][0] == pytest.approx(2.5)
    assert out["per_item"][1] == pytest.approx(5.0)


def test_exact_match_and_summary():
    assert exact_match(["A red circle.", "a dog"], [["a red circle ."], ["a cat", "the dog"]]) == 0.5
    out = caption_metrics(["a b", "c"], [["a b"], ["c d"]])
    assert set(out) == {"bleu_1", "bleu_2", "bleu_3", "bleu_4", "cider_d", "exact_match", "mean_length"}
    assert out["mean_length"] == 1.5 and out["exact_match"] == 0.5
