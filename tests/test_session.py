"""The interactive screening session, driven through a pseudo-terminal, and ``ldnscreen queue``.

The pty tests run the real command (``python -m ldnscreen.cli screen ...``) in
a child process attached to a pseudo-terminal (stdlib :func:`pty.fork`), so
keys are read one at a time in cbreak mode exactly as for a reviewer.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import select
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ldnscreen.cli import app
from ldnscreen.records import Provenance, Record
from ldnscreen.review import Review
from ldnscreen.store import ReviewStore

ROOT = Path(__file__).resolve().parents[1]
CRITERIA = ROOT / "corpora" / "ldn_review" / "criteria.toml"
DEMO = ROOT / "corpora" / "ldn_review" / "demo"
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]")
PROMPT = "[q]uit > "
ID = re.compile(r"id: (r[0-9a-f]{16})")

pty = pytest.importorskip("pty")


class Terminal:
    """A child process on a pseudo-terminal, read with a timeout."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # child
            try:
                os.execve(sys.executable, [sys.executable, "-m", "ldnscreen.cli", *args], env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.buffer = ""
        self.seen = 0

    def expect(self, pattern: str, timeout: float = 90.0) -> re.Match:
        """Wait for ``pattern`` (a regex) in output not consumed yet."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.buffer, self.seen)
            if match:
                self.seen = match.end()
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {pattern!r}; output so far:\n{self.buffer[-3000:]}")
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:  # child closed the terminal
                    data = b""
                if not data:
                    raise AssertionError(f"session ended before {pattern!r}; output:\n{self.buffer[-3000:]}")
                self.buffer += ANSI.sub("", data.decode("utf-8", errors="replace")).replace("\r", "")

    def record_shown(self) -> str:
        """Id of the record drawn before the next prompt."""
        start = self.seen
        self.expect(re.escape(PROMPT))
        ids = ID.findall(self.buffer, start, self.seen)
        assert ids, f"no record shown; output:\n{self.buffer[start:self.seen]}"
        return ids[-1]

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def wait(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:  # drain output so the child never blocks writing
                if select.select([self.fd], [], [], 0.1)[0]:
                    os.read(self.fd, 65536)
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        raise AssertionError("the session did not end")

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.wait()


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        COLUMNS="110",
        LINES="50",
        TERM="xterm",
        NO_COLOR="1",
        LDNSCREEN_SESSION_TIMINGS=str(tmp_path / "timings.txt"),
    )
    return env


def _review(tmp_path: Path, records: list[Record], name: str = "ldn") -> Path:
    with Review.create(tmp_path / name, criteria=CRITERIA) as review:
        review.add_records(records, file_name="test.export")
        review.next()  # fit and cache the features so the child starts quickly
    return tmp_path / f"{name}.ldnscreen"


def _more(n: int) -> list[Record]:
    return [Record(title=f"Low-dose naltrexone and pain, report {i}", abstract=f"Patient {i} took LDN for pain.",
                   provenance=(Provenance("pubmed", "more.nbib", i),)) for i in range(n)]


def test_screen_session_in_a_terminal(tmp_path, records):
    path = _review(tmp_path, records)
    term = Terminal(["screen", str(path), "--reviewer", "tester"], _env(tmp_path))

    first = term.record_shown()
    term.send("i")
    term.expect(r"include saved \[decision \d+\]")

    second = term.record_shown()
    term.send("e")
    term.expect(r"reason \[1-6")
    term.send("4")
    term.expect(r"exclude saved \(not about pain\)")

    third = term.record_shown()
    term.send("s")
    term.expect("skipped")

    fourth = term.record_shown()
    assert len({first, second, third, fourth}) == 4
    term.send("u")
    term.expect(f"undid exclude of {second}")
    assert term.record_shown() == second  # the undone record comes back at once

    term.send("n")
    term.expect(r"note \(")
    term.send("check the full text\r")
    term.expect("note saved")
    term.expect(re.escape(PROMPT))
    term.send("e")
    term.expect(r"reason \[1-6, Enter = ")
    term.send("\r")  # Enter accepts the default (suggested) reason
    term.expect(r"exclude saved")
    assert term.record_shown() not in {first, second}
    term.send("q")
    term.expect("every decision is saved")
    assert term.wait() == 0

    with ReviewStore.open(path) as store:
        current = store.current_labels()
        assert set(current) == {first, second}
        assert current[first].label == "include" and current[first].reviewer == "tester"
        assert current[second].label == "exclude"
        log = store.decisions(include_log=True)
        assert [d.label for d in log] == ["include", "exclude", "undo", "note", "exclude"]
        assert log[1].reason == "not about pain" and log[2].undoes == log[1].id
        assert log[3].note == "check the full text" and log[3].record_id == second
    latencies = [float(x) for x in (tmp_path / "timings.txt").read_text().split()]
    assert len(latencies) == 3 and max(latencies) < 2.0  # one per decision


def test_killed_session_loses_no_acknowledged_decision(tmp_path, records):
    path = _review(tmp_path, records + _more(30))
    term = Terminal(["screen", str(path)], _env(tmp_path))
    acknowledged = []
    for _ in range(6):
        record_id = term.record_shown()
        term.send("i")
        number = int(term.expect(r"include saved \[decision (\d+)\]").group(1))
        acknowledged.append((number, record_id))
    term.record_shown()
    term.send("i")  # killed while this one may be mid-commit
    term.kill()

    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    with ReviewStore.open(path) as store:
        stored = {(d.id, d.record_id) for d in store.decisions()}
    assert set(acknowledged) <= stored
    assert len(stored) in (6, 7)


def test_screen_reads_lines_when_not_a_terminal(tmp_path, records):
    path = _review(tmp_path, records)
    result = CliRunner().invoke(app, ["screen", str(path), "--reviewer", "jb"], input="i\ne\n2\nz\nq\n")
    assert result.exit_code == 0, result.output
    assert "'z': not a key here" in result.output
    with ReviewStore.open(path) as store:
        labels = sorted((d.label, d.reason) for d in store.current_labels().values())
    assert labels == [("exclude", "not about LDN"), ("include", None)]


def test_demo_review_screened_from_empty_to_the_end(tmp_path):
    """A reviewer can screen the illustrative naltrexone records from an empty review to the end."""
    files = [DEMO / name for name in ("pubmed.nbib", "embase.ris", "wos.txt")]  # labels.csv is not an export
    if not all(f.exists() for f in files):
        pytest.skip("corpora/ldn_review/demo is not there")
    runner = CliRunner()
    result = runner.invoke(app, ["init", str(tmp_path / "demo"), "--criteria", str(CRITERIA)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["import", str(tmp_path / "demo"), *map(str, files)])
    assert result.exit_code == 0, result.output
    with Review.open(tmp_path / "demo") as review:
        n = review.progress().total
        first = review.next(3)
    # a scripted reviewer: include, exclude with the suggested reason (Enter), skip, now and then
    keys = "".join(("i\n", "e\n\n", "s\n", "e\n\n")[k % 4] for k in range(n)) + "i\n" * n
    result = runner.invoke(app, ["screen", str(tmp_path / "demo")], input=keys)
    assert result.exit_code == 0, result.output
    assert "All records screened" in result.output
    with Review.open(tmp_path / "demo") as review:
        progress = review.progress()
        assert progress.screened == n and progress.left == 0
        assert review.current_labels()[first[0].record.id].label == "include"
        reasons = {d.reason for d in review.current_labels().values() if d.label == "exclude"}
        assert reasons and reasons <= set(review.reasons()) | {None}
    assert first[0].suggested_reason is None


def test_demo_reviewer_finds_the_inclusions_first(tmp_path):
    """A reviewer answering as labels.csv says meets the records to include first, the rest last."""
    from rich.console import Console

    from ldnscreen.labels_import import import_decisions
    from ldnscreen.session import ScreeningSession

    files = [DEMO / name for name in ("pubmed.nbib", "embase.ris", "wos.txt")]
    if not all(f.exists() for f in files):
        pytest.skip("corpora/ldn_review/demo is not there")
    with Review.create(tmp_path / "demo", criteria=CRITERIA) as review:  # synchronous: a reproducible order
        review.import_files(files)
        truth = dict(import_decisions(review.store, DEMO / "labels.csv", dry_run=True).planned)
        shown: list[str] = []

        class Reviewer:  # answers from labels.csv for the record on screen
            tty = False

            def key(self):
                record_id = session.current.record.id
                if not shown or shown[-1] != record_id:
                    shown.append(record_id)
                    return "i" if truth[record_id] == "include" else "e"
                return "\n"  # the reason prompt: take the suggested reason

            def line(self):
                return ""

        session = ScreeningSession(review, Reviewer(), Console(file=io.StringIO()))
        summary = session.run()
        session.close()
    assert summary.finished and len(shown) == len(truth)
    order = [truth[r] for r in shown]
    assert order[:10] == ["include"] * 10
    assert order[-10:].count("exclude") >= 8
    n_include = order.count("include")
    recall_at_half = order[: len(order) // 2].count("include") / n_include
    assert recall_at_half >= 0.7, "".join("I" if o == "include" else "." for o in order)


# -- ldnscreen queue -----------------------------------------------------------------------------
def test_queue_cli_formats(tmp_path, records):
    path = _review(tmp_path, records)
    runner = CliRunner()
    with Review.open(path) as review:
        expected = [i.record.id for i in review.next(3)]

    result = runner.invoke(app, ["queue", str(path), "-n", "3", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["record_id"] for r in rows] == expected
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert rows[0]["score"] >= rows[1]["score"] >= rows[2]["score"]
    assert rows[0]["top_terms"] and isinstance(rows[0]["top_terms"], list)

    result = runner.invoke(app, ["queue", str(path), "-n", "6", "--format", "csv"])
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["record_id"] for r in table[:3]] == expected and len(table) == len(records)
    assert any(r["suggested_reason"] == "not about LDN" for r in table)

    result = runner.invoke(app, ["queue", str(path).removesuffix(".ldnscreen"), "-n", "2"])
    assert result.exit_code == 0, result.output
    assert "next 2 of 6 records" in result.output
    assert "suggested" in result.output and expected[0] in result.output

    result = runner.invoke(app, ["queue", str(path), "--format", "xml"])
    assert result.exit_code == 1 and "table, csv or json" in result.output
    result = runner.invoke(app, ["queue", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "no such review" in result.output


def test_queue_after_decisions_leaves_them_out(tmp_path, records):
    path = _review(tmp_path, records)
    with Review.open(path) as review:
        top = review.next()[0].record.id
        review.decide(top, "include")
    result = CliRunner().invoke(app, ["queue", str(path), "--format", "json"])
    assert top not in {r["record_id"] for r in json.loads(result.output)}


def test_session_loop_shows_the_stopping_estimate(tmp_path, records):
    """Driven in-process: 25 decisions, then the progress line carries the stopping estimate."""
    from rich.console import Console

    from ldnscreen.session import KeyReader, ScreeningSession

    path = _review(tmp_path, records + _more(30))
    out = io.StringIO()
    keys = "".join("i\n" if n % 3 else "e\n0\n" for n in range(25)) + "q\n"
    with Review.open(path, background=True) as review:
        session = ScreeningSession(review, KeyReader(io.StringIO(keys)), Console(file=out, width=100),
                                   reviewer="jb")
        summary = session.run()
        session.close()
        assert (summary.included, summary.excluded) == (16, 9)
        assert len(summary.latencies) == 25 and len(summary.lags) == 25
        assert review.queue().wait(60) and review.queue().lag == 0  # the ranking catches up
        assert review.stopping_estimate().n_screened == 25
    text = out.getvalue()
    assert "est. relevant left" in text.split("screened 20 ·")[-1]
    assert "est. relevant left" not in text.split("screened 19 ·")[0]


def test_skipped_records_come_back_when_nothing_else_is_left(tmp_path, records):
    from rich.console import Console

    from ldnscreen.session import KeyReader, ScreeningSession

    path = _review(tmp_path, records)
    out = io.StringIO()
    with Review.open(path) as review:
        keys = KeyReader(io.StringIO("s\n" * len(records) + "i\n" * len(records)))
        summary = ScreeningSession(review, keys, Console(file=out, width=100)).run()
        assert summary.finished and summary.skipped == len(records) and summary.included == len(records)
    assert f"showing the {len(records)} again" in out.getvalue()


def _keys_while_locked(other, keys: str, *, released_after: str):
    """Key lines read while connection ``other`` holds the review's write lock (a long import in
    another process), which it releases once ``released_after`` has been read."""
    from ldnscreen.session import KeyReader

    other.execute("BEGIN IMMEDIATE")

    class Keys(io.StringIO):
        def readline(self, *args):
            line = super().readline(*args)
            if self.tell() == len(released_after) and other.in_transaction:
                other.execute("ROLLBACK")  # the other process finishes after the first try
            return line

    return KeyReader(Keys(keys))


def test_decision_while_another_process_writes_is_retried_not_lost(tmp_path, records):
    """The write lock held elsewhere: the session says the file is busy, stays, and the key pressed again saves."""
    from rich.console import Console

    from ldnscreen.session import ScreeningSession

    path = _review(tmp_path, records)
    other = sqlite3.connect(path, isolation_level=None)
    out = io.StringIO()
    with Review.open(path) as review:
        review.store.busy_timeout = 0.2
        keys = _keys_while_locked(other, "i\ni\nq\n", released_after="i\ni\n")
        session = ScreeningSession(review, keys, Console(file=out, width=400))
        summary = session.run()
    other.close()
    text = out.getvalue()
    assert f"{path} is busy: another process is writing to it" in text and "nothing was saved" in text
    assert "Traceback" not in text and summary.included == 1
    assert text.index("is busy") < text.index("include saved")
    with ReviewStore.open(path) as store:
        assert [d.label for d in store.decisions()] == ["include"]


def test_a_note_the_review_was_busy_for_is_saved_without_typing_it_again(tmp_path, records):
    from rich.console import Console

    from ldnscreen.session import ScreeningSession

    path = _review(tmp_path, records)
    other = sqlite3.connect(path, isolation_level=None)
    out = io.StringIO()
    with Review.open(path) as review:
        review.store.busy_timeout = 0.2
        keys = _keys_while_locked(other, "n\ndose not reported\nn\nq\n", released_after="n\ndose not reported\nn\n")
        summary = ScreeningSession(review, keys, Console(file=out, width=400)).run()
    other.close()
    text = out.getvalue()
    assert "is busy" in text and "saving the note typed before: dose not reported" in text and summary.notes == 1
    with ReviewStore.open(path) as store:
        assert [d.note for d in store.decisions(include_log=True)] == ["dose not reported"]


class _Keys(io.StringIO):
    """Key lines that run ``actions[n]`` just before the n-th line is read (what another process does meanwhile)."""

    def __init__(self, text: str, actions: dict) -> None:
        super().__init__(text)
        self.actions, self.n = actions, 0

    def readline(self, *args):
        action = self.actions.get(self.n)
        self.n += 1
        if action is not None:
            action()
        return super().readline(*args)


def test_two_sessions_on_one_review_see_each_others_decisions(tmp_path, records):
    """Bob decides in another process: ann's session skips his records and says when she overrides one."""
    from rich.console import Console

    from ldnscreen.session import KeyReader, ScreeningSession

    path = _review(tmp_path, records)
    out = io.StringIO()
    with Review.open(path, background=True) as ann, Review.open(path) as bob:
        session = ScreeningSession(ann, KeyReader(io.StringIO()), Console(file=out, width=400), reviewer="ann")
        first = session._next_item()
        bob.decide(first.record.id, "exclude", reviewer="bob")  # while ann reads it
        session._decide(first, "include", None)
        ann.queue().wait(60)
        upcoming = ann.next(2)  # what ann would see next; bob decides both
        for item in upcoming:
            bob.decide(item.record.id, "exclude", reviewer="bob")
        shown = session._next_item()
        progress = ann.progress()
        bob.decide(first.record.id, "exclude", reviewer="bob")  # bob overrides ann in turn
        session._next_item()
    text = out.getvalue()
    assert f"bob excluded {first.record.id} meanwhile, which had another decision" in text
    assert "bob excluded this record" in text and "s ago; your include is recorded as the latest" in text
    assert "2 records decided meanwhile by bob" in text
    assert shown.record.id not in {item.record.id for item in upcoming} | {first.record.id}
    assert (progress.screened, progress.included, progress.left) == (3, 1, len(records) - 3)
    with ReviewStore.open(path) as store:
        log = [(d.reviewer, d.label) for d in store.decisions() if d.record_id == first.record.id]
        assert log == [("bob", "exclude"), ("ann", "include"), ("bob", "exclude")]


