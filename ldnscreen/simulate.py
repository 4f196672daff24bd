"""Simulation mode: replay a fully labelled dataset through the active learner.

A simulation pretends a reviewer screens a dataset whose labels are already
known. It draws prior records at random (``prior_included`` relevant and
``prior_excluded`` irrelevant ones, from one random generator resolved once
from ``seed``), labels them, and then asks :class:`ldnscreen.rankers.ActiveLearner`
for the next record one at a time, labelling each with its known label, until
the last relevant record is found (or every record, or ``N`` records). The
learner retrains after every label while it has few labels, as ASReview does.

The screening order is scored with :mod:`ldnscreen.metrics` (priors excluded)
and written by :func:`write_outputs` as ``order.csv``, ``metrics.json`` and
``recall.png``; ``benchmarks/score_order.py`` rescored ``order.csv``
independently.
"""

from __future__ import annotations

import csv
import json
import math
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .metrics import complete_order, screening_metrics, undecided_metrics
from .records import Provenance, Record

__all__ = [
    "SimulationResult",
    "simulate",
    "simulate_file",
    "draw_priors",
    "batch_schedule",
    "load_labelled_records",
    "write_outputs",
    "simulate_seeds",
    "parse_seeds",
    "summarise",
    "write_summary",
]


@dataclass(frozen=True)
class SimulationResult:
    """The outcome of one simulated screening.

    Parameters
    ----------
    label : str
        Label column that was simulated (``label_included``...).
    seed : int or None
        Seed of the run.
    record_ids : tuple of str
        Every screened record in screening order, priors first; the input's own
        ``record_id`` when it has one, otherwise its 0-based row number.
    labels : tuple of int
        Their labels, in the same order.
    n_priors : int
        How many of the first entries are priors.
    n_records, n_relevant : int
        Records and relevant records in the whole dataset, priors included.
    metrics : dict
        :func:`ldnscreen.metrics.screening_metrics` of the order, priors excluded.
    wall_seconds : float
        Time from fitting the features to the last screened record.
    peak_memory_mb : float
        Peak resident memory of the process (``ru_maxrss``) after the run.
    cpu_seconds : float
        Processor time of the same span (``time.process_time``); on a busy
        machine a steadier measure of cost than wall time.
    stopping : dict or None
        Per stopping rule: where it stopped, its recall and work saved.
    dataset : str
        Name of the dataset.
    settings : dict
        Learner parameters and simulation options.
    rows : tuple of int
        The screened records' positions in the ``records`` given to
        :func:`simulate`, in the order of ``record_ids`` (which may be row
        numbers of the labelled records only, or ids that repeat in the file).
    """

    label: str
    seed: int | None
    record_ids: tuple[str, ...]
    labels: tuple[int, ...]
    n_priors: int
    n_records: int
    n_relevant: int
    metrics: dict
    wall_seconds: float
    peak_memory_mb: float
    stopping: dict | None = None
    dataset: str = ""
    settings: dict = field(default_factory=dict)
    cpu_seconds: float = float("nan")
    rows: tuple[int, ...] = ()

    @property
    def screened_labels(self) -> tuple[int, ...]:
        """Labels in screening order without the priors."""
        return self.labels[self.n_priors :]


