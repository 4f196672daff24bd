"""Tests of ldnscreen.query: the contract of each query strategy."""

from __future__ import annotations

import numpy as np
import pytest

from ldnscreen.query import QUERY_STRATEGIES, max_query, mixed_query, query, ranked, uncertainty_query


def test_max_returns_highest_first_and_skips_labelled():
    scores = np.array([0.1, 0.9, 0.5, 0.95, 0.7])
    unlabeled = np.array([True, True, True, False, True])
    assert query(scores, unlabeled, "max", n=3, rng=0).tolist() == [1, 4, 2]


def test_max_with_more_requested_than_unlabelled():
    assert max_query([0.2, 0.4], [True, False], n=5, rng=0).tolist() == [0]


def test_uncertainty_returns_closest_to_half():
    scores = np.array([0.05, 0.55, 0.9, 0.48, 0.3])
    assert uncertainty_query(scores, None, n=3, rng=0).tolist() == [3, 1, 4]


def test_ties_are_not_broken_by_file_order():
    scores = np.full(50, 0.5)
    orders = [query(scores, None, "max", n=50, rng=seed).tolist() for seed in (0, 1)]
    assert orders[0] != list(range(50))
    assert orders[0] != orders[1]
    assert sorted(orders[0]) == list(range(50))
    # same seed, same order
    assert query(scores, None, "max", n=50, rng=0).tolist() == orders[0]


def test_tiebreak_key_decides_equal_scores():
    scores = np.array([0.3, 0.8, 0.8, 0.8])
    assert query(scores, None, "max", n=3, tiebreak=[9, 2, 0, 1]).tolist() == [2, 3, 1]


def test_ties_at_the_batch_boundary_use_the_key():
    # the top-n shortcut must not cut ties by position
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.5])
    assert query(scores, None, "max", n=2, tiebreak=[0, 4, 3, 2, 1]).tolist() == [0, 4]


def test_mixed_with_a_seed_is_reproducible():
    scores = np.linspace(0, 1, 200)
    picks = [mixed_query(scores, None, n=20, rng=np.random.default_rng(7), share=0.3).tolist() for _ in range(2)]
    assert picks[0] == picks[1]


def test_mixed_actually_mixes_and_mostly_takes_the_max():
    rng = np.random.default_rng(1)
    scores = np.linspace(0, 1, 1000)
    unlabeled = np.ones(1000, dtype=bool)
    explored = 0
    for _ in range(200):
        pick = int(mixed_query(scores, unlabeled, n=1, rng=rng, share=0.2)[0])
        explored += pick != int(np.flatnonzero(unlabeled)[-1])
        unlabeled[pick] = False
    assert 15 <= explored <= 70  # about 20 % of 200 picks explore


def test_mixed_draws_from_one_stream_not_a_restarted_one():
    rng = np.random.default_rng(3)
    scores = np.linspace(0, 1, 100)
    picks = {tuple(mixed_query(scores, None, n=5, rng=rng, share=1.0).tolist()) for _ in range(5)}
    assert len(picks) > 1


def test_mixed_batch_has_no_duplicates():
    picks = mixed_query(np.linspace(0, 1, 30), None, n=30, rng=0, share=0.5)
    assert sorted(picks.tolist()) == list(range(30))


def test_mixed_uncertainty_exploration():
    scores = np.array([0.99, 0.98, 0.5, 0.01])
    assert set(mixed_query(scores, None, n=2, rng=0, share=1.0, explore="uncertainty").tolist()) == {2, 1}


def test_unknown_strategy_and_bad_options():
    with pytest.raises(ValueError, match="unknown query strategy"):
        query([0.1], None, "random-ish")
    with pytest.raises(ValueError, match="share"):
        query([0.1], None, "mixed", share=2.0)
    with pytest.raises(ValueError, match="shape"):
        query([0.1, 0.2], [True], "max")
    assert set(QUERY_STRATEGIES) == {"max", "uncertainty", "mixed"}


def test_callable_strategy():
    def lowest(scores, unlabeled_mask, n, rng, tiebreak):
        return np.argsort(scores)[:n]

    assert query([0.3, 0.1, 0.2], None, lowest, n=2).tolist() == [1, 2]


def test_single_pick_shortcut_agrees_with_the_full_ranking():
    rng = np.random.default_rng(0)
    for _ in range(200):
        scores = rng.integers(0, 4, size=30) / 4.0  # many ties
        candidates = np.flatnonzero(rng.random(30) < 0.7)
        tiebreak = rng.permutation(30)
        best = ranked(scores, candidates, 1, tiebreak)
        assert best.tolist() == ranked(scores, candidates, None, tiebreak)[:1].tolist()
        assert best.dtype == np.intp
    assert ranked(np.array([0.5]), np.array([], dtype=int), 1, np.array([0])).tolist() == []
