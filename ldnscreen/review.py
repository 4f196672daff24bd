"""A review as the reviewer sees it: records, a prioritised queue, decisions.

:class:`Review` joins the durable :class:`~ldnscreen.store.ReviewStore` (the
decision log in SQLite) to a :class:`ScreeningQueue` (the active learner that
orders the records not screened yet). Every decision is committed by the store
before :meth:`Review.decide` returns; the learner is then told about it.

Ranking cost and the reviewer's wait
------------------------------------
Fitting the TF-IDF features and scoring the criteria prior are the expensive
steps (about a minute for 10,000 records on a busy 2-core machine). They are
done once per review and cached in the store as blobs (the matrix with
:func:`~ldnscreen.features.save_matrix`, the fitted vocabulary with
``TextFeatures.to_bytes``, the prior as ``.npy``; nothing is pickled), keyed by
a hash of the active record ids and the feature parameters (and the criteria
text for the prior). A new session or ``ldnscreen queue`` reuses them; an
import or a deduplication, which change the active records, refits them and
replaces the stale entries.

Retraining the classifier and rescoring every record after a decision takes
0.1-0.3 s on a 10,000-record review (two busy cores; ``benchmarks/session_latency.py``),
more than a reviewer should wait. With ``background=True`` (what the
interactive session uses) the queue retrains in a worker thread: the next
record comes at once (a few milliseconds) from the latest finished ranking,
minus everything decided since, and the ranking is swapped for the new one
when the retrain ends. A reviewer who reads each record for more than the
retrain time therefore sees the first choice of a model that lacks only the
decision just made (:attr:`ScreeningQueue.lag` is 1); decisions faster than
retraining let the lag grow until the reviewer slows down, and it never
reorders what was already decided. The worker never touches the store, so
the SQLite connection stays in the reviewer's thread. With
``background=False`` (the default for the Python API) :meth:`Review.next`
waits for the model to include every decision, which makes the order exactly
reproducible.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .records import Record

__all__ = [
    "QueueItem",
    "Progress",
    "Refresh",
    "ScreeningQueue",
    "Review",
    "STAGES",
]

STAGES = ("title-abstract", "full-text")
LABELS = {"include": 1, "exclude": 0}
#: Bumped when the way the cached matrix is built changes.
FEATURES_CACHE_VERSION = "2"  # 2: once-seen terms collapsed per record


@dataclass(frozen=True)
class QueueItem:
    """One record in the screening queue, with why it is where it is.

    Parameters
    ----------
    record : Record
        The record to screen.
    score : float
        The ranker's relevance score (higher is screened first).
    rank : int
        1-based position in the queue when it was produced.
    suggested_reason : str or None
        Exclusion reason the criteria suggest for this record at this stage.
    top_terms : tuple of str
        Terms of the record that pushed its score up the most.
    """

    record: Record
    score: float
    rank: int
    suggested_reason: str | None = None
    top_terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Progress:
    """How far screening has got at one stage.

    Parameters
    ----------
    stage : str
        ``"title-abstract"`` or ``"full-text"``.
    screened, included, excluded : int
        Records with a current decision at this stage, and how they split.
    left : int
        Records still to screen at this stage.
    total : int
        Records to screen at this stage (active records, or the records
        included at title-abstract for the full-text stage).
    """

    stage: str
    screened: int
    included: int
    excluded: int
    left: int
    total: int


@dataclass(frozen=True)
class Refresh:
    """What other processes changed in the review since a queue last read it.

    Parameters
    ----------
    decided : tuple of Decision
        Decisions made elsewhere on records the queue had as unscreened
        (they are no longer offered).
    changed : tuple of Decision
        Decisions made elsewhere that replace a different decision the queue
        had (another reviewer overriding one).
    records_changed : bool
        Records were imported, merged or unmerged elsewhere: the queue is
        rebuilt on its next use.
    """

    decided: tuple[Any, ...] = ()
    changed: tuple[Any, ...] = ()
    records_changed: bool = False


@dataclass
class _StoreSeen:
    """How far a queue has read the store: the connection's data version, the log, the records."""

    data_version: int
    log_id: int
    records_version: tuple[int, ...]


def _check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
    return stage


def _term_names(terms: Iterable[Any]) -> tuple[str, ...]:
    """Top terms as plain strings whether the ranker gives ``str`` or ``(term, weight)``."""
    return tuple(t[0] if isinstance(t, (tuple, list)) else str(t) for t in terms)


