"""The library functions behind the foundation commands of the command line.

``ldnscreen.cli`` only parses arguments and prints; the work of ``init``,
``import``, ``dedupe``, ``status`` and ``export`` is done here so that other
projects can call it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .records import Record
from .store import STAGES, ImportSummary, MergeSummary, ReviewStore, StoreError, review_path

__all__ = [
    "ImportReport",
    "DuplicatePlan",
    "init_review",
    "import_exports",
    "plan_dedupe",
    "apply_dedupe",
    "review_status",
    "export_review",
    "StopOutcome",
    "stop_screening",
]


@dataclass(frozen=True)
class ImportReport:
    """The summaries of one ``import`` action over several files."""

    summaries: tuple[ImportSummary, ...]

    @property
    def added(self) -> int:
        return sum(s.records_added for s in self.summaries)

    @property
    def skipped(self) -> int:
        return sum(s.skipped for s in self.summaries)


@dataclass(frozen=True)
class DuplicatePlan:
    """Duplicate groups found in a review, before they are merged.

    ``groups`` holds, per group, the merged primary record, the ids of all
    members (primary first), the rule that matched and a score.
    """

    groups: tuple[tuple[Record, tuple[Record, ...], str, float], ...]

    @property
    def records_to_merge(self) -> int:
        return sum(len(members) - 1 for _, members, _, _ in self.groups)


def init_review(name: str | Path, criteria: str | Path | None = None) -> ReviewStore:
    """Create ``NAME.ldnscreen``, optionally with a criteria file (TOML).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> store = init_review(pathlib.Path(tempfile.mkdtemp()) / "ldn-review")
    >>> store.path.name
    'ldn-review.ldnscreen'
    >>> store.close()
    """
    text = None
    if criteria is not None:
        from .criteria import read_criteria_file

        try:
            text = read_criteria_file(criteria)[0]  # (a broken criteria file is refused now, not later)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
    return ReviewStore.create(review_path(name), criteria_text=text)


def import_exports(
    store: ReviewStore, paths: Sequence[str | Path], *, skip_bad: bool = False, format: str | None = None,
    encoding: str | None = None,
) -> ImportReport:
    """Import export files one by one; each file is one transaction.

    A file that cannot be read stops the import with :class:`ldnscreen.io.ReadError`
    (:class:`~ldnscreen.store.StoreError` when it cannot be opened); the files
    imported before it stay imported and nothing of the bad file is stored. The
    error's message then names the files imported before it with their counts,
    and those it did not reach, and its ``imported`` attribute holds their
    :class:`ImportReport`: the user must know what the review now holds.
    """
    from .io import ReadError

    summaries: list[ImportSummary] = []
    for number, path in enumerate(paths):
        try:
            summaries.append(store.import_file(path, format=format, skip_bad=skip_bad, encoding=encoding))
        except (ReadError, StoreError) as error:
            if not summaries:
                raise
            note = _stopped_import_note(Path(path).name, summaries, [Path(p).name for p in paths[number + 1 :]])
            if isinstance(error, ReadError):
                stopped: Exception = ReadError(error.file, error.location, f"{error.problem}; {note}")
            else:
                stopped = StoreError(f"{error}; {note}")
            stopped.imported = ImportReport(tuple(summaries))  # type: ignore[attr-defined]
            raise stopped from error
    return ImportReport(tuple(summaries))


def _stopped_import_note(failed: str, imported: Sequence[ImportSummary], not_reached: Sequence[str]) -> str:
    """What an import that stopped at ``failed`` left in the review, in one line.

    Examples
    --------
    >>> done = [ImportSummary("pubmed.nbib", "medline", "pubmed", 3, 3, 0),
    ...         ImportSummary("embase.ris", "", "", 5, 0, 5, already_imported=True)]
    >>> _stopped_import_note("wos.txt", done, ["scopus.csv"])
    'nothing of wos.txt was stored, but the files before it were imported and stay in the review: pubmed.nbib (3 records added), embase.ris (already imported, nothing added); not imported: scopus.csv'
    """
    def counts(summary: ImportSummary) -> str:
        if summary.already_imported:
            return "already imported, nothing added"
        skipped = f", {summary.skipped} skipped" if summary.skipped else ""
        added = summary.records_added
        return f"{added} record{'s' if added != 1 else ''} added{skipped}"

    kept = ", ".join(f"{s.file} ({counts(s)})" for s in imported)
    note = f"nothing of {failed} was stored, but the files before it were imported and stay in the review: {kept}"
    return note + (f"; not imported: {', '.join(not_reached)}" if not_reached else "")


def plan_dedupe(store: ReviewStore, *, progress: bool = False) -> DuplicatePlan:
    """Find duplicate groups among the review's active records (nothing is changed)."""
    from .dedupe import find_duplicates, merge_group

    records = store.records()
    by_id = {r.id: r for r in records}
    planned = []
    for group in find_duplicates(records, progress=progress):
        members = [by_id[group.primary_id]] + [by_id[i] for i in group.member_ids if i != group.primary_id]
        planned.append((merge_group(members, primary_id=group.primary_id), tuple(members), _rule(group), float(getattr(group, "score", 1.0))))
    return DuplicatePlan(tuple(planned))