def load_labelled_records(path: str | Path, *, encoding: str | None = None, label: str | None = None) -> list[Record]:
    """Records of a labelled file, with ``labels`` and ``provenance[0].source_id``.

    A CSV, TSV or XLSX file is read row by row keeping *every* row, also one
    with neither title nor abstract (``cohen2006_aceinhibitors`` has one): a
    simulation must screen the dataset as published, as ASReview does, so that
    record counts and metrics stay comparable. Its columns are found as
    ``ldnscreen import`` finds them (``title``, ``Title``, ``TI``,
    ``abstract``, ``AB``...; see :data:`ldnscreen.io.tabular.COLUMNS`), a
    ``.csv`` whose header has semicolons and no comma is read as
    semicolon-separated (Excel's CSV in many locales), and a text file must be
    UTF-8 unless ``encoding`` says otherwise. Labels come from ``label_*``
    columns (0/1, or words such as include/exclude; -1 or an empty cell is no
    label), else from a decision column (ldnscreen's and ASReview's exports;
    see :func:`ldnscreen.labels_import.row_labels`). A value in a ``label_*``
    column that is not a label stops with the file, row and column named
    (with ``label``, only in the column of that label: another ``label_*``
    column, e.g. reviewers' notes, is then read where it holds labels); so
    does a decision that is not one in a CSV or TSV, while a spreadsheet's
    unknown decision (Rayyan's "conflict") is no label, as ``ldnscreen
    import`` reads it. A text file whose lines end in ``\r`` alone (Excel's
    "CSV (Macintosh)") is read as if they ended in ``\n``. Other formats
    (RIS, MEDLINE, PubMed XML, Web of Science) go through
    :func:`ldnscreen.io.read_file`, which reads labels the same way and here
    keeps a record without a title too.

    Raises
    ------
    ldnscreen.io.ReadError
        The file cannot be read or decoded, or has neither a title nor an
        abstract column.
    ValueError
        A label is not a label (the file and row are named).
    """
    from .io.base import ReadError, _read_source, decode_bytes, iter_lines
    from .io.tabular import _cell, csv_delimiter, old_mac_line_ends, xlsx_rows

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".xlsx"):
        from .io import read_file

        return list(read_file(path, encoding=encoding, keep_untitled=True).records)
    content, name = _read_source(path)
    if suffix == ".xlsx":
        cells = ([_cell(value) for value in row] for row in xlsx_rows(content, name))
        return _labelled_rows(name, (row for row in cells if any(row)), strict_decisions=False, label=label)
    text = old_mac_line_ends(decode_bytes(content, name, encoding).lstrip("\ufeff"))
    del content
    csv.field_size_limit(2**31 - 1)
    reader = csv.reader(iter_lines(text, keepends=True), delimiter="\t" if suffix == ".tsv" else csv_delimiter(text))
    try:
        return _labelled_rows(name, (cells for cells in reader if cells), label=label)  # (an empty line is no row)
    except csv.Error as error:
        raise ReadError(name, f"line {reader.line_num}", f"not valid {suffix[1:].upper()}: {error}") from None


def _labelled_rows(name: str, rows, strict_decisions: bool = True, label: str | None = None) -> list[Record]:
    """Records of a table's rows (the first holds the column names) for :func:`load_labelled_records`.

    Values of the ``label_*`` columns (of ``label``'s column only, when given) must be labels; a
    decision column's values too with ``strict_decisions``.
    """
    from .io.base import ReadError, unescape_entities
    from .io.tabular import _key, find_columns
    from .labels_import import _failed_column, _text, label_columns, label_name, parse_decision, row_labels

    rows = iter(rows)
    header = [str(cell).strip().lstrip("\ufeff") for cell in next(rows, [])]
    keys = [_key(h) for h in header]
    found = find_columns(keys)
    where = {field: found[field][0] if field in found else None for field in ("title", "abstract", "pmid", "year")}
    # the file's own record_id column only (not import's other id columns), else row numbers
    where["record_id"] = keys.index("recordid") if "recordid" in keys else None
    keyword_columns = found.get("keywords", [])  # (Scopus: author + index keywords)
    if where["title"] is None and where["abstract"] is None:
        raise ReadError(name, "line 1", "no title or abstract column (expected e.g. title, Title, TI, abstract, AB); "
                                        f"columns found: {', '.join(h for h in header if h) or 'none'}")
    columns = label_columns(header)
    checked = [column for column in columns[0] if label is None or label_name(column) == label]
    records = []
    for row_number, cells in enumerate(rows):
        row = dict(zip(header, cells))
        for column in checked:
            try:
                parse_decision(_text(row.get(column)))
            except ValueError as exc:  # (row 1 is the header, as in a spreadsheet)
                raise ValueError(f"{name}: row {row_number + 2}, column {column}: {exc}") from None
        try:
            labels = row_labels(row, columns, strict=strict_decisions and not columns[0])
        except ValueError as exc:  # the decision, or its stage
            column = _failed_column(row, columns, exc)
            raise ValueError(f"{name}: row {row_number + 2}, column {column}: {exc}") from None

        def get(field: str) -> str:
            i = where[field]
            return cells[i].strip() if i is not None and i < len(cells) else ""

        year = get("year")
        try:
            year = int(float(year)) if year else None
        except ValueError:
            year = None  # a year is not needed to screen
        # (entities decoded as import decodes them; a keyword cell before its split: "&alpha;" holds a ";")
        keywords = (k.strip() for i in keyword_columns if i < len(cells) for k in unescape_entities(cells[i]).split(";"))
        records.append(
            Record(
                title=unescape_entities(get("title")),
                abstract=unescape_entities(get("abstract")),
                keywords=tuple(dict.fromkeys(k for k in keywords if k)),
                pmid=get("pmid"),
                year=year,
                provenance=(Provenance("csv", name, row_number, get("record_id")),),
                labels=labels,
            )
        )
    if not records:
        raise ReadError(name, "line 2", "the file has column names and no record")
    return records