@dataclass
class _Ranking:
    """An immutable snapshot of one finished retrain, swapped in atomically."""

    applied: int  # how many label changes this ranking includes
    scores: np.ndarray
    order: np.ndarray
    top_terms: dict[int, tuple[str, ...]] = field(default_factory=dict)


class ScreeningQueue:
    """Records in the order to screen them, kept up to date by an active learner.

    The queue owns the learner: it labels and unlabels records in it, asks it
    for scores and orders the unscreened records by them. With
    ``background=True`` a worker thread applies the labels and retrains, and
    :meth:`next` answers from the latest finished ranking without waiting.

    Parameters
    ----------
    records : sequence of Record
        The records the learner was fitted on, in the learner's row order.
    learner : ActiveLearner
        A :class:`ldnscreen.rankers.ActiveLearner` whose features are set.
    background : bool, default=False
        Retrain in a worker thread instead of inside :meth:`next`.
    top_terms_k : int, default=5
        How many top terms each :class:`QueueItem` carries.
    precompute : int, default=20
        How many records at the head of each new ranking get their top terms
        computed by the worker, so :meth:`next` does not touch the learner.
    suggest_reason : callable or None
        ``suggest_reason(record) -> str | None``; the criteria's suggestion.
    labels : mapping of str to int, optional
        Labels already made (record id to 1 or 0), given to the learner
        before the first ranking.

    Examples
    --------
    >>> from ldnscreen.features import TextFeatures
    >>> from ldnscreen.rankers import ActiveLearner
    >>> records = [Record(title=t) for t in ("low-dose naltrexone for fibromyalgia", "naltrexone in rats",
    ...            "low-dose naltrexone for CRPS pain", "statins in rats", "LDN for chronic pain")]
    >>> learner = ActiveLearner(features=TextFeatures(min_df=1), random_state=0).fit_features(records)
    >>> queue = ScreeningQueue(records, learner, background=True)
    >>> queue.label(records[0].id, 1)
    >>> queue.label(records[1].id, 0)
    >>> len(queue.next(5))  # answered at once (from the last finished ranking), labelled records left out
    3
    >>> queue.wait(timeout=60), queue.lag  # the retrain has caught up
    (True, 0)
    >>> item = queue.next()[0]
    >>> item.record.title, "dose" in item.top_terms
    ('low-dose naltrexone for CRPS pain', True)
    >>> queue.close()
    """

    def __init__(
        self,
        records: Sequence[Record],
        learner: Any,
        *,
        background: bool = False,
        top_terms_k: int = 5,
        precompute: int = 20,
        suggest_reason: Any = None,
        labels: dict[str, int] | None = None,
    ) -> None:
        self.records = list(records)
        self.learner = learner
        self.background = background
        self.top_terms_k = top_terms_k
        self.precompute = precompute
        self.suggest_reason = suggest_reason
        self._index = {r.id: i for i, r in enumerate(self.records)}
        self._labels: dict[int, int] = {}
        self._pending: list[tuple[int, int | None]] = []
        self._learner_lock = threading.Lock()
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._error: BaseException | None = None
        self._submitted = 0  # label changes given to the queue
        self._taken = 0  # label changes handed to the learner
        self._reasons: dict[int, str | None] = {}
        initial = [(self.index_of(rid), int(y)) for rid, y in (labels or {}).items()]
        self._labels.update(initial)
        self._ranking = self._retrain(initial)
        self._worker: threading.Thread | None = None
        if background:
            self._worker = threading.Thread(target=self._work, name="ldnscreen-retrain", daemon=True)
            self._worker.start()

    # -- labels -----------------------------------------------------------------
    def index_of(self, record_id: str) -> int:
        """Row of ``record_id`` in the learner; :class:`KeyError` when unknown."""
        try:
            return self._index[record_id]
        except KeyError:
            raise KeyError(f"record {record_id!r} is not among the review's active records") from None

    def label(self, record_id: str, y: int) -> None:
        """Record that ``record_id`` was labelled ``y`` (1 include, 0 exclude)."""
        self._submit(self.index_of(record_id), int(y))

    def unlabel(self, record_id: str) -> None:
        """Forget the label of ``record_id`` (after an undo)."""
        self._submit(self.index_of(record_id), None)

    def label_of(self, record_id: str) -> int | None:
        """The label the queue knows for ``record_id`` (1, 0, or ``None`` when unscreened)."""
        return self._labels.get(self.index_of(record_id))

    def labelled(self) -> dict[str, int]:
        """Labels the queue knows, by record id."""
        return {self.records[i].id: y for i, y in self._labels.items()}

    def _submit(self, i: int, y: int | None) -> None:
        with self._cond:
            if y is None:
                self._labels.pop(i, None)
            else:
                self._labels[i] = y
            self._pending.append((i, y))
            self._submitted += 1
            self._cond.notify_all()

    # -- retraining ---------------------------------------------------------------
    def _apply(self, ops: list[tuple[int, int | None]]) -> None:
        for i, y in ops:
            if y is None:
                self.learner.unlabel(i)
            else:
                self.learner.label(i, y)

    def _retrain(self, ops: list[tuple[int, int | None]]) -> _Ranking:
        applied = self._taken
        if not self.records:
            return _Ranking(applied, np.zeros(0), np.zeros(0, dtype=np.int64))
        with self._learner_lock:
            self._apply(ops)
            scores = np.asarray(self.learner.scores(), dtype=float)
            # ties are broken by the learner's seeded order, else by import order
            tiebreak = getattr(self.learner, "tiebreak_", None)
            order = np.lexsort((tiebreak, -scores)) if tiebreak is not None else np.argsort(-scores, kind="stable")
            with self._cond:
                labelled = set(self._labels)
            head = [int(i) for i in order[: self.precompute + len(labelled)] if int(i) not in labelled]
            terms = {i: self._learner_terms(i) for i in head[: self.precompute]}
        return _Ranking(applied, scores, order, terms)

    def _learner_terms(self, i: int) -> tuple[str, ...]:
        if not self.top_terms_k:
            return ()
        return _term_names(self.learner.top_terms(i, self.top_terms_k))

    def _take_pending(self) -> list[tuple[int, int | None]]:
        ops, self._pending = self._pending, []
        self._taken += len(ops)
        return ops

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                ops = self._take_pending()
                self._busy = True
            try:
                ranking = self._retrain(ops)
            except BaseException as exc:  # surfaced by the next call to next()/wait()
                ranking = None
                self._error = exc
            with self._cond:
                if ranking is not None:
                    self._ranking = ranking
                self._busy = False
                self._cond.notify_all()

    def _raise_worker_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError("retraining the ranker failed") from error

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the ranking includes every label given so far.

        Returns ``False`` when ``timeout`` seconds passed first.
        """
        if not self.background:
            self._sync()
            return True
        with self._cond:
            done = self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)
        self._raise_worker_error()
        return done

    def _sync(self) -> None:
        with self._cond:
            ops = self._take_pending()
        if ops:
            self._ranking = self._retrain(ops)

    @property
    def lag(self) -> int:
        """Label changes the current ranking does not include yet (0 when up to date)."""
        return self._submitted - self._ranking.applied

    @property
    def up_to_date(self) -> bool:
        """Whether the current ranking includes every label given so far."""
        with self._cond:
            return not self._pending and not self._busy

    def close(self) -> None:
        """Stop the worker thread (pending retrains are dropped; labels are not lost)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=30)
            self._worker = None

    # -- reading the queue --------------------------------------------------------
    def _item(self, ranking: _Ranking, i: int, rank: int, explain: bool = True) -> QueueItem:
        terms = ranking.top_terms.get(i)
        if terms is None and not explain:
            terms = ()
        elif terms is None:
            # never make the reviewer wait for a retrain just to explain a score
            if self._learner_lock.acquire(blocking=not self.background):
                try:
                    terms = self._learner_terms(i)
                finally:
                    self._learner_lock.release()
            else:
                terms = ()
        if i not in self._reasons:
            self._reasons[i] = self.suggest_reason(self.records[i]) if self.suggest_reason else None
        return QueueItem(
            record=self.records[i],
            score=float(ranking.scores[i]),
            rank=rank,
            suggested_reason=self._reasons[i],
            top_terms=terms,
        )

    def next(
        self,
        n: int = 1,
        *,
        exclude: Iterable[str] = (),
        candidates: set[str] | None = None,
        explain: bool = True,
    ) -> list[QueueItem]:
        """The ``n`` unscreened records to screen next, best first.

        Parameters
        ----------
        n : int, default=1
            How many records.
        exclude : iterable of str
            Record ids to leave out (skipped in this session).
        candidates : set of str or None
            Only these record ids may be returned (the full-text stage
            screens only title-abstract inclusions).
        explain : bool, default=True
            Fill ``top_terms`` (about a millisecond per record beyond the
            head of the ranking, where they are precomputed).
        """
        if self.background:
            self._raise_worker_error()
        else:
            self._sync()
        ranking = self._ranking
        excluded = {self._index[r] for r in exclude if r in self._index}
        items: list[QueueItem] = []
        rank = 0
        for i in ranking.order:
            i = int(i)
            if i in self._labels or (candidates is not None and self.records[i].id not in candidates):
                continue
            rank += 1
            if i in excluded:
                continue
            items.append(self._item(ranking, i, rank, explain))
            if len(items) >= n:
                break
        return items

    def item(self, record_id: str) -> QueueItem:
        """The queue entry of one record (rank counted among unscreened records)."""
        i = self.index_of(record_id)
        ranking = self._ranking
        position = int(np.flatnonzero(ranking.order == i)[0])
        rank = 1 + sum(int(j) not in self._labels for j in ranking.order[:position])
        return self._item(ranking, i, rank)

    def ranking(self, *, candidates: set[str] | None = None, explain: bool = False) -> list[QueueItem]:
        """Every unscreened record in queue order (waits for the model).

        ``top_terms`` are filled only with ``explain=True`` (or where precomputed).
        """
        self.wait()
        return self.next(len(self.records), candidates=candidates, explain=explain)