def _rule(group) -> str:
    rule = getattr(group, "rule", "")
    if isinstance(rule, (tuple, list, set, frozenset)):
        return ",".join(sorted(set(map(str, rule))))
    return str(rule)


def apply_dedupe(store: ReviewStore, plan: DuplicatePlan) -> MergeSummary:
    """Merge every planned group in one transaction (undo with :meth:`ReviewStore.undo_merge`)."""
    return store.merge_duplicates(
        (primary, [m.id for m in members], rule, score) for primary, members, rule, score in plan.groups
    )


def review_status(store: ReviewStore) -> dict:
    """Counts per source, duplicates removed, screened and left per stage, stop decisions."""
    counts = store.counts()
    counts["name"] = store.name
    counts["path"] = str(store.path)
    counts["stops"] = [
        {"stage": s.stage, "rule": s.rule, "params": s.params, "p_value": s.p_value, "decided_at": s.decided_at}
        for s in store.stops()
    ]
    return counts


def export_review(
    store: ReviewStore, out: str | Path, *, format: str | None = None, stage: str | None = None,
    include_merged: bool = False,
) -> int:
    """Write the review's records with their current decisions; returns the number written.

    The decision written for a record is its full-text decision when it has
    one, else its title/abstract decision (or the ``stage`` asked for).
    """
    from .io import write_file

    decisions: dict = {}
    for s in STAGES if stage is None else (stage,):
        decisions.update(store.current_labels(s))
    records = store.records(active_only=not include_merged)
    write_file(records, Path(out), format=format, decisions=decisions)
    return len(records)


@dataclass(frozen=True)
class StopOutcome:
    """What a stopping rule said about a stage, and whether the stop was recorded."""

    rule: str
    guarantee: bool
    stop: bool
    recorded: bool
    p_value: float | None
    message: str
    screened: int
    total: int


def stop_screening(
    store: ReviewStore, rule: str = "buscar", *, stage: str = "title-abstract", reviewer: str | None = None,
    force: bool = False,
) -> StopOutcome:
    """Check a stopping rule on the decisions so far and record the stop when it says so.

    ``rule`` is a spec understood by :func:`ldnscreen.stopping.parse_rules`
    (``buscar``, ``buscar:0.95:0.99``, ``knee``, ``consecutive:50``...).
    With ``force`` the stop is recorded even when the rule does not fire (the
    parameters then say ``"forced": true``), so the report shows it honestly.
    """
    from .stopping import parse_rules, stopping_estimate

    rules = parse_rules(rule)
    if len(rules) != 1:
        raise ValueError(f"give one stopping rule, not {rule!r}")
    chosen = rules[0]
    current = store.current_labels(stage)
    labels = [1 if d.label == "include" else 0 for d in current.values()]
    if stage == "title-abstract":
        total = len(store.active_ids())
    else:
        total = sum(d.label == "include" for d in store.current_labels("title-abstract").values())
    if not labels:
        raise ValueError(f"no {stage} decisions yet: nothing to test")
    check = chosen.check(labels, total)
    recorded = False
    if check.stop or force:
        estimate = stopping_estimate(labels, n_total=total)
        params = {**chosen.params, "screened": len(labels), "total": total}
        if force and not check.stop:
            params["forced"] = True
        store.record_stop(chosen.name, params, check.p_value, stage=stage,
                          recall_estimate=estimate.recall_estimate, reviewer=reviewer)
        recorded = True
    return StopOutcome(chosen.name, chosen.guarantee, check.stop, recorded, check.p_value, check.message,
                       len(labels), total)