def test_two_sessions_at_once_are_shown_different_records(tmp_path, records):
    from rich.console import Console

    from ldnscreen.session import KeyReader, ScreeningSession

    path = _review(tmp_path, records)
    with Review.open(path, background=True) as one, Review.open(path, background=True) as two:
        ann = ScreeningSession(one, KeyReader(io.StringIO("q\n")), Console(file=io.StringIO()), reviewer="ann")
        bob = ScreeningSession(two, KeyReader(io.StringIO()), Console(file=io.StringIO()), reviewer="bob")
        first = ann._next_item()
        assert bob._next_item().record.id != first.record.id  # both rank alike: without claims, the same
        ann.run()  # ann quits: her claim goes
        assert first.record.id not in two.store.claimed("title-abstract", besides="bob")


def test_undo_in_a_session_undoes_its_own_decision_not_another_sessions(tmp_path, records):
    from rich.console import Console

    from ldnscreen.session import KeyReader, ScreeningSession

    path = _review(tmp_path, records)
    with Review.open(path, background=True) as review, Review.open(path) as other:
        session = ScreeningSession(review, KeyReader(io.StringIO()), Console(file=io.StringIO(), width=400))
        mine = session._next_item()
        session._decide(mine, "include", None)  # no --reviewer: the default
        theirs = next(r for r in records if r.id != mine.record.id)
        other.decide(theirs.id, "exclude")  # another process, after it
        session._undo()
        assert session.show_first == mine.record.id
        current = other.store.current_labels()
        assert mine.record.id not in current and current[theirs.id].label == "exclude"
        session._undo()  # nothing of its own left, and no reviewer to go by: nobody else's is undone
        assert theirs.id in other.store.current_labels()