def _named_priors(prior_ids: Sequence[str], ids: Sequence[str], label: str) -> list[int]:
    """Row indices (among the labelled records, whose ids are ``ids``) of the records named by ``prior_ids``.

    Examples
    --------
    >>> _named_priors(["R7", "R2"], ["R2", "R5", "R7"], "label_included")
    [2, 0]
    >>> _named_priors(["R2", "R9"], ["R2", "R5", "R7"], "label_included")
    Traceback (most recent call last):
    ...
    ValueError: prior record R9 is not one of the 3 records labelled 'label_included' (by record_id, or row number from 0 where there is none)
    """
    position = {record_id: i for i, record_id in enumerate(ids)}
    chosen = []
    for record_id in prior_ids:
        if record_id not in position:
            raise ValueError(f"prior record {record_id} is not one of the {len(ids)} records labelled {label!r} "
                             "(by record_id, or row number from 0 where there is none)")
        if position[record_id] in chosen:
            raise ValueError(f"prior record {record_id} is named twice")
        chosen.append(position[record_id])
    return chosen


def _repeated_id(ids: Sequence[str]) -> str | None:
    """The first id in ``ids`` that is there twice, or ``None`` when they are all different.

    Examples
    --------
    >>> _repeated_id(["R1", "R2", "0"]), _repeated_id(["R1", "R2", "R1"])
    (None, 'R1')
    """
    seen: set[str] = set()
    for record_id in ids:
        if record_id in seen:
            return record_id
        seen.add(record_id)
    return None


def _source_id(record: Record, index: int) -> str:
    if record.provenance and record.provenance[0].source_id:
        return record.provenance[0].source_id
    return str(index)


def draw_priors(y: Sequence[int], random_state, prior_included: int = 1, prior_excluded: int = 1) -> list[int]:
    """Row indices of the prior records: relevant ones first, then irrelevant ones.

    Parameters
    ----------
    y : sequence of int
        Labels of all records.
    random_state : numpy.random.RandomState
        The run's generator (already resolved); this is its first use in
        :func:`simulate`, so the same seed always gives the same priors.
    prior_included, prior_excluded : int
        How many relevant and irrelevant priors to draw.

    Examples
    --------
    >>> rng = np.random.RandomState(0)
    >>> priors = draw_priors([0, 1, 0, 0, 1, 0], rng, 1, 2)
    >>> len(priors), [int(i) in (1, 4) for i in priors]
    (3, [True, False, False])
    """
    y = np.asarray(y)
    included, excluded = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if prior_included > len(included) or prior_excluded > len(excluded):
        raise ValueError(
            f"cannot draw {prior_included} relevant and {prior_excluded} irrelevant priors "
            f"from {len(included)} relevant and {len(excluded)} irrelevant records"
        )
    chosen = list(random_state.choice(included, prior_included, replace=False)) if prior_included else []
    chosen += list(random_state.choice(excluded, prior_excluded, replace=False)) if prior_excluded else []
    return [int(i) for i in chosen]


def batch_schedule(batch_size: str | int, n_labels: int, growth: float = 0.02) -> int:
    """Records to screen before the next retrain, given the labels so far.

    Examples
    --------
    >>> [batch_schedule("auto", n) for n in (2, 100, 101, 500, 2000)]
    [1, 1, 3, 10, 40]
    >>> batch_schedule(5, 1000)
    5
    """
    if batch_size == "auto":
        return 1 if n_labels <= 100 else max(1, math.ceil(growth * n_labels))
    return max(1, int(batch_size))


def _make_learner(learner, random_state):
    """A fresh learner with the template's constructor parameters.

    ``ActiveLearner`` is not a scikit-learn estimator (no ``get_params``), so
    the template is copied through its constructor signature instead of
    ``sklearn.base.clone``.
    """
    import inspect

    from .rankers import ActiveLearner

    if learner is None:
        return ActiveLearner(random_state=random_state)
    names = [p for p in inspect.signature(type(learner).__init__).parameters if p != "self"]
    params = {name: getattr(learner, name) for name in names if hasattr(learner, name)}
    if params.get("random_state") is None:
        params["random_state"] = random_state
    return type(learner)(**params)


def _describe(learner) -> dict:
    """Constructor parameters of the learner, as text, for ``metrics.json``."""
    import inspect

    from .criteria import Criteria

    names = [p for p in inspect.signature(type(learner).__init__).parameters if p != "self"]
    described = {}
    for name in names:
        if name != "random_state" and hasattr(learner, name):
            value = getattr(learner, name)
            # (criteria by name: their whole text is not a setting to read in metrics.json)
            described[name] = f"Criteria({value.name!r})" if isinstance(value, Criteria) else repr(value)
    return described


