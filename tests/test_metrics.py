"""Simulation metrics on hand-computed screening orders."""

from __future__ import annotations

import pytest

from ldnscreen.metrics import (
    average_time_to_discovery,
    complete_order,
    normalised_loss,
    recall_at,
    records_to_recall,
    screening_metrics,
    work_saved_over_sampling,
)

# 10 records, 2 relevant. Random screening's expected curve is
# round(linspace(0, 2, 10)) = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]: it reaches the
# 1st relevant record at position index 3 and the 2nd at index 7.
PERFECT = [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
WORST = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]
MIDDLE = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0]


def test_perfect_order():
    m = screening_metrics(PERFECT)
    # WSS@95 uses the 1st relevant (1/2 <= 0.95 < 2/2): (3 - 0) / 10
    assert m["wss_95"] == pytest.approx(0.3)
    # WSS@100 uses the 2nd: (7 - 1) / 10
    assert m["wss_100"] == pytest.approx(0.6)
    assert m["rrf_10"] == 0.5  # 1 record screened (1/10 <= 0.10), 1 of 2 found
    assert m["rrf_25"] == 1.0  # 2 records screened (2/10 <= 0.25 < 3/10)
    assert m["atd"] == 1.5
    assert m["loss"] == 0.0
    assert m["records_to_95_recall"] == 2


def test_worst_order():
    m = screening_metrics(WORST)
    assert m["wss_95"] == pytest.approx((3 - 8) / 10)
    assert m["wss_100"] == pytest.approx((7 - 9) / 10)
    assert m["rrf_10"] == 0.0 and m["rrf_25"] == 0.0
    assert m["atd"] == 9.5
    assert m["loss"] == 1.0
    assert m["records_to_95_recall"] == 10


def test_random_like_order():
    m = screening_metrics(MIDDLE)
    assert m["wss_95"] == pytest.approx((3 - 1) / 10)
    assert m["wss_100"] == pytest.approx((7 - 5) / 10)
    assert m["rrf_10"] == 0.0
    assert m["rrf_25"] == 0.5
    assert m["atd"] == 4.0
    # best area 2 * (10 - 1/2) = 19, actual sum(cumsum) = 14, range 2 * 8 = 16
    assert m["loss"] == pytest.approx(5 / 16)
    assert m["records_to_95_recall"] == 6


def test_wss95_uses_floor_of_95_percent_of_relevant():
    # 100 records, 20 relevant: 19 found first, the 20th last.
    labels = [1] * 19 + [0] * 80 + [1]
    # 19/20 <= 0.95, so WSS@95 uses the 19th relevant record (index 18).
    # round(i * 20 / 99) first reaches 19 at i = 92 and 20 at i = 97.
    assert work_saved_over_sampling(labels, 0.95) == pytest.approx((92 - 18) / 100)
    assert work_saved_over_sampling(labels, 1.0) == pytest.approx((97 - 99) / 100)
    assert records_to_recall(labels, 0.95) == 19


def test_recall_at_uses_records_not_beyond_the_fraction():
    labels = [0] * 9 + [1] + [1] + [0] * 9  # 20 records
    assert recall_at(labels, 0.10) == 0.0  # 2 records screened
    assert recall_at(labels, 0.50) == 0.5  # 10 records screened
    assert recall_at(labels, 0.04) == 0.0  # fewer than one record


def test_complete_order_puts_missing_relevant_last():
    full = complete_order([1, 0, 0], n_records=6, n_relevant=2)
    assert full.tolist() == [1, 0, 0, 0, 0, 1]
    with pytest.raises(ValueError):
        complete_order([1, 1], n_records=3, n_relevant=1)


def test_partial_order_is_scored_pessimistically():
    m = screening_metrics([1, 0], n_records=10, n_relevant=2)
    assert m == screening_metrics(WORST[:0] + [1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    assert m["wss_100"] == pytest.approx((7 - 9) / 10)


@pytest.mark.parametrize("bad", [[], [0, 0, 0], [0, 2]])
def test_invalid_labels_raise(bad):
    with pytest.raises(ValueError):
        screening_metrics(bad)


def test_loss_needs_an_irrelevant_record():
    with pytest.raises(ValueError):
        normalised_loss([1, 1])
    assert average_time_to_discovery([1, 1]) == 1.5
