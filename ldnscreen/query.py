"""Query strategies: which unlabelled records the reviewer sees next.

A strategy is a function ``(scores, unlabeled_mask, n, rng, tiebreak) -> indices``;
:func:`query` picks one by name:

``"max"`` (default)
    Highest inclusion score first: certainty-based screening, which finds
    the included records earliest.
``"uncertainty"``
    Scores closest to 0.5 first: what the classifier is least sure about.
``"mixed"``
    Mostly ``max``, with each pick replaced, with probability ``share``
    (default 0.1), by an exploration pick (a random unlabelled record by
    default, or the most uncertain one). Every draw comes from the single
    generator passed in, resolved once by the caller; successive calls
    therefore continue one random stream instead of repeating it.

Equal scores are never ordered by file position: ties are broken by a
seeded random key per record (``tiebreak``, e.g. ``rng.permutation(n)``
drawn once per review), or, when no key is given, by keys drawn from ``rng``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["query", "max_query", "uncertainty_query", "mixed_query", "QUERY_STRATEGIES", "ranked", "resolve_rng"]


def _check(scores, unlabeled_mask) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-d, got shape {scores.shape}")
    if unlabeled_mask is None:
        unlabeled_mask = np.ones(scores.shape[0], dtype=bool)
    unlabeled_mask = np.asarray(unlabeled_mask, dtype=bool)
    if unlabeled_mask.shape != scores.shape:
        raise ValueError(f"unlabeled_mask has shape {unlabeled_mask.shape}, scores {scores.shape}")
    return scores, unlabeled_mask


def resolve_rng(rng):
    """A ``numpy.random.Generator`` or ``RandomState`` as is; anything else through ``check_random_state``.

    Examples
    --------
    >>> g = np.random.default_rng(0)
    >>> resolve_rng(g) is g
    True
    """
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    return check_random_state(rng)


def _tiebreak(tiebreak, size: int, rng) -> np.ndarray:
    if tiebreak is None:
        return resolve_rng(rng).random(size)
    tiebreak = np.asarray(tiebreak)
    if tiebreak.shape != (size,):
        raise ValueError(f"tiebreak has shape {tiebreak.shape}, expected ({size},)")
    return tiebreak


def ranked(priority: np.ndarray, candidates: np.ndarray, n: int | None, tiebreak: np.ndarray) -> np.ndarray:
    """Indices of ``candidates`` by descending ``priority``, ties by ascending ``tiebreak``; first ``n``.

    Runs in linear time for small ``n`` (partition, then sort the few
    candidates at or above the n-th priority, ties at the boundary included).

    Examples
    --------
    >>> ranked(np.array([0.2, 0.9, 0.9, 0.1]), np.arange(4), 2, tiebreak=np.array([0, 3, 1, 2]))
    array([2, 1])
    """
    candidates = np.asarray(candidates, dtype=np.intp)
    if candidates.size == 0 or n == 0:
        return candidates[:0]
    values = priority[candidates]
    if n == 1:  # the usual screening step: one maximum, no partition or sort
        best = candidates[values == values.max()]
        if best.size > 1:
            first = int(np.argmin(tiebreak[best]))
            best = best[first : first + 1]
        if best.size:
            return best
        # no maximum (NaN scores): the general path below
    if n is not None and n < candidates.size:
        threshold = np.partition(values, candidates.size - n)[candidates.size - n]
        keep = values >= threshold
        candidates, values = candidates[keep], values[keep]
    order = np.lexsort((tiebreak[candidates], -values))
    result = candidates[order]
    return result if n is None else result[:n]


def max_query(scores, unlabeled_mask=None, n: int = 1, rng=None, tiebreak=None) -> np.ndarray:
    """The ``n`` unlabelled records with the highest scores.

    Examples
    --------
    >>> max_query([0.1, 0.8, 0.5, 0.9], [True, True, True, False], n=2, rng=0)
    array([1, 2])
    """
    scores, mask = _check(scores, unlabeled_mask)
    tiebreak = _tiebreak(tiebreak, scores.shape[0], rng)
    return ranked(scores, np.flatnonzero(mask), n, tiebreak)


def uncertainty_query(scores, unlabeled_mask=None, n: int = 1, rng=None, tiebreak=None) -> np.ndarray:
    """The ``n`` unlabelled records whose scores are closest to 0.5.

    Examples
    --------
    >>> uncertainty_query([0.1, 0.45, 0.9, 0.6], n=2, rng=0)
    array([1, 3])
    """
    scores, mask = _check(scores, unlabeled_mask)
    tiebreak = _tiebreak(tiebreak, scores.shape[0], rng)
    return ranked(-np.abs(scores - 0.5), np.flatnonzero(mask), n, tiebreak)


def mixed_query(
    scores,
    unlabeled_mask=None,
    n: int = 1,
    rng=None,
    tiebreak=None,
    *,
    share: float = 0.1,
    explore: str = "random",
) -> np.ndarray:
    """Mostly ``max``; each pick is an exploration pick with probability ``share``.

    Parameters
    ----------
    scores, unlabeled_mask, n, tiebreak
        As in :func:`max_query`.
    rng : numpy.random.Generator, RandomState, int or None
        Resolve it once per review and pass the same generator to every
        call; an int here restarts the stream on each call.
    share : float, default=0.1
        Probability that a pick explores.
    explore : {"random", "uncertainty"}, default="random"
        What an exploration pick takes.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scores = np.linspace(0, 1, 100)
    >>> picks = [int(mixed_query(scores, n=1, rng=rng, share=0.5)[0]) for _ in range(10)]
    >>> sum(p == 99 for p in picks) < 10   # not always the maximum
    True
    """
    if explore not in ("random", "uncertainty"):
        raise ValueError(f"explore must be 'random' or 'uncertainty', got {explore!r}")
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be in [0, 1], got {share}")
    scores, mask = _check(scores, unlabeled_mask)
    rng = resolve_rng(rng)
    tiebreak = _tiebreak(tiebreak, scores.shape[0], rng)
    available = np.flatnonzero(mask)
    n = min(n, available.size)
    n_explore = int((rng.random(n) < share).sum())
    picks: list[int] = []
    chosen = np.zeros(scores.shape[0], dtype=bool)
    if n_explore:
        if explore == "random":
            explored = rng.choice(available, size=n_explore, replace=False)
        else:
            explored = ranked(-np.abs(scores - 0.5), available, n_explore, tiebreak)
        chosen[explored] = True
    exploit = ranked(scores, np.flatnonzero(mask & ~chosen), n - n_explore, tiebreak)
    # interleave: exploration picks at random positions among the batch
    positions = set(rng.choice(n, size=n_explore, replace=False).tolist()) if n_explore else set()
    exploit_iter, explore_iter = iter(exploit.tolist()), iter(np.flatnonzero(chosen)[rng.permutation(n_explore)].tolist())
    for i in range(n):
        picks.append(next(explore_iter) if i in positions else next(exploit_iter))
    return np.asarray(picks, dtype=np.intp)


#: Strategies by name.
QUERY_STRATEGIES: dict[str, Callable[..., np.ndarray]] = {
    "max": max_query,
    "uncertainty": uncertainty_query,
    "mixed": mixed_query,
}


def query(scores, unlabeled_mask=None, strategy: str | Callable = "max", n: int = 1, rng=None, *, tiebreak=None, **options) -> np.ndarray:
    """The next ``n`` unlabelled records to screen.

    Parameters
    ----------
    scores : array-like of shape (n_records,)
        Inclusion scores (higher = more likely included).
    unlabeled_mask : array-like of bool, shape (n_records,), or None
        ``True`` for records still to screen; ``None`` means all.
    strategy : {"max", "uncertainty", "mixed"} or callable, default="max"
        A name from :data:`QUERY_STRATEGIES` or a function with the same
        signature as :func:`max_query`.
    n : int, default=1
        How many records to return (fewer when fewer are unlabelled).
    rng : numpy.random.Generator, RandomState, int or None
        Random source for tie-breaking and the mixed strategy.
    tiebreak : array-like of shape (n_records,), optional
        Per-record tie-breaking key (smaller first).
    **options
        Passed to the strategy (``share``, ``explore`` for ``"mixed"``).

    Returns
    -------
    numpy.ndarray of int
        Record indices in the order to screen them.

    Examples
    --------
    >>> query([0.3, 0.7, 0.7, 0.5], strategy="max", n=3, tiebreak=[0, 2, 1, 3])
    array([2, 1, 3])
    >>> query([0.3, 0.7, 0.7, 0.5], strategy="uncertainty", n=1, rng=0)
    array([3])
    """
    if callable(strategy):
        function = strategy
    else:
        try:
            function = QUERY_STRATEGIES[strategy]
        except KeyError:
            raise ValueError(f"unknown query strategy {strategy!r}; choose from {sorted(QUERY_STRATEGIES)}") from None
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return function(scores, unlabeled_mask, n=n, rng=rng, tiebreak=tiebreak, **options)