def _evaluate_stopping(spec, screened_labels, n_records, n_relevant) -> dict:
    from .stopping import evaluate_rules, parse_rules

    rules = parse_rules(spec) if isinstance(spec, str) else spec
    # After the last relevant record every remaining record is irrelevant, so
    # completing the order with zeros is exact whenever all relevant were found.
    full = complete_order(screened_labels, n_records, n_relevant).tolist()
    outcomes = evaluate_rules(full, rules, n_records, n_relevant)
    if sum(screened_labels) < n_relevant:  # stopped first: past the records screened the labels are made up
        for outcome in outcomes.values():  # (the pessimistic completion), so is a rule firing there
            stopped_at = outcome.get("stopped_at")
            outcome["decided"] = stopped_at is not None and stopped_at <= len(screened_labels)
    return outcomes


def simulate(
    records: Sequence[Record],
    label: str = "label_included",
    seed: int | None = 0,
    prior_included: int = 1,
    prior_excluded: int = 1,
    stop: str | int = "last-relevant",
    stopping: str | None = None,
    progress: bool = True,
    learner=None,
    dataset: str = "",
    batch_size: str | int = "auto",
    batch_growth: float = 0.02,
    criteria=None,
    prior_ids: Sequence[str] | None = None,
) -> SimulationResult:
    """Simulate screening ``records`` with their known labels.

    Parameters
    ----------
    records : sequence of Record
        Records whose ``labels`` hold ``label``; records without it are left out.
    label : str, default="label_included"
        Which label to simulate (``label_abstract_screening`` for the
        title-abstract decisions).
    seed : int or None, default=0
        Seed of the one random generator of the run (priors, then learner).
    prior_included, prior_excluded : int, default=1
        Prior records drawn at random and labelled before the first training.
    stop : {"last-relevant", "all"} or int, default="last-relevant"
        Stop after the last relevant record, after every record, or after
        ``stop`` records screened (priors not counted).
    stopping : str, optional
        Stopping rules to evaluate on the order, e.g. ``"buscar,knee"``
        (see :mod:`ldnscreen.stopping`).
    progress : bool, default=True
        Show a progress bar on stderr.
    learner : ActiveLearner, optional
        Unfitted learner whose constructor parameters to use (a fresh copy
        is made, so the same template can serve many runs); the default
        is ``ActiveLearner()``. Its ``random_state`` is set to the run's
        generator when left at ``None``.
    dataset : str, default=""
        Name stored in the result.
    batch_size : "auto" or int, default="auto"
        Records screened between two retrains. ``"auto"``: one at a time for
        the first 100 labels (as ASReview), then ``ceil(batch_growth *
        labels)`` (see :func:`batch_schedule`).
    batch_growth : float, default=0.02
        Growth of the automatic batch with the number of labels.
    criteria : Criteria or path, optional
        The review's criteria (:class:`ldnscreen.criteria.Criteria`, or a
        criteria file) as the learner's prior, in place of the learner's own:
        records are ranked by it until an inclusion and an exclusion are
        labelled, then it is blended in with a weight that falls as labels
        arrive (``ActiveLearner.prior``). With
        ``prior_included=0, prior_excluded=0`` this replays a review that
        starts from its criteria alone.
    prior_ids : sequence of str, optional
        The prior records by id (the input's ``record_id``, or row number
        from 0 where it has none), in place of drawing ``prior_included`` and
        ``prior_excluded`` at random: to replay a study's own priors, or to
        give two tools the same ones (ASReview's ``--prior-idx``). The seed
        then only seeds the learner.

    Returns
    -------
    SimulationResult

    Examples
    --------
    >>> recs = [Record(title=f"naltrexone pain trial {i}", labels={"label_included": 1}) for i in range(4)]
    >>> recs += [Record(title=f"rat liver enzyme study {i}", labels={"label_included": 0}) for i in range(16)]
    >>> result = simulate(recs, seed=1, progress=False)
    >>> result.n_priors, result.metrics["n_relevant"], sum(result.screened_labels)
    (2, 3, 3)
    """
    from sklearn.utils import check_random_state

    from .criteria import read_criteria_file
    from .rankers import _single_threaded

    if isinstance(criteria, (str, PathLike)):  # a criteria file
        criteria = read_criteria_file(criteria)[1]

    keep = [i for i, r in enumerate(records) if label in r.labels]
    if not keep:
        from .labels_import import DECISION_COLUMNS

        found = sorted({name for r in records for name in r.labels})
        raise ValueError(f"no record carries the label {label!r} (labels found: {', '.join(found) or 'none'}; "
                         "labels are read from label_* columns or a decision column: "
                         f"{', '.join(DECISION_COLUMNS)}; for an export without them, e.g. MEDLINE, give them in a "
                         "CSV, TSV or XLSX file: --labels FILE)")
    # ids before leaving out the records without the label: a row number is the input file's
    ids = [_source_id(records[i], i) for i in keep]
    repeated = _repeated_id(ids)
    if repeated is not None:  # ids that do not identify a record are no ids: every record gets its row number
        ids = [str(i) for i in keep]
    left_out = len(records) - len(keep)
    records = [records[i] for i in keep]
    y = np.array([int(r.labels[label]) for r in records], dtype=np.int64)
    n_records, n_relevant = len(y), int(y.sum())

    if prior_included < 0 or prior_excluded < 0:
        raise ValueError(f"the numbers of priors cannot be negative (--prior-included {prior_included}, "
                         f"--prior-excluded {prior_excluded})")
    rng = check_random_state(seed)
    if prior_ids is not None:
        try:
            priors = _named_priors(prior_ids, ids, label)
        except ValueError as exc:
            if repeated is None:
                raise
            raise ValueError(f"{exc}; the file's record_id {repeated!r} is on more than one record, so the records "
                             "are named by row number") from None
        prior_included = int(y[priors].sum())
        prior_excluded = len(priors) - prior_included
    else:
        try:
            priors = draw_priors(y, rng, prior_included, prior_excluded)
        except ValueError as exc:
            if not left_out:
                raise
            many = left_out != 1
            raise ValueError(f"{exc}; {left_out} record{'s' * many} with no {label} value (an empty cell, -1 or "
                             f"another 'not labelled' mark) {'were' if many else 'was'} left out") from None
    target_relevant = n_relevant - int(y[priors].sum())
    if target_relevant == 0:  # every metric is undefined: say why instead of failing in the metrics
        advice = " (name fewer relevant priors)" if prior_ids is not None else (
            f" (use --prior-included {n_relevant - 1})")
        raise ValueError(
            f"no relevant record to find: {n_relevant} of the {n_records} records are labelled relevant for "
            f"{label!r}" + (f", and {prior_included} relevant prior(s) take them all{advice}" if n_relevant else "")
        )
    if int((y[priors] == 0).sum()) == n_records - n_relevant:  # only relevant records left: no loss, no WSS
        how = "the named priors take" if prior_ids is not None else f"{prior_excluded} irrelevant prior(s) take"
        advice = f", and {how} them all (use --prior-excluded 0)" if n_records > n_relevant else ""
        raise ValueError(f"no irrelevant record left to screen: {n_records - n_relevant} of the {n_records} records "
                         f"are labelled irrelevant for {label!r}{advice}")
    n_pool = n_records - len(priors)
    if stop in ("last-relevant", "all"):
        budget = n_pool
    elif isinstance(stop, (int, np.integer)) and stop >= 0:
        budget = min(int(stop), n_pool)
    else:
        raise ValueError(f"stop must be 'last-relevant', 'all' or a number of records, got {stop!r}")

    start, start_cpu = time.perf_counter(), time.process_time()
    model = _make_learner(learner, rng)
    if criteria is not None:
        model.prior = criteria
    order: list[int] = []
    found = 0
    bar = _progress_bar(progress, budget, dataset or label)
    # One small fit per record: BLAS/OpenMP thread pools only add overhead
    # (up to 7x slower per retrain on a busy 2-core machine). The learner's
    # cached controller: a new one looks up the loaded libraries (~5 ms).
    with _single_threaded(), bar:
        model.fit_features(records)
        for i in priors:
            model.label(i, int(y[i]))
        task = bar.add_task("screening", total=budget, found=0, relevant=target_relevant)
        while len(order) < budget and not (stop == "last-relevant" and found == target_relevant):
            k = min(batch_schedule(batch_size, len(priors) + len(order), batch_growth), budget - len(order))
            for i in model.next(n=k):
                model.label(i, int(y[i]))
                order.append(int(i))
                found += int(y[i])
                bar.update(task, advance=1, found=found)
                if stop == "last-relevant" and found == target_relevant:
                    break
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu

    screened = [int(y[i]) for i in order]
    metrics = screening_metrics(screened, n_pool, target_relevant)
    stop_result = _evaluate_stopping(stopping, screened, n_pool, target_relevant) if stopping else None
    full_order = priors + order
    settings = {
        "prior_included": prior_included,
        "prior_excluded": prior_excluded,
        "stop": stop,
        "batch_size": batch_size,
        "batch_growth": batch_growth,
        "records_without_label": left_out,
        "learner": _describe(model),
        "compiled": _compiled_in_use(),  # (wall time: the numpy fallback is 1.3-2.2x slower on small reviews)
    }
    if criteria is not None:
        settings["criteria"] = criteria.name
    if prior_ids is not None:
        settings["prior_ids"] = [ids[i] for i in priors]
    if repeated is not None:  # (order.csv's record_id: row numbers, not the file's column)
        settings["record_ids"] = f"row numbers: the file's record_id {repeated!r} is on more than one record"
    return SimulationResult(
        label=label,
        seed=seed,
        record_ids=tuple(ids[i] for i in full_order),
        labels=tuple(int(y[i]) for i in full_order),
        n_priors=len(priors),
        n_records=n_records,
        n_relevant=n_relevant,
        metrics=metrics,
        wall_seconds=wall,
        peak_memory_mb=_peak_memory_mb(),
        stopping=stop_result,
        dataset=dataset,
        settings=settings,
        cpu_seconds=cpu,
        rows=tuple(int(keep[i]) for i in full_order),
    )


