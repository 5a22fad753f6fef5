"""The hybrid search's fusion: weighted reciprocal rank, k and the full-text list's weight
(AIPORTAL_DATASET_RRF_K, AIPORTAL_DATASET_FULLTEXT_WEIGHT)."""

from __future__ import annotations

from django.test import override_settings

from datasets.selectors.search import _fused

# Chunk ids with their engines' scores; only the order counts.
FULLTEXT = [(1, 9.0), (2, 5.0), (3, 1.0)]
VECTOR = [(4, 0.9), (2, 0.8), (5, 0.7)]


def order(weight: float, k: int) -> list[int]:
    with override_settings(AIPORTAL_DATASET_RRF_K=k):
        return [chunk_id for chunk_id, _ in _fused((FULLTEXT, weight), (VECTOR, 1.0))]


def test_equal_weights_rank_a_chunk_in_both_lists_first_and_each_lists_first_alike():
    fused = order(1.0, 60)
    assert fused[0] == 2
    # 1 and 4 each top one list: a tie, broken by id so the order is stable.
    assert fused[1:3] == [1, 4]
    assert sorted(fused) == [1, 2, 3, 4, 5]


def test_a_lighter_full_text_list_lets_the_vector_lists_ranks_lead():
    # Full-text's first (1) now falls behind vector's first (4) and its third (5).
    assert order(0.3, 10) == [2, 4, 5, 1, 3]


def test_the_scores_are_the_weighted_sums():
    with override_settings(AIPORTAL_DATASET_RRF_K=10):
        scores = dict(_fused((FULLTEXT, 0.5), (VECTOR, 1.0)))
    assert scores[2] == 0.5 / 12 + 1.0 / 12
    assert scores[1] == 0.5 / 11
    assert scores[5] == 1.0 / 13


def test_weight_zero_keeps_full_text_only_chunks_after_every_vector_hit():
    fused = order(0.0, 60)
    assert fused[:3] == [4, 2, 5]
    assert set(fused[3:]) == {1, 3}


def test_a_full_text_weight_out_of_range_stops_start_up_with_its_name(tmp_path):
    from tests.unit.test_settings import GOOD_KEY, run_settings

    for bad in ("-1", "11", "heavy"):
        result = run_settings(
            {
                "SECRET_KEY": GOOD_KEY,
                "AIPORTAL_DATA_DIR": str(tmp_path),
                "AIPORTAL_DATASET_FULLTEXT_WEIGHT": bad,
            }
        )
        assert result.returncode != 0, bad
        assert "AIPORTAL_DATASET_FULLTEXT_WEIGHT" in result.stderr, result.stderr
    good = run_settings(
        {
            "SECRET_KEY": GOOD_KEY,
            "AIPORTAL_DATA_DIR": str(tmp_path),
            "AIPORTAL_DATASET_FULLTEXT_WEIGHT": "0.5",
        }
    )
    assert good.returncode == 0, good.stderr
