"""The retrieval bench's figures on rankings small enough to work out by hand."""

from __future__ import annotations

import math

import pytest

from bench.retrieval_metrics import (
    documents_ranked,
    mean,
    ndcg_at,
    recall_at,
    reciprocal_rank_at,
)


def test_a_page_found_by_several_passages_counts_once_at_its_best_rank():
    assert documents_ranked(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]


def test_recall_is_the_share_of_relevant_pages_in_the_first_k():
    ranked = ["x", "a", "y", "z", "w", "b"]
    assert recall_at(ranked, {"a", "b"}, 5) == 0.5  # b is sixth
    assert recall_at(ranked, {"a", "b"}, 6) == 1.0
    assert recall_at(ranked, {"q"}, 5) == 0.0


def test_reciprocal_rank_is_one_over_the_first_relevant_rank_within_k():
    assert reciprocal_rank_at(["a", "b"], {"a"}, 10) == 1.0
    assert reciprocal_rank_at(["x", "y", "b", "a"], {"a", "b"}, 10) == pytest.approx(1 / 3)
    assert reciprocal_rank_at(["x"] * 10 + ["a"], {"a"}, 10) == 0.0


def test_ndcg_divides_by_the_best_possible_order():
    # One relevant page, second: (1 / log2 3) / (1 / log2 2).
    assert ndcg_at(["x", "a"], {"a"}, 10) == pytest.approx(1 / math.log2(3))
    # Two relevant pages at ranks 1 and 3: (1 + 1/2) / (1 + 1/log2 3).
    expected = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ndcg_at(["a", "x", "b"], {"a", "b"}, 10) == pytest.approx(expected)
    assert ndcg_at(["a", "b", "x"], {"a", "b"}, 10) == pytest.approx(1.0)
    # More relevant pages than k: the ideal counts only k of them.
    assert ndcg_at(["a", "b"], {"a", "b", "c"}, 2) == pytest.approx(1.0)
    assert ndcg_at(["x", "y"], {"a"}, 10) == 0.0


def test_the_mean_of_no_questions_is_zero():
    assert mean([]) == 0.0
    assert mean([1.0, 0.0, 0.5]) == 0.5
