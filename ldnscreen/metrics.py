"""How well a screening order finds the relevant records: simulation metrics.

Every function takes the labels of the records **in the order they were
screened, priors excluded** (1 = relevant, 0 = irrelevant). The definitions
follow asreview-insights (``asreviewcontrib/insights/algorithms.py`` and
``metrics.py``) so that numbers can be compared with published ASReview
simulations:

* **Recall after x% screened** (``recall_at(labels, 0.10)``, "RRF@10"): the
  share of relevant records found after the largest number of records ``k``
  with ``k / N <= x`` (0 when ``x < 1 / N``).
* **WSS@r** (work saved over sampling): with ``K`` the largest count of
  relevant records with ``K / R <= r``, the number of records random screening
  needs to find ``K`` relevant records minus the number the ordering needed,
  divided by ``N``. "Random screening" is the expected line
  ``round(linspace(0, R, N))``, as asreview-insights draws it. So WSS@95 for
  ``R = 10`` uses the 9th relevant record (``9 / 10 <= 0.95``), and WSS@100 the
  last one.
* **ATD** (average time to discovery): the mean 1-based position at which each
  relevant record was screened.
* **Loss** (normalised loss): ``(best - actual) / (best - worst)`` of the area
  under the absolute recall curve ``sum(cumsum(labels))``; 0 for a perfect
  ordering (all relevant first), 1 for the worst (all relevant last).
* **Records to 95% recall**: the smallest number of records screened with
  recall >= 0.95 (this one uses ``ceil(0.95 R)`` relevant records, i.e. recall
  actually reached, whereas WSS@95 follows asreview-insights' ``floor``).

Here ``N`` is the number of records and ``R`` the number of relevant records,
both without the priors. When a simulation stopped before screening every
record, :func:`complete_order` appends the unscreened records with the relevant
ones last (the pessimistic completion); asreview-insights pads with zeros
instead, which gives the same numbers whenever all relevant records were
found (``stop="last-relevant"``) and otherwise overstates recall.
:func:`undecided_metrics` names the metrics such a completion decides: for
those the value is a pessimistic bound, not a measurement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "complete_order",
    "recall_at",
    "work_saved_over_sampling",
    "average_time_to_discovery",
    "normalised_loss",
    "records_to_recall",
    "screening_metrics",
    "undecided_metrics",
]


def _as_labels(labels: Sequence[int]) -> np.ndarray:
    y = np.asarray(labels, dtype=np.int64).ravel()
    if y.size == 0:
        raise ValueError("no screened records")
    if np.any((y != 0) & (y != 1)):
        raise ValueError("labels must be 0 or 1")
    if y.sum() == 0:
        raise ValueError("no relevant records among the labels")
    return y


def complete_order(labels: Sequence[int], n_records: int | None = None, n_relevant: int | None = None) -> np.ndarray:
    """Labels of a (possibly partial) screening order completed to all records.

    Parameters
    ----------
    labels : sequence of int
        Labels in screening order, priors excluded.
    n_records : int, optional
        Total number of records without the priors; defaults to ``len(labels)``.
    n_relevant : int, optional
        Total number of relevant records without the priors; defaults to
        ``sum(labels)``.

    Returns
    -------
    numpy.ndarray
        ``labels`` followed by the unscreened records, irrelevant ones first
        and relevant ones last.

    Examples
    --------
    >>> complete_order([1, 0], n_records=5, n_relevant=2).tolist()
    [1, 0, 0, 0, 1]
    """
    y = np.asarray(labels, dtype=np.int64).ravel()
    n_records = len(y) if n_records is None else int(n_records)
    n_relevant = int(y.sum()) if n_relevant is None else int(n_relevant)
    missing_relevant = n_relevant - int(y.sum())
    missing = n_records - len(y)
    if missing < 0 or missing_relevant < 0 or missing_relevant > missing:
        raise ValueError(
            f"{len(y)} labels with {int(y.sum())} relevant do not fit "
            f"{n_records} records with {n_relevant} relevant"
        )
    tail = np.r_[np.zeros(missing - missing_relevant, dtype=np.int64), np.ones(missing_relevant, dtype=np.int64)]
    return np.r_[y, tail]


def recall_at(labels: Sequence[int], fraction: float) -> float:
    """Recall after screening ``fraction`` of the records (RRF@x).

    Parameters
    ----------
    labels : sequence of int
        Complete screening order, priors excluded.
    fraction : float
        Share of records screened, e.g. ``0.10``.

    Returns
    -------
    float
        Relevant records found after ``k`` records, divided by all relevant
        records, with ``k`` the largest count such that ``k / N <= fraction``.

    Examples
    --------
    >>> recall_at([1, 0, 1, 0, 0, 0, 0, 0, 0, 0], 0.10)
    0.5
    >>> recall_at([0, 1, 1, 0], 0.10)
    0.0
    """
    y = _as_labels(labels)
    x = np.arange(1, len(y) + 1) / len(y)
    if fraction < x[0]:
        return 0.0
    i = int(np.searchsorted(x, fraction, side="right"))
    return float(np.cumsum(y)[i - 1] / y.sum())


def _first_reached(curve: np.ndarray, n_relevant: int) -> np.ndarray:
    """0-based index where ``curve`` first reaches 1, 2, ..., n_relevant."""
    return np.searchsorted(curve, np.arange(1, n_relevant + 1))


def work_saved_over_sampling(labels: Sequence[int], recall: float = 0.95) -> float:
    """Work saved over sampling at ``recall`` (WSS@95 for ``recall=0.95``).

    Parameters
    ----------
    labels : sequence of int
        Complete screening order, priors excluded.
    recall : float, default=0.95
        Target recall; ``1.0`` gives WSS@100.

    Returns
    -------
    float
        ``(n_random - n_ordered) / N``, where ``n_ordered`` records were needed
        to find the ``K``-th relevant record (``K`` the largest count with
        ``K / R <= recall``) and ``n_random`` is where random screening's
        expected curve ``round(linspace(0, R, N))`` reaches ``K``.

    Examples
    --------
    A perfect ordering of 10 records with 2 relevant finds both at once; random
    screening's curve ``[0, 0, 0, 1, 1, 1, 1, 2, 2, 2]`` needs 8 records, so
    6 of 10 records are saved:

    >>> work_saved_over_sampling([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], 1.0)
    0.6
    """
    y = _as_labels(labels)
    n, r = len(y), int(y.sum())
    found = _first_reached(np.cumsum(y), r)
    random = _first_reached(np.round(np.linspace(0, r, n)), r)
    x = np.arange(1, r + 1) / r
    i = int(np.searchsorted(x, recall, side="right"))
    return float(((random - found) / n)[i - 1])


def average_time_to_discovery(labels: Sequence[int]) -> float:
    """Average time to discovery (ATD): mean 1-based position of the relevant records.

    Examples
    --------
    >>> average_time_to_discovery([0, 1, 0, 1])
    3.0
    """
    y = _as_labels(labels)
    return float(np.mean(np.flatnonzero(y) + 1))


def normalised_loss(labels: Sequence[int]) -> float:
    """Normalised loss of a screening order (0 = perfect, 1 = worst).

    The area under the absolute recall curve is ``A = sum(cumsum(labels))``.
    The best possible area is ``R * (N - (R - 1) / 2)`` (all relevant first),
    the worst ``R * (R + 1) / 2`` (all relevant last); the loss is
    ``(best - A) / (best - worst)`` and ``best - worst = R * (N - R)``.

    Examples
    --------
    >>> normalised_loss([1, 1, 0, 0])
    0.0
    >>> normalised_loss([0, 0, 1, 1])
    1.0
    >>> normalised_loss([1, 0, 1, 0])
    0.25
    """
    y = _as_labels(labels)
    n, r = len(y), int(y.sum())
    if n == r:
        raise ValueError("loss needs at least one irrelevant record")
    return float((r * (n - (r - 1) / 2) - np.cumsum(y).sum()) / (r * (n - r)))


def records_to_recall(labels: Sequence[int], recall: float = 0.95) -> int:
    """Fewest records screened with recall at least ``recall``.

    Examples
    --------
    >>> records_to_recall([1, 0, 0, 1, 0], 0.95)
    4
    >>> records_to_recall([1, 0, 0, 1, 0], 0.5)
    1
    """
    y = _as_labels(labels)
    needed = math.ceil(round(recall * y.sum(), 9))
    return int(np.searchsorted(np.cumsum(y), needed) + 1)


def screening_metrics(
    labels: Sequence[int], n_records: int | None = None, n_relevant: int | None = None
) -> dict[str, float]:
    """All simulation metrics of one screening order, priors excluded.

    Parameters
    ----------
    labels : sequence of int
        Labels in screening order without the priors; may stop early.
    n_records, n_relevant : int, optional
        Records and relevant records without the priors, when ``labels`` is a
        partial order (see :func:`complete_order`).

    Returns
    -------
    dict
        ``n_records``, ``n_relevant``, ``wss_95``, ``wss_100``, ``rrf_10``,
        ``rrf_25``, ``atd``, ``loss``, ``records_to_95_recall``.

    Examples
    --------
    >>> m = screening_metrics([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    >>> m["wss_100"], m["rrf_10"], m["atd"], m["loss"]
    (0.6, 0.5, 1.5, 0.0)
    """
    y = complete_order(labels, n_records, n_relevant)
    _as_labels(y)
    return {
        "n_records": int(len(y)),
        "n_relevant": int(y.sum()),
        "wss_95": work_saved_over_sampling(y, 0.95),
        "wss_100": work_saved_over_sampling(y, 1.0),
        "rrf_10": recall_at(y, 0.10),
        "rrf_25": recall_at(y, 0.25),
        "atd": average_time_to_discovery(y),
        "loss": normalised_loss(y),
        "records_to_95_recall": records_to_recall(y, 0.95),
    }


def undecided_metrics(labels: Sequence[int], n_records: int | None = None, n_relevant: int | None = None) -> list[str]:
    """The metrics of :func:`screening_metrics` that a partial order leaves undecided.

    A simulation stopped before the last relevant record (``--stop N``) is
    completed pessimistically (:func:`complete_order`). A metric is decided by
    the records screened when completing the order the other way (the
    unscreened relevant records first) gives the same value; for the others
    the value reported is a pessimistic bound (WSS and recall at least that,
    ATD, loss and records to 95 % recall at most that).

    Examples
    --------
    Ten records, three relevant, two screened (one of them relevant): recall
    after 10 % and 25 % screened (1 and 2 records) is known, nothing else is.

    >>> undecided_metrics([1, 0], n_records=10, n_relevant=3)
    ['wss_95', 'wss_100', 'atd', 'loss', 'records_to_95_recall']
    >>> undecided_metrics([1, 0, 1, 1], n_records=10, n_relevant=3)
    []
    """
    y = np.asarray(labels, dtype=np.int64).ravel()
    n_records = len(y) if n_records is None else int(n_records)
    n_relevant = int(y.sum()) if n_relevant is None else int(n_relevant)
    missing_relevant = n_relevant - int(y.sum())
    if missing_relevant == 0:  # every relevant record was screened: the rest are zeros either way
        return []
    rest = n_records - len(y) - missing_relevant
    optimistic = np.r_[y, np.ones(missing_relevant, dtype=np.int64), np.zeros(rest, dtype=np.int64)]
    worst, best = screening_metrics(y, n_records, n_relevant), screening_metrics(optimistic)
    return [name for name in worst if worst[name] != best[name]]