class Review:
    """A systematic review being screened: the store plus the ranking.

    Create one with :meth:`create` or open one with :meth:`open`; use it as a
    context manager so that the store is closed.

    Parameters
    ----------
    store : ReviewStore
        The open store.
    stage : str, default="title-abstract"
        The stage that :meth:`next`, :meth:`decide` and :meth:`progress` use
        when not told otherwise.
    background : bool, default=False
        Retrain the ranker in a worker thread (see the module notes).
    random_state : int or None, default=0
        Seed of the ranker's tie-breaking order. Fixed by default so that
        ``ldnscreen queue`` and ``ldnscreen screen`` show the same order.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from ldnscreen.records import Record
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> records = [
    ...     Record(title="Low-dose naltrexone for fibromyalgia pain", abstract="A pilot trial of LDN."),
    ...     Record(title="Naltrexone in complex regional pain syndrome", abstract="Case series, CRPS."),
    ...     Record(title="Dietary fibre and colon cancer", abstract="A cohort study."),
    ...     Record(title="Exercise for knee osteoarthritis", abstract="A randomised trial."),
    ... ]
    >>> criteria = pathlib.Path(__file__).resolve().parents[1] / "corpora" / "ldn_review" / "criteria.toml"
    >>> with Review.create(tmp / "ldn-review", criteria=criteria) as review:
    ...     _ = review.add_records(records)
    ...     first = review.next()[0]
    ...     decision = review.decide(first.record.id, "include")
    ...     review.progress().screened
    1
    >>> "naltrexone" in first.record.title.lower()
    True
    >>> with Review.open(tmp / "ldn-review.ldnscreen") as review:
    ...     [d.label for d in review.decisions()]
    ['include']
    """

    def __init__(self, store: Any, *, stage: str = "title-abstract", background: bool = False,
                 random_state: int | None = 0) -> None:
        self.store = store
        self.stage = _check_stage(stage)
        self.background = background
        self.random_state = random_state
        self._criteria: Any = None
        self._criteria_loaded = False
        self._queues: dict[str, ScreeningQueue] = {}
        self._seen: dict[str, _StoreSeen] = {}

    # -- life cycle ---------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, criteria: Any = None, **kwargs: Any) -> "Review":
        """Create a new, empty review file.

        Parameters
        ----------
        path : str or Path
            ``NAME`` or ``NAME.ldnscreen``.
        criteria : None, str, Path or Criteria
            Eligibility criteria: a TOML file, a :class:`~ldnscreen.criteria.Criteria`
            or ``None``.
        **kwargs
            Passed to :class:`Review`.
        """
        from .store import ReviewStore

        return cls(ReviewStore.create(path, criteria_text=_criteria_text(criteria)), **kwargs)

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False, **kwargs: Any) -> "Review":
        """Open an existing review file (``NAME`` or ``NAME.ldnscreen``).

        With ``readonly=True`` a review that cannot be written is opened to
        read (see :meth:`ldnscreen.store.ReviewStore.open`); the ranking is
        then computed without caching it.
        """
        from .store import ReviewStore

        return cls(ReviewStore.open(path, readonly=readonly), **kwargs)

    def close(self) -> None:
        """Stop background retraining and close the store."""
        for queue in self._queues.values():
            queue.close()
        self._queues.clear()
        close = getattr(self.store, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "Review":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- records ------------------------------------------------------------------
    def import_files(self, paths: Iterable[str | Path], skip_bad: bool = False) -> list[Any]:
        """Read bibliographic exports and add their records to the review.

        Parameters
        ----------
        paths : iterable of str or Path
            RIS, MEDLINE/nbib, Web of Science, CSV... (anything
            :func:`ldnscreen.io.read_file` reads). Each file is one transaction.
        skip_bad : bool, default=False
            Skip malformed entries instead of refusing the file.

        Returns
        -------
        list of ImportSummary
            One per file, as returned by the store.
        """
        summaries = [self.store.import_file(path, skip_bad=skip_bad) for path in paths]
        self._invalidate()
        return summaries

    def add_records(self, records: Sequence[Record], *, file_name: str = "records", database: str = "",
                    format: str = "") -> Any:
        """Add records already read, as if from one file called ``file_name``.

        The "file" is identified by the ids of its records, so adding the same
        records again adds nothing.
        """
        records = list(records)
        sha256 = hashlib.sha256("\n".join(r.id for r in records).encode()).hexdigest()
        summary = self.store.add_records(records, file_name=file_name, sha256=sha256, database=database,
                                         format=format)
        self._invalidate()
        return summary

    def records(self) -> list[Record]:
        """The active records (duplicates merged away are left out)."""
        return self.store.records(active_only=True)

    def _invalidate(self) -> None:
        for queue in self._queues.values():
            queue.close()
        self._queues.clear()
        self._seen.clear()

    # -- criteria -----------------------------------------------------------------
    @property
    def criteria(self) -> Any:
        """The review's :class:`~ldnscreen.criteria.Criteria`, or ``None``."""
        if not self._criteria_loaded:
            text = self.store.criteria_text
            if text:
                from .criteria import Criteria

                self._criteria = Criteria.loads(text)
            self._criteria_loaded = True
        return self._criteria

    def reasons(self, stage: str | None = None) -> list[str]:
        """Exclusion reasons the criteria list for ``stage``."""
        criteria = self.criteria
        return list(criteria.reasons(stage or self.stage)) if criteria is not None else []

    # -- ranking ------------------------------------------------------------------
    def queue(self, stage: str | None = None) -> ScreeningQueue:
        """The :class:`ScreeningQueue` of ``stage``, built on first use."""
        stage = _check_stage(stage or self.stage)
        queue = self._queues.get(stage)
        if queue is None:
            # read before the queue reads records and labels: whatever lands in between is caught by refresh()
            seen = _StoreSeen(self.store.data_version, self.store.last_log_id(), self.store.records_version())
            queue = self._queues[stage] = self._build_queue(stage)
            self._seen[stage] = seen
        return queue

    def refresh(self, stage: str | None = None) -> Refresh:
        """Catch the queue of ``stage`` up with what other processes wrote to the review.

        Another reviewer's session, ``ldnscreen label`` or an import may
        write to the same file while this review is open. Decisions made
        there are given to the queue (so their records are not offered again
        and :meth:`progress` counts them); imported or merged records make
        the queue be rebuilt on its next use. When nobody else wrote, this
        costs one ``PRAGMA`` (SQLite's ``data_version``); otherwise one query
        for the new log rows and one indexed query per record they touch.

        Returns
        -------
        Refresh
        """
        stage = _check_stage(stage or self.stage)
        queue, seen = self._queues.get(stage), self._seen.get(stage)
        if queue is None or seen is None:
            return Refresh()  # built from the store on its next use
        version = self.store.data_version
        if version == seen.data_version:
            return Refresh()
        rows = self.store.decisions_after(seen.log_id)
        # imports or merges made elsewhere, or for the full-text queue title-abstract decisions (they
        # change which records it holds): the queue is rebuilt
        screened = stage == "full-text" and any(d.stage == "title-abstract" and d.label != "note" for d in rows)
        if screened or self.store.records_version() != seen.records_version:
            queue.close()
            del self._queues[stage], self._seen[stage]
            return Refresh(records_changed=True)
        touched = dict.fromkeys(d.record_id for d in rows if d.stage == stage and d.label != "note")
        decided, changed = [], []
        for record_id in touched:
            try:
                known = queue.label_of(record_id)
            except KeyError:  # a copy merged away: its decision is the record it was merged into's
                record_id = self.store.active_id(record_id)
                try:
                    known = queue.label_of(record_id)
                except KeyError:
                    continue
            standing = self.store.standing_decision(record_id, stage)
            label = None if standing is None else LABELS[standing.label]
            if label == known:
                continue  # this session's own decision, or no change
            if label is None:
                queue.unlabel(record_id)
            else:
                queue.label(record_id, label)
                (decided if known is None else changed).append(standing)
        seen.data_version = version
        seen.log_id = max([seen.log_id, *(d.id for d in rows)])
        return Refresh(decided=tuple(decided), changed=tuple(changed))

    def standing_decision(self, record_id: str, stage: str | None = None) -> Any:
        """The current decision of one record at ``stage`` as the store has it now, or ``None``."""
        return self.store.standing_decision(record_id, _check_stage(stage or self.stage))

    def _build_queue(self, stage: str) -> ScreeningQueue:
        from .rankers import ActiveLearner

        records = self.records()
        criteria = self.criteria
        learner = ActiveLearner(prior=criteria, random_state=self.random_state)
        if records:
            features, X = self._features(records)
            learner.set_matrix(X, features)
            if criteria is not None:
                learner.set_prior_scores(self._prior_scores(records, X, features))
        active = {r.id for r in records}
        labels = {
            record_id: LABELS[decision.label]
            for record_id, decision in self.store.current_labels(stage).items()
            if record_id in active
        }
        suggest = (lambda record: criteria.suggest_reason(record, stage)) if criteria is not None else None
        return ScreeningQueue(records, learner, background=self.background, suggest_reason=suggest, labels=labels)

    def _cache_key(self, records: Sequence[Record], what: str, params: str) -> str:
        digest = hashlib.sha256()
        for r in records:
            digest.update(r.id.encode())
            digest.update(b"\n")
        digest.update(f"{what}|{FEATURES_CACHE_VERSION}|{params}".encode())
        return f"{what}:{digest.hexdigest()[:32]}"

    def _features(self, records: Sequence[Record]) -> tuple[Any, Any]:
        """Fitted TextFeatures and the matrix of ``records``, from the store's cache when valid."""
        from .features import TextFeatures, load_matrix, save_matrix

        features = TextFeatures()
        params = repr(sorted((k, str(v)) for k, v in features.get_params().items()))
        matrix_key = self._cache_key(records, "matrix", params)
        features_key = self._cache_key(records, "features", params)
        matrix_blob, features_blob = self.store.get_blob(matrix_key), self.store.get_blob(features_key)
        if matrix_blob is not None and features_blob is not None:
            return TextFeatures.from_bytes(features_blob), load_matrix(matrix_blob)
        X = features.fit_transform(records)
        # a stale cache (records changed by an import or a dedupe) is replaced, not kept
        self._cache({"matrix:": (matrix_key, save_matrix(X)), "features:": (features_key, features.to_bytes())})
        return features, X

    def _cache(self, entries: dict[str, tuple[str, bytes]]) -> None:
        """Replace the cached blobs under each prefix; skipped when the review cannot be written now.

        The cache only saves the next session time: a review opened read-only,
        or busy with another process's write, is ranked without it.
        """
        from .store import StoreBusy

        if getattr(self.store, "readonly", False):
            return
        try:
            for prefix, (key, data) in entries.items():
                self.store.delete_blobs(prefix)
                self.store.put_blob(key, data)
        except StoreBusy:
            pass

    def _prior_scores(self, records: Sequence[Record], X: Any, features: Any) -> np.ndarray:
        text = self.store.criteria_text or ""
        key = self._cache_key(records, "prior", hashlib.sha256(text.encode()).hexdigest())
        blob = self.store.get_blob(key)
        if blob is not None:
            return np.load(io.BytesIO(blob), allow_pickle=False)
        from .prior import CriteriaPrior

        scores = np.asarray(CriteriaPrior(self.criteria).scores(records, X, features), dtype=float)
        buffer = io.BytesIO()
        np.save(buffer, scores, allow_pickle=False)
        self._cache({"prior:": (key, buffer.getvalue())})
        return scores

    def _candidates(self, stage: str) -> set[str] | None:
        if stage == "title-abstract":
            return None
        return {rid for rid, d in self.store.current_labels("title-abstract").items() if d.label == "include"}

    def next(self, n: int = 1, *, stage: str | None = None, exclude: Iterable[str] = ()) -> list[QueueItem]:
        """The ``n`` records to screen next, best first.

        Parameters
        ----------
        n : int, default=1
            How many.
        stage : str or None
            Defaults to the review's stage.
        exclude : iterable of str
            Record ids to leave out (e.g. skipped in this session).
        """
        stage = _check_stage(stage or self.stage)
        return self.queue(stage).next(n, exclude=exclude, candidates=self._candidates(stage))

    def item(self, record_id: str, *, stage: str | None = None) -> QueueItem:
        """The queue entry (score, suggested reason, top terms) of one record."""
        return self.queue(stage).item(record_id)

    def ranking(self, *, stage: str | None = None, explain: bool = False) -> list[QueueItem]:
        """Every record not screened yet at ``stage``, in queue order.

        Parameters
        ----------
        stage : str or None
            Defaults to the review's stage.
        explain : bool, default=False
            Fill every item's ``top_terms`` (otherwise only the head of the
            ranking has them); costs about a millisecond per record.
        """
        stage = _check_stage(stage or self.stage)
        return self.queue(stage).ranking(candidates=self._candidates(stage), explain=explain)

    # -- decisions ----------------------------------------------------------------
    def decide(
        self,
        record_id: str,
        label: str,
        reason: str | None = None,
        stage: str | None = None,
        reviewer: str | None = None,
        note: str | None = None,
    ) -> Any:
        """Record a decision; it is committed before this returns.

        Parameters
        ----------
        record_id : str
            The record decided on.
        label : {"include", "exclude"}
            The decision.
        reason : str or None
            Exclusion reason (from the criteria's reasons for the stage).
        stage : str or None
            Defaults to the review's stage.
        reviewer : str or None
            Who decided.
        note : str or None
            Free-text note kept with the decision.

        Returns
        -------
        Decision
        """
        stage = _check_stage(stage or self.stage)
        if label not in LABELS:
            raise ValueError(f"label must be 'include' or 'exclude', not {label!r}")
        decision = self.store.decide(record_id, label, stage=stage, reason=reason, reviewer=reviewer, note=note)
        queue = self._queues.get(stage)
        if queue is not None:
            queue.label(record_id, LABELS[label])
        return decision

    def undo(self, stage: str | None = None, reviewer: str | None = None, *,
             among: Sequence[int] | None = None) -> Any:
        """Undo the last decision at ``stage`` (by ``reviewer`` when given; one of the
        decision ids ``among`` when given, as a screening session undoes its own).

        Returns
        -------
        Decision or None
            The decision undone, or ``None`` when there was nothing to undo.
        """
        stage = _check_stage(stage or self.stage)
        undone = self.store.undo_last(stage=stage, reviewer=reviewer, among=among)
        queue = self._queues.get(stage)
        if undone is not None and queue is not None:
            record_id = self.store.active_id(undone.record_id)  # (a decision on a copy merged since)
            current = self.store.current_labels(stage).get(record_id)
            if current is None:
                queue.unlabel(record_id)
            else:
                queue.label(record_id, LABELS[current.label])
        return undone

    def add_note(self, record_id: str, note: str, *, stage: str | None = None,
                 reviewer: str | None = None) -> Any:
        """Attach a note to a record without deciding it (committed before return)."""
        return self.store.add_note(record_id, note, stage=_check_stage(stage or self.stage), reviewer=reviewer)

    def decisions(self, stage: str | None = None) -> list[Any]:
        """The decision log (every stage when ``stage`` is ``None``)."""
        return self.store.decisions(stage=stage)

    def current_labels(self, stage: str | None = None) -> dict[str, Any]:
        """Latest decision per record at ``stage``."""
        return self.store.current_labels(stage=_check_stage(stage or self.stage))

    def stopping_inputs(self, stage: str | None = None) -> tuple[list[int], int]:
        """Labels in the order they were made and the number of records to screen.

        This is what :func:`ldnscreen.stopping.stopping_estimate` reads from a
        review: each record counts once, with its current decision, at the
        position of that decision in the log.
        """
        stage = _check_stage(stage or self.stage)
        # current_labels is ordered by each record's latest standing decision
        labels = [LABELS[d.label] for d in self.store.current_labels(stage).values()]
        return labels, self._total(stage)

    def _total(self, stage: str) -> int:
        candidates = self._candidates(stage)
        if candidates is not None:
            return len(candidates)
        return len(self.store.active_ids())

    def stopping_estimate(self, stage: str | None = None, **kwargs: Any) -> Any:
        """:func:`ldnscreen.stopping.stopping_estimate` of ``stage``, or ``None`` before any decision."""
        from .stopping import stopping_estimate

        labels, n_total = self.stopping_inputs(stage)
        if not labels:
            return None
        return stopping_estimate(labels, n_total=n_total, **kwargs)

    @property
    def name(self) -> str:
        """The review's name."""
        return self.store.name

    def progress(self, stage: str | None = None) -> Progress:
        """Screened, included, excluded and left at ``stage``."""
        stage = _check_stage(stage or self.stage)
        queue = self._queues.get(stage)
        if queue is not None and stage == "title-abstract":
            # the queue mirrors every decision made through this Review: no query needed
            labels = queue.labelled()
            included = sum(labels.values())
            total = len(queue.records)
            return Progress(stage, len(labels), included, len(labels) - included, total - len(labels), total)
        current = self.store.current_labels(stage)
        candidates = self._candidates(stage)
        if candidates is not None:
            current = {k: v for k, v in current.items() if k in candidates}
        included = sum(d.label == "include" for d in current.values())
        total = self._total(stage)
        return Progress(
            stage=stage,
            screened=len(current),
            included=included,
            excluded=len(current) - included,
            left=max(total - len(current), 0),
            total=total,
        )


def _criteria_text(criteria: Any) -> str | None:
    """TOML text for the store from a path, TOML text or a :class:`~ldnscreen.criteria.Criteria`."""
    from .criteria import Criteria

    if criteria is None:
        return None
    if isinstance(criteria, Criteria):
        return _criteria_toml(criteria)
    if isinstance(criteria, Path) or (isinstance(criteria, str) and "\n" not in criteria and criteria.endswith(".toml")):
        text = Path(criteria).read_text(encoding="utf-8")
    elif isinstance(criteria, str):
        text = criteria
    else:
        raise TypeError(f"criteria must be a path, TOML text or a Criteria, not {type(criteria).__name__}")
    Criteria.loads(text)  # refuse broken criteria now rather than at the first ranking
    return text


def _toml_value(value: Any) -> str:
    # a JSON string or list of strings is a valid TOML basic string / array
    import json

    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(json.dumps(str(v), ensure_ascii=False) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _criteria_toml(criteria: Any) -> str:
    """A :class:`~ldnscreen.criteria.Criteria` written back as TOML (it keeps no source text).

    Examples
    --------
    >>> from ldnscreen.criteria import Criteria
    >>> path = Path(__file__).resolve().parents[1] / "corpora" / "ldn_review" / "criteria.toml"
    >>> criteria = Criteria.load(path)
    >>> Criteria.loads(_criteria_toml(criteria)) == criteria
    True
    """
    lines = [f"name = {_toml_value(criteria.name)}", f"question = {_toml_value(criteria.question)}", "", "[search]",
             f"query = {_toml_value(criteria.query)}", f"databases = {_toml_value(criteria.databases)}"]
    for key in ("date_from", "date_to"):
        if getattr(criteria, key) is not None:
            lines.append(f"{key} = {_toml_value(getattr(criteria, key).isoformat())}")
    if criteria.records_found:
        found = ", ".join(f"{_toml_value(k)} = {int(v)}" for k, v in criteria.records_found.items())
        lines.append(f"records_found = {{ {found} }}")
    lines += ["", "[inclusion]", f"description = {_toml_value(criteria.inclusion_description)}",
              f"terms = {_toml_value(criteria.inclusion_terms)}"]
    for exclusion in criteria.exclusions:
        lines += ["", "[[exclusion]]", f"reason = {_toml_value(exclusion.reason)}",
                  f"stage = {_toml_value(exclusion.stage)}"]
        for key in ("patterns", "publication_types", "requires", "languages_allowed"):
            lines.append(f"{key} = {_toml_value(getattr(exclusion, key))}")
    return "\n".join(lines) + "\n"
