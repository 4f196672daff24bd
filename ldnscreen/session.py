"""Screening in the terminal: one record at a time, best first.

:func:`run_session` is what ``ldnscreen screen`` runs. It shows a record
(title, abstract with the criteria's inclusion terms highlighted, source
databases, the suggested exclusion reason and the terms that put it here),
a progress line, and waits for one key:

====  ==========================================================
i     include
e     exclude, then pick a reason by number (Enter = suggested)
s     skip for now (it comes back when nothing else is left)
u     undo the last decision (the record is shown again)
n     add a note to the record shown
q     quit (every decision is already saved)
====  ==========================================================

Each decision is committed to the review file before the next record is
drawn; ``saved`` is printed only after the commit, so a session killed at any
moment loses no decision it acknowledged. The ranker retrains in a
background thread (see :mod:`ldnscreen.review`), so the next record appears
at once.

Before each record the session catches up with other processes writing to the
same review (:meth:`ldnscreen.review.Review.refresh`): another reviewer's
decisions, imports and merges. When the review is busy (another process
holds its write lock), a decision is not saved and the reviewer is asked to
press the key again.

Keys are read one at a time from a terminal (``termios`` cbreak mode); when
standard input is not a terminal (a pipe, a test), one line is read per key,
and an empty line is Enter.

:func:`show_queue` is ``ldnscreen queue``: the next records as a table, CSV
or JSON.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .review import QueueItem, Review
from .store import StoreBusy, StoreError

__all__ = ["KeyReader", "ScreeningSession", "SessionSummary", "run_session", "show_queue", "queue_rows"]

HELP = "[i]nclude  [e]xclude  [s]kip  [u]ndo  [n]ote  [q]uit"
ENTER = "\n"
MIN_FOR_ESTIMATE = 20
#: Seconds a decision waits for another process's write before the reviewer is told to retry.
SESSION_BUSY_TIMEOUT = 5.0
QUIT_KEYS = {"q", "\x03", "\x04", ""}  # q, Ctrl-C, Ctrl-D, end of input


class KeyReader:
    """Single key presses from a terminal; whole lines from anything else.

    On a terminal, use it as a context manager: the terminal stays in cbreak
    mode (keys arrive unbuffered, without echo) for the whole session, so a
    key typed while the next record is being drawn is kept, not flushed.

    Parameters
    ----------
    stream : file, default=sys.stdin
        Where keys come from.

    Examples
    --------
    >>> keys = KeyReader(io.StringIO("i\\n\\nexclude\\n"))
    >>> keys.tty
    False
    >>> keys.key(), keys.key(), keys.key(), keys.key()
    ('i', '\\n', 'e', '')
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdin
        try:
            self.tty = self.stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self._saved: Any = None

    def __enter__(self) -> "KeyReader":
        if self.tty:
            import termios
            import tty

            fd = self.stream.fileno()
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd, termios.TCSANOW)  # TCSANOW: never discard keys typed ahead
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(self.stream.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None

    def key(self) -> str:
        """One key, lower-cased; ``"\\n"`` for Enter and ``""`` at end of input."""
        if not self.tty:
            line = self.stream.readline()
            if not line:
                return ""
            line = line.strip()
            return line[0].lower() if line else ENTER
        with self if self._saved is None else contextlib.nullcontext():
            data = os.read(self.stream.fileno(), 1)
        if not data:
            return ""
        char = data.decode("utf-8", errors="replace")
        return ENTER if char in "\r\n" else char.lower()

    def line(self) -> str | None:
        """A whole line (echoed by the terminal); ``None`` at end of input."""
        if not self.tty:
            line = self.stream.readline()
            return None if not line else line.rstrip("\r\n")
        import termios

        fd = self.stream.fileno()
        cbreak = termios.tcgetattr(fd)
        if self._saved is not None:  # cooked mode with echo for the length of one line
            termios.tcsetattr(fd, termios.TCSANOW, self._saved)
        try:
            data = b""
            while not data.endswith(b"\n"):
                chunk = os.read(fd, 1024)
                if not chunk:
                    break
                data += chunk
        finally:
            termios.tcsetattr(fd, termios.TCSANOW, cbreak)
        return None if not data else data.decode("utf-8", errors="replace").rstrip("\r\n")


@dataclass
class SessionSummary:
    """What a session did."""

    included: int = 0
    excluded: int = 0
    skipped: int = 0
    undone: int = 0
    notes: int = 0
    finished: bool = False
    #: seconds between a committed decision and the next record drawn
    latencies: list[float] = field(default_factory=list)
    #: decisions the ranking had not caught up with when each record was drawn
    lags: list[int] = field(default_factory=list)


def _terms_pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    terms = sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True)
    if not terms:
        return None
    alternatives = "|".join(re.escape(t).replace(r"\ ", r"[\s-]+").replace(r"\-", r"[\s-]*") for t in terms)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _ago(timestamp: str) -> str:
    """``'20 s ago'`` for an ISO timestamp of the decision log.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> _ago((datetime.now(timezone.utc) - timedelta(minutes=3, seconds=2)).isoformat())
    '3 min ago'
    """
    from datetime import datetime, timezone

    seconds = max((datetime.now(timezone.utc) - datetime.fromisoformat(timestamp)).total_seconds(), 0.0)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