def test_undo_of_a_decision_on_a_copy_merged_since_shows_the_record_kept(tmp_path, records):
    from rich.console import Console

    from ldnscreen.session import KeyReader, ScreeningSession

    path = _review(tmp_path, records)
    with ReviewStore.open(path) as store:
        store.decide(records[4].id, "include")
        store.merge_duplicates([(records[1], [records[1].id, records[4].id], "doi", 1.0)])
    with Review.open(path, background=True) as review:
        session = ScreeningSession(review, KeyReader(io.StringIO()), Console(file=io.StringIO(), width=400))
        session._undo()
        assert session.show_first == records[1].id
        assert session._next_item().record.id == records[1].id  # (was a KeyError)


def test_session_screens_records_imported_meanwhile_before_saying_all_screened(tmp_path, records):
    from rich.console import Console

    from ldnscreen.session import KeyReader, ScreeningSession

    path = _review(tmp_path, records)
    more = _more(3)

    def colleague_imports():
        with Review.open(path) as other:
            other.add_records(more, file_name="more.nbib")

    out = io.StringIO()
    keys = _Keys("i\n" * 20, {1: colleague_imports})
    with Review.open(path, background=True) as review:
        summary = ScreeningSession(review, KeyReader(keys), Console(file=out, width=400)).run()
    text = out.getvalue()
    assert summary.finished and summary.included == len(records) + len(more)
    assert "records were imported or merged (or, for full text, decided at title-abstract) elsewhere meanwhile" in text
    assert f"left {len(records) + len(more) - 2}" in text  # counts from the store, new records included
    with ReviewStore.open(path) as store:
        assert store.counts()["title-abstract"]["left"] == 0


@pytest.mark.slow
def test_real_session_latency_on_a_shared_corpus(tmp_path, shared_screening):
    """The real command on a pty, 2,500 records: the next record is drawn well within 0.2 s of a commit."""
    rows = list(csv.DictReader((shared_screening / "cohen2006_aceinhibitors.csv").open(encoding="utf-8")))
    records = [Record(title=r["title"] or "", abstract=r["abstract"] or "",
                      provenance=(Provenance("csv", "ace.csv", i, r["record_id"]),)) for i, r in enumerate(rows)]
    path = _review(tmp_path, records, name="ace")
    term = Terminal(["screen", str(path)], _env(tmp_path))
    for n in range(30):
        term.record_shown()
        time.sleep(0.05)  # a (very fast) reviewer
        term.send("i" if n % 5 == 0 else "e")
        if n % 5:
            term.expect(r"reason \[")
            term.send("\r")
        term.expect("saved")
    term.record_shown()
    term.send("q")
    assert term.wait() == 0
    latencies = sorted(float(x) for x in (tmp_path / "timings.txt").read_text().split())
    assert len(latencies) == 30
    assert latencies[len(latencies) // 2] < 0.2 and latencies[int(0.9 * len(latencies))] < 0.2