def _compiled_in_use() -> bool:
    """Whether this simulation ran the compiled inner loops (``ldnscreen/_kernels.c``) or the numpy code."""
    from . import features, logistic

    return logistic._kernels is not None and features._kernels is not None


def _peak_memory_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *args, **kwargs):
        return 0

    def update(self, *args, **kwargs):
        pass


def _progress_bar(show: bool, total: int, name: str):
    if not show:
        return _NoProgress()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn(f"[bold]{name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("screened, {task.fields[found]}/{task.fields[relevant]} relevant found"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )


def write_outputs(result: SimulationResult, out_dir: str | Path) -> Path:
    """Write ``order.csv``, ``metrics.json`` and ``recall.png`` into ``out_dir``.

    Returns
    -------
    pathlib.Path
        The output folder.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "order.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["position", "record_id", "label", "is_prior"])
        for position, (rid, y) in enumerate(zip(result.record_ids, result.labels), start=1):
            writer.writerow([position, rid, y, int(position <= result.n_priors)])
    payload: dict[str, Any] = {
        "dataset": result.dataset,
        "label": result.label,
        "seed": result.seed,
        "n_records": result.n_records,
        "n_relevant": result.n_relevant,
        "n_priors": result.n_priors,
        "prior_record_ids": list(result.record_ids[: result.n_priors]),
        "n_screened": len(result.record_ids) - result.n_priors,
        "metrics": result.metrics,
        # metrics the records screened do not decide (stopped before the last relevant record): their
        # values count the unscreened relevant records as coming last, a pessimistic bound
        "undecided_metrics": undecided(result),
        "wall_seconds": round(result.wall_seconds, 4),
        "cpu_seconds": round(result.cpu_seconds, 4),
        "peak_memory_mb": round(result.peak_memory_mb, 1),
        "stopping": result.stopping,
        "settings": result.settings,
    }
    (out / "metrics.json").write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    plot_recall(result, out / "recall.png")
    return out


def undecided(result: SimulationResult) -> list[str]:
    """:func:`ldnscreen.metrics.undecided_metrics` of a simulation: [] unless it stopped before its last relevant
    record."""
    return undecided_metrics(result.screened_labels, result.metrics["n_records"], result.metrics["n_relevant"])


def plot_recall(result: SimulationResult, path: str | Path) -> None:
    """Recall curve of the simulation against random and perfect screening (the records screened only)."""
    wss = result.metrics["wss_95"]
    n = len(result.screened_labels)
    title = (f"{result.dataset or result.label}: WSS@95 = {wss:.3f}" if "wss_95" not in undecided(result)
             else f"{result.dataset or result.label}: stopped after {n} records, WSS@95 >= {wss:.3f}")
    _plot_recall_curves([result], path, title, "ldnscreen")


def _plot_recall_curves(results: Sequence[SimulationResult], path: str | Path, title: str, label: str) -> None:
    """Recall curves of runs on one dataset (thin lines when several) against random and perfect screening."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    several = len(results) > 1
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    n = max(result.metrics["n_records"] for result in results)
    r = results[0].metrics["n_relevant"]
    x = np.arange(0, n + 1)
    ax.plot(x, np.minimum(x / r, 1.0), color="grey", linestyle=":", label="perfect")
    ax.plot(x, x / n, color="black", linestyle="--", label="random (expected)")
    for k, result in enumerate(results):
        n_run, r_run = result.metrics["n_records"], result.metrics["n_relevant"]
        y = np.asarray(result.screened_labels, dtype=np.int64)
        if y.sum() == r_run:  # every relevant record found: the rest screen nothing new
            y = complete_order(y, n_run, r_run)
        ax.plot(np.arange(0, len(y) + 1), np.r_[0, np.cumsum(y)] / r_run, color="tab:blue",
                alpha=0.6 if several else 1.0, linewidth=1.0 if several else None, label=None if k else label)
    ax.set_xlabel("records screened (priors excluded)")
    ax.set_ylabel("recall")
    ax.set_title(title)
    ax.set_xlim(0, n)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def simulate_file(
    data: str | Path,
    out_dir: str | Path,
    *,
    label: str = "label_included",
    seed: int | None = 0,
    prior_included: int = 1,
    prior_excluded: int = 1,
    stop: str | int = "last-relevant",
    stopping: str | None = None,
    progress: bool = True,
    criteria: str | Path | None = None,
    encoding: str | None = None,
    prior_ids: Sequence[str] | None = None,
    labels_file: str | Path | None = None,
) -> SimulationResult:
    """Read a labelled file (and a criteria file), simulate it and write the outputs; used by ``ldnscreen simulate``.

    ``encoding`` is the file's text encoding when it is not UTF-8 (see :func:`load_labelled_records`);
    ``prior_ids`` names the prior records instead of drawing them (see :func:`simulate`);
    ``labels_file`` gives the records the labels of a separate CSV, TSV or XLSX file, matched by id,
    DOI, PMID or title (:func:`ldnscreen.labels_import.attach_labels`), e.g. for a MEDLINE export,
    which has no place for them; ``settings["labels_file"]`` then says how its rows matched.
    """
    records, criteria, attached = _read_inputs(data, criteria, encoding, label, labels_file)
    options = dict(label=label, prior_included=prior_included, prior_excluded=prior_excluded, stop=stop,
                   stopping=stopping, progress=progress, criteria=criteria, prior_ids=prior_ids)
    return _simulate_and_write(records, data, seed, out_dir, options, attached)


def _simulate_and_write(records, data: str | Path, seed, out_dir: str | Path, options: dict,
                        attached=None) -> SimulationResult:
    """:func:`simulate` of a file's records with one seed, its outputs written into ``out_dir``."""
    try:
        result = simulate(records, seed=seed, dataset=Path(data).stem, **options)
    except ValueError as exc:  # bad settings for this file's labels: name the file (and what --labels gave)
        raise ValueError(f"{data}: {exc}" + (f" [--labels: {attached.summary()}]" if attached else "")) from exc
    if attached is not None:
        result.settings["labels_file"] = attached.summary()
    write_outputs(result, out_dir)
    return result


def _read_inputs(data: str | Path, criteria: str | Path | None, encoding: str | None = None, label: str | None = None,
                 labels_file: str | Path | None = None):
    """The labelled records of ``data``, the :class:`~ldnscreen.criteria.Criteria` of a criteria file (or ``None``)
    and the :class:`~ldnscreen.labels_import.AttachedLabels` of a labels file (or ``None``).

    The criteria are read first: a bad criteria file stops before any work.
    """
    if criteria is not None:
        from .criteria import read_criteria_file

        criteria = read_criteria_file(criteria)[1]
    records = load_labelled_records(data, encoding=encoding, label=label)
    if labels_file is None:
        return records, criteria, None
    from .labels_import import attach_labels

    attached = attach_labels(records, labels_file)  # (its LabelImportError is a ValueError)
    return list(attached.records), criteria, attached


#: Metrics summarised over seeds by :func:`simulate_seeds` (``summary.csv``, ``summary.json``).
SUMMARY_METRICS = ("wss_95", "wss_100", "rrf_10", "rrf_25", "atd", "loss", "records_to_95_recall")


def parse_seeds(text: str) -> list[int]:
    """Seeds from ``"0-4"``, ``"0,3,7"`` or a mix (``"0-2,9"``), in the order given, without repeats.

    Examples
    --------
    >>> parse_seeds("0-2,9"), parse_seeds("5")
    ([0, 1, 2, 9], [5])
    >>> parse_seeds("4-1")
    Traceback (most recent call last):
    ...
    ValueError: --seeds: '4-1' is not a seed or a range of seeds like 0-4
    """
    seeds: list[int] = []
    for part in (text or "").split(","):
        part = part.strip()
        first, dash, last = part.partition("-")
        if first.isdigit() and (not dash or (last.isdigit() and int(last) >= int(first))):
            new = range(int(first), int(last) + 1) if dash else [int(first)]
            seeds += [seed for seed in new if seed not in seeds]
        else:
            raise ValueError(f"--seeds: {part!r} is not a seed or a range of seeds like 0-4")
    return seeds


def simulate_seeds(
    data: str | Path,
    out_dir: str | Path,
    seeds: Sequence[int],
    *,
    label: str = "label_included",
    prior_included: int = 1,
    prior_excluded: int = 1,
    stop: str | int = "last-relevant",
    stopping: str | None = None,
    progress: bool = True,
    criteria: str | Path | None = None,
    encoding: str | None = None,
    prior_ids: Sequence[str] | None = None,
    labels_file: str | Path | None = None,
) -> list[SimulationResult]:
    """:func:`simulate_file` once per seed, each into ``out_dir/seed-S``, and a summary over the seeds.

    Besides each seed's ``order.csv``, ``metrics.json`` and ``recall.png``, writes
    ``out_dir/summary.csv`` (one row per seed: :data:`SUMMARY_METRICS`, records
    screened, wall seconds), ``out_dir/summary.json`` (mean, standard deviation,
    minimum and maximum of each over the seeds, and the settings) and
    ``out_dir/recall.png`` (every seed's recall curve against random and perfect
    screening). The data and the criteria are read once.
    """
    if not seeds:
        raise ValueError("simulate_seeds needs at least one seed")
    records, criteria, attached = _read_inputs(data, criteria, encoding, label, labels_file)
    options = dict(label=label, prior_included=prior_included, prior_excluded=prior_excluded, stop=stop,
                   stopping=stopping, progress=progress, criteria=criteria, prior_ids=prior_ids)
    out = Path(out_dir)
    results = [_simulate_and_write(records, data, seed, out / f"seed-{seed}", options, attached) for seed in seeds]
    write_summary(results, out)
    return results


def summarise(results: Sequence[SimulationResult]) -> dict:
    """Mean, standard deviation (0 for one seed), minimum and maximum of each metric over the runs.

    ``undecided_metrics`` lists the metrics that are pessimistic bounds in at least one run (it
    stopped before its last relevant record; see :func:`undecided`).

    Examples
    --------
    >>> recs = [Record(title=f"naltrexone pain trial {i}", labels={"label_included": 1}) for i in range(4)]
    >>> recs += [Record(title=f"rat liver enzyme study {i}", labels={"label_included": 0}) for i in range(16)]
    >>> runs = [simulate(recs, seed=s, progress=False) for s in (1, 2)]
    >>> summary = summarise(runs)
    >>> summary["seeds"], sorted(summary["wss_95"])
    ([1, 2], ['max', 'mean', 'min', 'sd'])
    """
    import statistics

    summary: dict[str, Any] = {"seeds": [r.seed for r in results]}
    stopped_early = {name for r in results for name in undecided(r)}  # (bounds, not measurements: see write_outputs)
    summary["undecided_metrics"] = [name for name in SUMMARY_METRICS if name in stopped_early]
    columns = {m: [float(r.metrics[m]) for r in results] for m in SUMMARY_METRICS}
    columns["n_screened"] = [float(len(r.record_ids) - r.n_priors) for r in results]
    columns["wall_seconds"] = [float(r.wall_seconds) for r in results]
    for name, values in columns.items():
        summary[name] = {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                         "min": min(values), "max": max(values)}
    return summary


def write_summary(results: Sequence[SimulationResult], out_dir: str | Path) -> dict:
    """Write ``summary.csv``, ``summary.json`` and ``recall.png`` of several runs of one dataset; the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "summary.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["seed", "n_screened", *SUMMARY_METRICS, "wall_seconds"])
        for r in results:
            writer.writerow([r.seed, len(r.record_ids) - r.n_priors, *(r.metrics[m] for m in SUMMARY_METRICS),
                             round(r.wall_seconds, 4)])
    first = results[0]
    summary = summarise(results)
    payload = {"dataset": first.dataset, "label": first.label, "n_records": first.n_records,
               "n_relevant": first.n_relevant, **summary, "settings": {k: v for k, v in first.settings.items()}}
    (out / "summary.json").write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    plot_recall_runs(results, out / "recall.png", summary)
    return summary


def plot_recall_runs(results: Sequence[SimulationResult], path: str | Path, summary: dict | None = None) -> None:
    """Every run's recall curve (one line per seed) against random and perfect screening.

    ``summary`` is :func:`summarise` of ``results`` when already computed (its WSS@95 goes in the title).
    """
    first, wss = results[0], (summary or summarise(results))["wss_95"]
    title = f"{first.dataset or first.label}: WSS@95 = {wss['mean']:.3f} ± {wss['sd']:.3f} ({len(results)} seeds)"
    _plot_recall_curves(results, path, title, "ldnscreen, one line per seed")