class ScreeningSession:
    """The interactive loop, separated from the terminal so it can be driven in tests.

    Parameters
    ----------
    review : Review
        An open review (``background=True`` keeps the reviewer from waiting).
    keys : KeyReader
        Where key presses come from.
    console : rich.console.Console
        Where records are drawn.
    reviewer : str or None
        Recorded with every decision.
    stage : str or None
        Stage to screen; defaults to the review's.
    """

    def __init__(self, review: Review, keys: KeyReader, console: Console, *, reviewer: str | None = None,
                 stage: str | None = None) -> None:
        self.review = review
        self.keys = keys
        self.console = console
        self.reviewer = reviewer
        self.stage = stage or review.stage
        self.summary = SessionSummary()
        self.skipped: list[str] = []
        self.show_first: str | None = None
        self._decided: list[int] = []  # ids of the decisions this session made, for undo
        self._unsaved_note: tuple[str, str] | None = None  # (record id, text) the review was busy for
        self.session_id = uuid.uuid4().hex  # names this session's claim on the record it shows
        criteria = review.criteria
        self.highlight = _terms_pattern(criteria.inclusion_terms if criteria is not None else ())
        self.reasons = review.reasons(self.stage)
        self._decided_at: float | None = None
        #: the record on screen
        self.current: QueueItem | None = None
        self._executor: Any = None
        self._estimating: Any = None
        self._estimate: Any = None

    # -- drawing ------------------------------------------------------------------
    def _next_item(self) -> QueueItem | None:
        self._refresh()
        if self.show_first is not None:
            record_id, self.show_first = self.show_first, None
            item = self.review.item(record_id, stage=self.stage)
            if item is not None:
                self._claim(record_id)  # (the reviewer asked for it back: shown whoever else has it)
                return item
        # not a record another reviewer's session has on screen now (both would rank it first)
        elsewhere = self._claimed_elsewhere()
        for _ in range(3):  # (another session may claim the same record between the two steps)
            items = self.review.next(1, stage=self.stage, exclude=[*self.skipped, *elsewhere])
            if not items or self._claim(items[0].record.id):
                break
            elsewhere.add(items[0].record.id)
        if not items and elsewhere:  # only records on other screens are left: they may have been left there
            items = self.review.next(1, stage=self.stage, exclude=self.skipped)
        if not items and self.skipped:
            self.console.print(f"[dim]only skipped records are left: showing the {len(self.skipped)} again[/]")
            self.skipped.clear()
            items = self.review.next(1, stage=self.stage)
        return items[0] if items else None

    def _claimed_elsewhere(self) -> set[str]:
        try:
            return self.review.store.claimed(self.stage, besides=self.session_id)
        except StoreError:  # (claims only spare work: never in the way of screening)
            return set()

    def _claim(self, record_id: str) -> bool:
        """Claim the record about to be shown; ``False`` when another session just did."""
        try:
            return self.review.store.claim(record_id, self.stage, self.session_id)
        except StoreError:  # busy or read-only: show it anyway
            return True

    def _refresh(self) -> None:
        """Catch up with other sessions and imports on the same review before drawing a record."""
        refreshed = self.review.refresh(self.stage)
        if refreshed.records_changed:
            self.console.print("[dim]records were imported or merged (or, for full text, decided at "
                               "title-abstract) elsewhere meanwhile: ranking again[/]")
            with self.console.status("ranking the records..."):
                self.review.queue(self.stage)
        if refreshed.decided:
            n = len(refreshed.decided)
            who = ", ".join(dict.fromkeys(d.reviewer or "another session" for d in refreshed.decided))
            self.console.print(f"{n} record{'s' if n != 1 else ''} decided meanwhile by {who}: not shown here",
                               style="dim", highlight=False, markup=False)
        for d in refreshed.changed:
            self.console.print(f"{d.reviewer or 'another session'} {d.label}d {d.record_id} meanwhile, which had "
                               f"another decision: the {d.label} is now the latest", style="yellow",
                               highlight=False, markup=False)

    def render(self, item: QueueItem) -> None:
        """Draw one record."""
        record = item.record
        body = Text()
        body.append(record.title or "(no title)", style="bold")
        body.append("\n")
        author = f"{record.first_author} et al." if len(record.authors) > 1 else record.first_author
        meta = [m for m in (author, str(record.year or ""), record.journal) if m]
        if meta:
            body.append(" · ".join(meta) + "\n", style="dim")
        body.append("\n")
        abstract = Text(record.abstract or "(no abstract)")
        if self.highlight is not None:
            abstract.highlight_regex(self.highlight, style="bold yellow")
            body.highlight_regex(self.highlight, style="bold yellow")
        body.append_text(abstract)
        body.append("\n\n")
        body.append(f"sources: {', '.join(record.databases) or '-'}   id: {record.id}", style="dim")
        if item.suggested_reason:
            body.append("\nsuggested exclusion: ", style="dim")
            body.append(item.suggested_reason, style="magenta")
        if item.top_terms:
            body.append("\nranked up by: " + ", ".join(item.top_terms), style="dim")
        title = f"score {item.score:.3f}" + (f" · queue position {item.rank}" if item.rank > 1 else "")
        self.console.print(Panel(body, title=title, title_align="left"))
        if self._decided_at is not None:
            self.summary.latencies.append(time.perf_counter() - self._decided_at)
            self._decided_at = None
            self.summary.lags.append(self.review.queue(self.stage).lag)
        self.console.print(self.progress_line(), highlight=False)

    def progress_line(self) -> str:
        """``screened 12 · included 3 · excluded 9 · left 88`` and the stopping estimate.

        The estimate (:func:`ldnscreen.stopping.stopping_estimate`, up to a
        second with thousands of decisions) is computed in a background
        thread; the line shows the latest one finished, which may be a
        decision or two old. Too few decisions make it noise, so it starts at
        ``MIN_FOR_ESTIMATE`` decisions.
        """
        p = self.review.progress(self.stage)
        line = f"screened {p.screened} · included {p.included} · excluded {p.excluded} · left {p.left}"
        if p.screened >= MIN_FOR_ESTIMATE:
            self._refresh_estimate()
        estimate = self._estimate
        if estimate is not None:
            low, high = estimate.remaining_interval
            line += f" · est. relevant left {estimate.estimated_remaining} ({low}-{high})"
            if estimate.safe_to_stop:
                line += " · stopping rule met"
        return line

    def _refresh_estimate(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from .stopping import stopping_estimate

        if self._estimating is not None:
            if not self._estimating.done():
                return  # still busy with an earlier one: skip, the next decision asks again
            self._estimate = self._estimating.result()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ldnscreen-stopping")
        labels, n_total = self.review.stopping_inputs(self.stage)  # read here: the store stays in this thread
        self._estimating = self._executor.submit(stopping_estimate, labels, n_total)
        with contextlib.suppress(TimeoutError):  # quick when small: then the line is current
            self._estimate = self._estimating.result(timeout=0.02)

    def close(self) -> None:
        """Stop the background estimate."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # -- actions ------------------------------------------------------------------
    def _decide(self, item: QueueItem, label: str, reason: str | None) -> None:
        # the record was undecided when drawn; someone may have decided it while it was on screen
        earlier = self.review.standing_decision(item.record.id, self.stage)
        decision = self.review.decide(item.record.id, label, reason=reason, stage=self.stage, reviewer=self.reviewer)
        self._decided.append(decision.id)
        self._decided_at = time.perf_counter()
        if label == "include":
            self.summary.included += 1
        else:
            self.summary.excluded += 1
        text = f"{label} saved" + (f" ({reason})" if reason else "") + f" [decision {decision.id}]"
        self.console.print(Text("✓ " + text, style="green" if label == "include" else "red"))
        if earlier is not None:
            who = earlier.reviewer or "another session"
            self.console.print(f"{who} {earlier.label}d this record {_ago(earlier.decided_at)}; "
                               f"your {label} is recorded as the latest (the log keeps both)",
                               style="yellow", highlight=False, markup=False)

    def _pick_reason(self, item: QueueItem) -> tuple[bool, str | None]:
        """``(confirmed, reason)``; Esc or ``b`` goes back."""
        if not self.reasons:
            return True, None
        default = item.suggested_reason if item.suggested_reason in self.reasons else None
        lines = [f"  {n}  {reason}" + ("   [default]" if reason == default else "")
                 for n, reason in enumerate(self.reasons, start=1)]
        self.console.print("exclusion reason:\n" + "\n".join(lines), highlight=False, markup=False)
        hint = f"Enter = {default}" if default else "Enter = no reason"
        while True:
            self.console.print(f"reason [1-{len(self.reasons)}, {hint}, 0 = none, b = back]: ", end="",
                               highlight=False, markup=False)
            if len(self.reasons) > 9:
                line = self.keys.line()
                if line is None:
                    return False, None
                choice = line.strip().lower() or ENTER
            else:
                choice = self.keys.key()
            if choice in ("", "\x1b", "b", "\x03", "\x04"):
                self.console.print("back")
                return False, None
            if choice == ENTER:
                self.console.print(default or "no reason")
                return True, default
            if choice.isdigit() and 0 <= int(choice) <= len(self.reasons):
                reason = self.reasons[int(choice) - 1] if int(choice) else None
                self.console.print(reason or "no reason")
                return True, reason
            self.console.print(f"\n{choice!r} is not a reason number")

    def _note(self, item: QueueItem) -> None:
        if self._unsaved_note is not None and self._unsaved_note[0] == item.record.id:
            text = self._unsaved_note[1]  # typed before, when the review was busy: not typed again
            self.console.print(f"saving the note typed before: {text}", highlight=False, markup=False)
        else:
            self.console.print("note (Enter to save, empty to cancel): ", end="")
            text = self.keys.line()
        if text and text.strip():
            try:
                self.review.add_note(item.record.id, text.strip(), stage=self.stage, reviewer=self.reviewer)
            except StoreBusy:
                self._unsaved_note = (item.record.id, text.strip())  # n again saves it
                raise
            self._unsaved_note = None
            self.summary.notes += 1
            self.console.print("note saved")
        else:
            self.console.print("no note")

    def _undo(self) -> None:
        # this session's own decisions first: another session on the review may have decided since
        undone = self.review.undo(stage=self.stage, reviewer=self.reviewer, among=self._decided) if self._decided else None
        if undone is None and (self.reviewer is not None or not self._decided):
            # none of its own left: the reviewer's latest (after a restart, say); without a reviewer
            # only in a session that decided nothing, so as not to undo someone else's after one's own
            undone = self.review.undo(stage=self.stage, reviewer=self.reviewer)
        if undone is None:
            self.console.print("nothing to undo")
            return
        self.summary.undone += 1
        self.show_first = self.review.store.active_id(undone.record_id)  # (a copy merged since: its record)
        self.console.print(f"undid {undone.label} of {undone.record_id}: it is shown again")

    # -- the loop -----------------------------------------------------------------
    def run(self) -> SessionSummary:
        """Screen until the queue is empty or the reviewer quits."""
        p = self.review.progress(self.stage)
        self.console.print(
            f"[bold]{escape(str(self.review.name))}[/] · stage {self.stage}"
            + (f" · reviewer {escape(self.reviewer)}" if self.reviewer else "")
            + f" · {p.left} of {p.total} records to screen",
            highlight=False,
        )
        try:
            while True:
                item = self._next_item()
                if item is None:
                    self.summary.finished = True
                    self.console.print(f"[bold green]All records screened at stage {self.stage}.[/]")
                    break
                self.current = item
                self.render(item)
                if not self._ask(item):
                    break
        finally:
            with contextlib.suppress(StoreError):  # (a claim left behind lapses by itself)
                self.review.store.release_claims(self.session_id)
        self.console.print(
            f"session: {self.summary.included} included, {self.summary.excluded} excluded, "
            f"{self.summary.skipped} skipped, {self.summary.undone} undone, {self.summary.notes} notes",
            highlight=False,
        )
        return self.summary

    def _ask(self, item: QueueItem) -> bool:
        """Handle keys for one record; ``False`` to quit."""
        while True:
            self.console.print(HELP + " > ", end="", highlight=False, markup=False)
            key = self.keys.key()
            if self.keys.tty and key not in QUIT_KEYS:
                self.console.print(key.strip() or "")
            if key in QUIT_KEYS:
                self.console.print("quit: every decision is saved")
                return False
            try:
                done = self._act(item, key)
            except StoreBusy as exc:  # another process is writing: nothing was saved, the reviewer retries
                self.console.print(Text(f"✗ {exc}", style="yellow"))
                continue
            if done:
                return True

    def _act(self, item: QueueItem, key: str) -> bool:
        """Do what ``key`` asks; ``True`` when the session moves to the next record."""
        if key == "i":
            self._decide(item, "include", None)
            return True
        if key == "e":
            confirmed, reason = self._pick_reason(item)
            if confirmed:
                self._decide(item, "exclude", reason)
                return True
            return False
        if key == "s":
            self.skipped.append(item.record.id)
            self.summary.skipped += 1
            self.console.print("skipped")
            return True
        if key == "u":
            self._undo()
            return True
        if key == "n":
            self._note(item)
            return False
        if key != ENTER:
            self.console.print(f"{key!r}: not a key here ({HELP})", markup=False)
        return False


def run_session(
    review: str | Path,
    *,
    reviewer: str | None = None,
    stage: str = "title-abstract",
    console: Console | None = None,
    stream: IO[str] | None = None,
) -> SessionSummary:
    """Open a review and screen it interactively (``ldnscreen screen``).

    Parameters
    ----------
    review : str or Path
        ``NAME`` or ``NAME.ldnscreen``.
    reviewer : str or None
        Recorded with every decision.
    stage : {"title-abstract", "full-text"}
        Stage to screen.
    console : rich.console.Console, optional
        Where to draw (standard output by default).
    stream : file, optional
        Where keys come from (standard input by default).

    Returns
    -------
    SessionSummary
    """
    console = console or Console()
    with Review.open(review, stage=stage, background=True) as opened, KeyReader(stream) as keys:
        # a reviewer at the keyboard hears within seconds that a save waits for another process
        opened.store.busy_timeout = SESSION_BUSY_TIMEOUT
        # the first session after an import fits the text features (cached for later sessions)
        with console.status("ranking the records..."):
            opened.queue()
        session = ScreeningSession(opened, keys, console, reviewer=reviewer, stage=stage)
        try:
            return session.run()
        except KeyboardInterrupt:
            console.print("\ninterrupted: every decision is saved")
            return session.summary
        finally:
            session.close()
            timings = os.environ.get("LDNSCREEN_SESSION_TIMINGS")
            if timings:
                with open(timings, "a", encoding="utf-8") as handle:
                    handle.writelines(f"{t:.6f}\n" for t in session.summary.latencies)


# -- ldnscreen queue ------------------------------------------------------------------------------
QUEUE_COLUMNS = ("rank", "record_id", "score", "title", "year", "suggested_reason", "top_terms")


def queue_rows(items: Sequence[QueueItem]) -> list[dict[str, Any]]:
    """Queue items as plain rows (what ``--format csv|json`` writes)."""
    return [
        {
            "rank": item.rank,
            "record_id": item.record.id,
            "score": round(item.score, 6),
            "title": item.record.title,
            "year": item.record.year,
            "suggested_reason": item.suggested_reason,
            "top_terms": list(item.top_terms),
        }
        for item in items
    ]


def show_queue(review: str | Path, *, n: int = 20, format: str = "table", stage: str = "title-abstract",
               console: Console | None = None) -> list[QueueItem]:
    """Print the next ``n`` records of a review in priority order (``ldnscreen queue``).

    Parameters
    ----------
    review : str or Path
        ``NAME`` or ``NAME.ldnscreen``.
    n : int, default=20
        How many records.
    format : {"table", "csv", "json"}
        A rich table, or CSV / JSON on standard output.
    stage : str, default="title-abstract"
        Stage whose queue to show.
    console : rich.console.Console, optional
        Where to print.

    Returns
    -------
    list of QueueItem
    """
    if format not in ("table", "csv", "json"):
        raise ValueError(f"format must be table, csv or json, not {format!r}")
    console = console or Console()
    with Review.open(review, stage=stage, readonly=True) as opened:
        items = opened.next(n)
        progress = opened.progress()
    rows = queue_rows(items)
    if format == "json":
        console.out(json.dumps(rows, indent=2, ensure_ascii=False), highlight=False)
    elif format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=QUEUE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "top_terms": "; ".join(row["top_terms"]), "suggested_reason":
                             row["suggested_reason"] or ""})
        console.out(buffer.getvalue().rstrip("\n"), highlight=False)
    else:
        table = Table(title=f"next {len(items)} of {progress.left} records to screen ({stage})")
        table.add_column("#", justify="right")
        table.add_column("score", justify="right")
        table.add_column("title", ratio=3)
        table.add_column("suggested exclusion", style="magenta")
        table.add_column("ranked up by", style="dim", ratio=2)
        table.add_column("id", style="dim", no_wrap=True)
        for item in items:
            table.add_row(str(item.rank), f"{item.score:.3f}", escape(item.record.title),
                          escape(item.suggested_reason or ""), escape(", ".join(item.top_terms)), item.record.id)
        console.print(table)
    return items
