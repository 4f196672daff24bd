"""The review store: one SQLite file per review.

Everything a review accumulates lives in one file (``NAME.ldnscreen``): the
imported records and the exports they came from, duplicate groups (with what
is needed to undo a merge), an append-only log of screening decisions from
which the current state is derived, stop decisions, and caches.

Design
------
* WAL journal, ``synchronous=FULL``: a decision is durable once
  :meth:`ReviewStore.decide` returns, and a process killed at any moment
  leaves a valid file.
* One transaction per user action (``BEGIN IMMEDIATE ... COMMIT``); an import
  that fails part-way leaves the store exactly as it was.
* The schema version is kept in ``PRAGMA user_version`` and checked on open;
  migrations run each in a transaction and are recorded in ``migrations``.
* The decision log is append-only (triggers refuse ``UPDATE`` and
  ``DELETE``); an undo is a new row that points at the decision it undoes.
* Named SQL parameters only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .records import Provenance, Record

__all__ = [
    "SCHEMA_VERSION",
    "STAGES",
    "LABELS",
    "Decision",
    "StopDecision",
    "ImportSummary",
    "MergeSummary",
    "ReviewStore",
    "StoreError",
    "StoreBusy",
    "review_path",
]

SCHEMA_VERSION = 1
#: Seconds a write waits for another process's write to finish before giving up.
BUSY_TIMEOUT = 30.0
#: Seconds a screening session's claim on the record it shows counts (see ReviewStore.claim).
CLAIM_SECONDS = 15 * 60.0
# Made by the first claim, not by the schema: a review file stays readable by any version.
_CLAIMS_TABLE = (
    "CREATE TABLE IF NOT EXISTS claims (record_id TEXT NOT NULL, stage TEXT NOT NULL, session TEXT NOT NULL, "
    "claimed_at TEXT NOT NULL, PRIMARY KEY (record_id, stage))"
)
APPLICATION_ID = 0x4C444E53  # "LDNS": marks the SQLite file as an ldnscreen review
SUFFIX = ".ldnscreen"
STAGES = ("title-abstract", "full-text")
LABELS = ("include", "exclude")


class StoreError(Exception):
    """A review file cannot be opened or an action on it is invalid."""


class StoreBusy(StoreError):
    """Another process held the review's write lock for longer than the busy timeout.

    Nothing of the action was written; it can be tried again.
    """


def review_path(name: str | Path) -> Path:
    """The review file for ``name``: ``ldn-review`` -> ``ldn-review.ldnscreen``.

    Examples
    --------
    >>> review_path("ldn-review").name
    'ldn-review.ldnscreen'
    >>> review_path("x/ldn.ldnscreen").name
    'ldn.ldnscreen'
    """
    path = Path(name)
    return path if path.suffix == SUFFIX else path.with_name(path.name + SUFFIX)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _ago(seconds: float) -> str:
    """:func:`_now` ``seconds`` ago (claims older than that have lapsed)."""
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Decision:
    """One row of the decision log.

    ``label`` is ``"include"`` or ``"exclude"`` (or ``"undo"`` / ``"note"``
    for log rows that undo a decision or attach a note).
    """

    id: int
    record_id: str
    stage: str
    label: str
    reason: str | None = None
    reviewer: str | None = None
    decided_at: str = ""
    note: str | None = None
    undoes: int | None = None

    @property
    def included(self) -> bool:
        return self.label == "include"


@dataclass(frozen=True)
class StopDecision:
    """A recorded decision to stop screening a stage, with the rule behind it."""

    id: int
    stage: str
    rule: str
    params: dict = field(hash=False)
    p_value: float | None
    recall_estimate: float | None
    reviewer: str | None
    decided_at: str


@dataclass(frozen=True)
class ImportSummary:
    """What one import added to the store."""

    file: str
    format: str
    database: str
    records_read: int
    records_added: int
    already_present: int
    skipped: int = 0
    already_imported: bool = False
    skipped_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class MergeSummary:
    """What one dedupe merge did."""

    groups: int
    records_merged: int
    group_ids: tuple[int, ...]


# --- schema -----------------------------------------------------------------

_SCHEMA_V1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE files (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    path        TEXT,
    sha256      TEXT NOT NULL UNIQUE,
    format      TEXT,
    database    TEXT,
    n_records   INTEGER NOT NULL,
    n_skipped   INTEGER NOT NULL DEFAULT 0,
    imported_at TEXT NOT NULL
);
CREATE TABLE records (
    id                TEXT PRIMARY KEY,
    seq               INTEGER NOT NULL UNIQUE,
    title             TEXT NOT NULL,
    abstract          TEXT NOT NULL DEFAULT '',
    authors           TEXT NOT NULL DEFAULT '[]',
    year              INTEGER,
    journal           TEXT NOT NULL DEFAULT '',
    doi               TEXT NOT NULL DEFAULT '',
    pmid              TEXT NOT NULL DEFAULT '',
    keywords          TEXT NOT NULL DEFAULT '[]',
    language          TEXT NOT NULL DEFAULT '',
    publication_types TEXT NOT NULL DEFAULT '[]',
    labels            TEXT NOT NULL DEFAULT '{}',
    merged_into       TEXT REFERENCES records(id),
    added_at          TEXT NOT NULL
);
CREATE INDEX records_merged_into ON records(merged_into);
CREATE TABLE sources (
    id        INTEGER PRIMARY KEY,
    record_id TEXT NOT NULL REFERENCES records(id),
    file_id   INTEGER NOT NULL REFERENCES files(id),
    database  TEXT NOT NULL,
    file      TEXT NOT NULL,
    position  INTEGER NOT NULL,
    source_id TEXT NOT NULL DEFAULT '',
    UNIQUE (file_id, position)
);
CREATE INDEX sources_record ON sources(record_id);
CREATE TABLE duplicate_groups (
    id             INTEGER PRIMARY KEY,
    primary_id     TEXT NOT NULL REFERENCES records(id),
    rule           TEXT,
    score          REAL,
    primary_before TEXT NOT NULL,
    merged_at      TEXT NOT NULL,
    undone_at      TEXT
);
CREATE TABLE duplicate_members (
    group_id  INTEGER NOT NULL REFERENCES duplicate_groups(id),
    record_id TEXT NOT NULL REFERENCES records(id),
    PRIMARY KEY (group_id, record_id)
);
CREATE TABLE decisions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id  TEXT NOT NULL REFERENCES records(id),
    stage      TEXT NOT NULL CHECK (stage IN ('title-abstract', 'full-text')),
    label      TEXT NOT NULL CHECK (label IN ('include', 'exclude', 'undo', 'note')),
    reason     TEXT,
    reviewer   TEXT,
    decided_at TEXT NOT NULL,
    note       TEXT,
    undoes     INTEGER REFERENCES decisions(id)
);
CREATE INDEX decisions_record ON decisions(record_id, stage);
CREATE INDEX decisions_undoes ON decisions(undoes);
CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END;
CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END;
CREATE TABLE stops (
    id              INTEGER PRIMARY KEY,
    stage           TEXT NOT NULL,
    rule            TEXT NOT NULL,
    params          TEXT NOT NULL DEFAULT '{}',
    p_value         REAL,
    recall_estimate REAL,
    reviewer        TEXT,
    decided_at      TEXT NOT NULL
);
CREATE TABLE blobs (
    key        TEXT PRIMARY KEY,
    data       BLOB NOT NULL,
    created_at TEXT NOT NULL
);
"""

#: Migrations: version -> (name, SQL). Each runs in its own transaction.
MIGRATIONS: dict[int, tuple[str, str]] = {1: ("initial schema", _SCHEMA_V1)}

#: The tables every review has (the schema's and the migrations log).
_TABLES = ("migrations", *re.findall(r"^CREATE TABLE (\w+)", _SCHEMA_V1, flags=re.MULTILINE))

_RECORD_COLUMNS = (
    "id, title, abstract, authors, year, journal, doi, pmid, keywords, language, "
    "publication_types, labels"
)


class ReviewStore:
    """A review kept in one SQLite file.

    Use :meth:`create` for a new review and :meth:`open` for an existing one.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from ldnscreen.records import Record, Provenance
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> store = ReviewStore.create(tmp / "demo")
    >>> rec = Record(title="LDN for fibromyalgia", provenance=(Provenance("pubmed", "a.nbib", 0),))
    >>> store.add_records([rec], file_name="a.nbib", content=b"a", database="pubmed").records_added
    1
    >>> store.decide(rec.id, "include", reviewer="jb").label
    'include'
    >>> list(store.current_labels())  == [rec.id]
    True
    >>> store.close()
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self._busy_timeout = BUSY_TIMEOUT
        #: opened with ``readonly=True`` and not writable: every write raises StoreError
        self.readonly = False

    # -- opening ---------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, criteria_text: str | None = None, *, name: str | None = None) -> "ReviewStore":
        """Create a new review file; refuses to overwrite an existing one."""
        path = review_path(path)
        if path.exists():
            raise StoreError(f"{path}: a review already exists here; open it instead of creating it")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the review: cannot make its folder "
                             f"{exc.filename or path.parent} ({exc.strerror or exc})") from None
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise StoreError(f"{path}: cannot create the review: its folder {path.parent} is not writable")
        store = None
        try:
            store = cls(path, cls._connect(path))
            store._migrate(0)
            with store.transaction() as db:
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                for key, value in (
                    ("name", name or path.stem),
                    ("created_at", _now()),
                    ("criteria", criteria_text),
                ):
                    db.execute("INSERT INTO meta (key, value) VALUES (:key, :value)", {"key": key, "value": value})
        except sqlite3.Error as exc:  # e.g. a full disk: no half-made review is left behind
            if store is not None:
                store.close()
            for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            raise StoreError(f"{path}: cannot create the review ({exc})") from None
        return store

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False) -> "ReviewStore":
        """Open an existing review, checking that it is one and its schema version.

        Parameters
        ----------
        path : str or Path
            ``NAME`` or ``NAME.ldnscreen``.
        readonly : bool, default=False
            Only read it: a review that cannot be written (a read-only file,
            or a folder where SQLite cannot create the ``-wal`` and ``-shm``
            files) is opened read-only instead of refused. Without it such a
            review is refused here, before any work, rather than at the
            first write.

        Raises
        ------
        StoreError
            One line naming the file and what is wrong with it.
        """
        path = review_path(path)
        if not path.exists():
            raise StoreError(f"{path}: no such review (create it with `ldnscreen init {path.stem}`)")
        problem = _unwritable(path)
        if problem is not None and not readonly:
            raise StoreError(problem)
        try:
            db = cls._connect(path) if problem is None else cls._connect_readonly(path)
            version = db.execute("PRAGMA user_version").fetchone()[0]
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: not a readable ldnscreen review ({exc})") from None
        if app_id != APPLICATION_ID:
            db.close()
            raise StoreError(f"{path}: not an ldnscreen review (SQLite application_id {app_id:#x})")
        if version > SCHEMA_VERSION:
            db.close()
            raise StoreError(
                f"{path}: review schema version {version} is newer than this ldnscreen supports "
                f"({SCHEMA_VERSION}); upgrade ldnscreen to open it"
            )
        store = cls(path, db)
        store.readonly = problem is not None
        if version < SCHEMA_VERSION:
            if store.readonly:
                store.close()
                raise StoreError(f"{problem}; it needs upgrading to schema version {SCHEMA_VERSION} before it is read")
            store._migrate(version)
        store._check_tables()
        return store

    @staticmethod
    def _connect_readonly(path: Path) -> sqlite3.Connection:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        try:
            db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT, check_same_thread=False)
            db.execute("PRAGMA user_version")
        except sqlite3.OperationalError:
            # a WAL review in a folder where the -shm file cannot be made: safe to read as an immutable file
            # only when no -wal file holds changes not yet folded into it (no one can write here either)
            wal = path.with_name(path.name + "-wal")
            if wal.exists() and wal.stat().st_size:
                raise StoreError(
                    f"{path}: cannot be read: its folder {path.parent} is not writable and {wal.name} holds changes "
                    "not yet saved into the review (open it once where the folder is writable)"
                ) from None
            db = sqlite3.connect(f"{uri}&immutable=1", uri=True, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        return db

    def _check_tables(self) -> None:
        """Refuse a review missing a table (dropped by hand): every command would fail on it later."""
        present = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [table for table in _TABLES if table not in present]
        if missing:
            self.close()
            raise StoreError(
                f"{self.path}: not a complete ldnscreen review "
                f"(table{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing)"
            )

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        return db

    @property
    def busy_timeout(self) -> float:
        """Seconds a write waits for another process's write before :class:`StoreBusy` is raised."""
        return self._busy_timeout

    @busy_timeout.setter
    def busy_timeout(self, seconds: float) -> None:
        self._db.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
        self._busy_timeout = float(seconds)

    def _migrate(self, from_version: int) -> None:
        for version in range(from_version + 1, SCHEMA_VERSION + 1):
            name, sql = MIGRATIONS[version]
            with self.transaction() as db:
                if version == 1:
                    db.execute(
                        "CREATE TABLE IF NOT EXISTS migrations "
                        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
                    )
                for statement in _split_sql(sql):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO migrations (version, name, applied_at) VALUES (:v, :n, :t)",
                    {"v": version, "n": name, "t": _now()},
                )
                db.execute(f"PRAGMA user_version = {int(version)}")

    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        """Close the connection (a checkpoint folds the WAL back into the file)."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
            self._db = None

    def __enter__(self) -> "ReviewStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception."""
        db = self._db
        if db is None:
            raise StoreError(f"{self.path}: the review is closed")
        if self.readonly:
            raise StoreError(_unwritable(self.path) or f"{self.path} was opened read-only")
        try:
            db.execute("BEGIN IMMEDIATE")  # waits up to busy_timeout for another process's write lock
        except sqlite3.OperationalError as exc:
            raise self._write_error(exc) from None
        try:
            yield db
        except BaseException as exc:
            db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise self._write_error(exc) from None
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise self._write_error(exc) from None

    def _write_error(self, exc: sqlite3.OperationalError) -> Exception:
        """The one-line error for a failed write; SQLite's own where it is not about the file."""
        name = getattr(exc, "sqlite_errorname", "")
        if name.startswith("SQLITE_READONLY"):
            return StoreError(_unwritable(self.path) or f"{self.path} is read-only ({exc})")
        if name.startswith("SQLITE_BUSY") or "database is locked" in str(exc):
            return StoreBusy(
                f"{self.path} is busy: another process is writing to it (waited {self._busy_timeout:g} s); "
                "nothing was saved, try again"
            )
        return exc

    # -- meta and blobs ---------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = :key", {"key": key}).fetchone()
        return default if row is None or row["value"] is None else row["value"]

    def set_meta(self, key: str, value: str | None) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (:key, :value) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                {"key": key, "value": value},
            )

    @property
    def name(self) -> str:
        return self.get_meta("name", self.path.stem)

    @property
    def criteria_text(self) -> str | None:
        """The review's criteria as TOML text, or ``None``."""
        return self.get_meta("criteria")

    def get_blob(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT data FROM blobs WHERE key = :key", {"key": key}).fetchone()
        return None if row is None else bytes(row["data"])

    def put_blob(self, key: str, data: bytes) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO blobs (key, data, created_at) VALUES (:key, :data, :t) "
                "ON CONFLICT(key) DO UPDATE SET data = excluded.data, created_at = excluded.created_at",
                {"key": key, "data": sqlite3.Binary(data), "t": _now()},
            )

    def delete_blobs(self, prefix: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM blobs WHERE key LIKE :p", {"p": prefix.replace("%", "") + "%"})

    # -- records ------------------------------------------------------------------

    def add_records(
        self,
        records: Iterable[Record],
        *,
        file_name: str,
        content: bytes | None = None,
        sha256: str | None = None,
        path: str | None = None,
        database: str = "",
        format: str = "",
        skipped: Sequence[str] = (),
    ) -> ImportSummary:
        """Add the records read from one export file, in one transaction.

        The file is identified by the SHA-256 of its bytes (``content`` or
        ``sha256``): importing the same file again adds nothing. A record whose
        content-derived id is already stored gets one more source row (it is
        the same citation exported twice) but no second record.
        """
        if sha256 is None:
            if content is None:
                raise ValueError("add_records needs the file's content or its sha256")
            sha256 = hashlib.sha256(content).hexdigest()
        records = list(records)
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM files WHERE sha256 = :s", {"s": sha256}).fetchone():
                return ImportSummary(file_name, format, database, len(records), 0, len(records),
                                     len(skipped), True, tuple(skipped))
            now = _now()
            file_id = db.execute(
                "INSERT INTO files (name, path, sha256, format, database, n_records, n_skipped, imported_at) "
                "VALUES (:name, :path, :sha, :format, :database, :n, :k, :t)",
                {"name": file_name, "path": path, "sha": sha256, "format": format, "database": database,
                 "n": len(records), "k": len(skipped), "t": now},
            ).lastrowid
            seq = db.execute("SELECT COALESCE(MAX(seq), -1) FROM records").fetchone()[0]
            existing = {
                row[0]
                for chunk in _chunks([r.id for r in records], 900)
                for row in db.execute(
                    f"SELECT id FROM records WHERE id IN ({','.join('?' * len(chunk))})", chunk
                )
            }
            new_rows, source_rows, seen = [], [], set()
            for position, rec in enumerate(records):
                if rec.id not in existing and rec.id not in seen:
                    seen.add(rec.id)
                    seq += 1
                    new_rows.append(_record_row(rec, seq, now))
                prov = rec.provenance[0] if rec.provenance else Provenance(database, file_name, position)
                source_rows.append(
                    {"record_id": rec.id, "file_id": file_id, "database": prov.database or database,
                     "file": prov.file or file_name, "position": position, "source_id": prov.source_id}
                )
            db.executemany(
                "INSERT INTO records (id, seq, title, abstract, authors, year, journal, doi, pmid, keywords, "
                "language, publication_types, labels, added_at) VALUES (:id, :seq, :title, :abstract, :authors, "
                ":year, :journal, :doi, :pmid, :keywords, :language, :publication_types, :labels, :added_at)",
                new_rows,
            )
            db.executemany(
                "INSERT INTO sources (record_id, file_id, database, file, position, source_id) "
                "VALUES (:record_id, :file_id, :database, :file, :position, :source_id)",
                source_rows,
            )
        return ImportSummary(file_name, format, database, len(records), len(new_rows),
                             len(records) - len(new_rows), len(skipped), False, tuple(skipped))

    def import_file(self, path: str | Path, *, format: str | None = None, skip_bad: bool = False,
                    encoding: str | None = None) -> ImportSummary:
        """Read one export with :func:`ldnscreen.io.read_file` and add its records.

        Raises :class:`ldnscreen.io.ReadError` (and changes nothing) when the
        file cannot be read, or has bad records and ``skip_bad`` is false.
        """
        from .io import read_file

        path = Path(path)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"{path}: cannot read the file ({exc.strerror})") from None
        sha = hashlib.sha256(content).hexdigest()
        if self._db.execute("SELECT 1 FROM files WHERE sha256 = :s", {"s": sha}).fetchone():
            n = self._db.execute("SELECT n_records FROM files WHERE sha256 = :s", {"s": sha}).fetchone()[0]
            return ImportSummary(path.name, "", "", n, 0, n, 0, True)
        result = read_file(path, format=format, skip_bad=skip_bad, encoding=encoding)
        return self.add_records(
            result.records,
            file_name=path.name,
            sha256=sha,
            path=str(path),
            database=result.database,
            format=result.format,
            skipped=[f"{bad.location}: {bad.problem}" for bad in result.skipped],
        )

    def records(self, active_only: bool = True) -> list[Record]:
        """Records in import order, each with the union of its provenance.

        ``active_only`` leaves out records merged into another as duplicates.
        """
        where = "WHERE merged_into IS NULL" if active_only else ""
        rows = self._db.execute(f"SELECT {_RECORD_COLUMNS}, merged_into FROM records {where} ORDER BY seq").fetchall()
        provenance = self._provenance()
        return [_row_record(row, provenance.get(row["id"], ())) for row in rows]

    def record(self, record_id: str) -> Record:
        row = self._db.execute(
            f"SELECT {_RECORD_COLUMNS} FROM records WHERE id = :id", {"id": record_id}
        ).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no record with id {record_id!r}")
        return _row_record(row, self._provenance().get(record_id, ()))

    def active_ids(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT id FROM records WHERE merged_into IS NULL ORDER BY seq")]

    def _resolve(self) -> dict[str, str]:
        """Map every merged-away record to the active record it now lives in."""
        merged = dict(self._db.execute("SELECT id, merged_into FROM records WHERE merged_into IS NOT NULL"))
        resolved = {}
        for rid in merged:
            target, hops = merged[rid], 0
            while target in merged and hops < 1000:
                target, hops = merged[target], hops + 1
            resolved[rid] = target
        return resolved

    def active_id(self, record_id: str) -> str:
        """The active record ``record_id`` lives in now: itself, or the record it was merged into."""
        return self._resolve().get(record_id, record_id)

    def _provenance(self) -> dict[str, tuple[Provenance, ...]]:
        resolved = self._resolve()
        out: dict[str, list[Provenance]] = {}
        for row in self._db.execute(
            "SELECT record_id, database, file, position, source_id FROM sources ORDER BY id"
        ):
            prov = Provenance(row["database"], row["file"], row["position"], row["source_id"])
            out.setdefault(row["record_id"], []).append(prov)
            target = resolved.get(row["record_id"])
            if target is not None:
                out.setdefault(target, []).append(prov)
        return {k: tuple(v) for k, v in out.items()}

    # -- duplicates -------------------------------------------------------------------

    def merge_duplicates(self, groups: Iterable[tuple[Record, Sequence[str], str, float]]) -> MergeSummary:
        """Merge duplicate groups in one transaction.

        Each group is ``(merged_primary, member_ids, rule, score)`` where
        ``merged_primary`` is the primary record with fields completed from the
        others (keeping the primary's id) and ``member_ids`` the ids merged into
        it. The primary's previous fields are kept so the merge can be undone.
        """
        group_ids, merged = [], 0
        with self.transaction() as db:
            for primary, member_ids, rule, score in groups:
                before = db.execute(
                    f"SELECT {_RECORD_COLUMNS} FROM records WHERE id = :id AND merged_into IS NULL",
                    {"id": primary.id},
                ).fetchone()
                if before is None:
                    raise StoreError(f"{self.path}: record {primary.id} is not an active record")
                gid = db.execute(
                    "INSERT INTO duplicate_groups (primary_id, rule, score, primary_before, merged_at) "
                    "VALUES (:p, :rule, :score, :before, :t)",
                    {"p": primary.id, "rule": rule, "score": score, "before": json.dumps(dict(before)), "t": _now()},
                ).lastrowid
                row = _record_row(primary, 0, "")
                db.execute(
                    "UPDATE records SET title = :title, abstract = :abstract, authors = :authors, year = :year, "
                    "journal = :journal, doi = :doi, pmid = :pmid, keywords = :keywords, language = :language, "
                    "publication_types = :publication_types, labels = :labels WHERE id = :id",
                    row,
                )
                for mid in member_ids:
                    if mid == primary.id:
                        continue
                    cur = db.execute(
                        "UPDATE records SET merged_into = :p WHERE id = :id AND merged_into IS NULL",
                        {"p": primary.id, "id": mid},
                    )
                    if cur.rowcount != 1:
                        raise StoreError(f"{self.path}: record {mid} is not an active record")
                    db.execute(
                        "INSERT INTO duplicate_members (group_id, record_id) VALUES (:g, :r)", {"g": gid, "r": mid}
                    )
                    merged += 1
                group_ids.append(gid)
        return MergeSummary(len(group_ids), merged, tuple(group_ids))

    def duplicate_groups(self, include_undone: bool = False) -> list[dict]:
        """Merged groups: id, primary_id, member_ids, rule, score, merged_at, undone_at."""
        where = "" if include_undone else "WHERE undone_at IS NULL"
        groups = []
        for row in self._db.execute(f"SELECT * FROM duplicate_groups {where} ORDER BY id"):
            members = [r[0] for r in self._db.execute(
                "SELECT record_id FROM duplicate_members WHERE group_id = :g ORDER BY record_id", {"g": row["id"]})]
            groups.append({"id": row["id"], "primary_id": row["primary_id"], "member_ids": members,
                           "rule": row["rule"], "score": row["score"], "merged_at": row["merged_at"],
                           "undone_at": row["undone_at"]})
        return groups

    def undo_merge(self, group_id: int | None = None) -> int:
        """Undo one merge (the latest if ``group_id`` is None); returns its id."""
        with self.transaction() as db:
            if group_id is None:
                row = db.execute(
                    "SELECT * FROM duplicate_groups WHERE undone_at IS NULL ORDER BY id DESC LIMIT 1").fetchone()
            else:
                row = db.execute("SELECT * FROM duplicate_groups WHERE id = :g AND undone_at IS NULL",
                                 {"g": group_id}).fetchone()
            if row is None:
                raise StoreError(f"{self.path}: no merge to undo" + (f" with id {group_id}" if group_id else ""))
            gid = row["id"]
            if db.execute("SELECT 1 FROM records WHERE id = :p AND merged_into IS NOT NULL",
                          {"p": row["primary_id"]}).fetchone():
                raise StoreError(f"{self.path}: merge {gid}'s primary record was merged again later; undo that first")
            before = json.loads(row["primary_before"])
            db.execute(
                "UPDATE records SET title = :title, abstract = :abstract, authors = :authors, year = :year, "
                "journal = :journal, doi = :doi, pmid = :pmid, keywords = :keywords, language = :language, "
                "publication_types = :publication_types, labels = :labels WHERE id = :id",
                before,
            )
            db.execute(
                "UPDATE records SET merged_into = NULL WHERE id IN "
                "(SELECT record_id FROM duplicate_members WHERE group_id = :g)", {"g": gid})
            db.execute("UPDATE duplicate_groups SET undone_at = :t WHERE id = :g", {"t": _now(), "g": gid})
        return gid

    # -- decisions -----------------------------------------------------------------------

    def decide(
        self,
        record_id: str,
        label: str,
        *,
        stage: str = "title-abstract",
        reason: str | None = None,
        reviewer: str | None = None,
        note: str | None = None,
    ) -> Decision:
        """Append a screening decision and commit it before returning."""
        _check_stage(stage)
        if label not in LABELS:
            raise StoreError(f"label must be one of {', '.join(LABELS)}, not {label!r}")
        with self.transaction() as db:
            return self._insert_decision(db, record_id, stage, label, reason, reviewer, note, None)

    def decide_many(self, decisions: Iterable[Mapping]) -> list[Decision]:
        """Append many decisions in ONE transaction (all or nothing).

        Each mapping has ``record_id``, ``label`` and optionally ``stage``,
        ``reason``, ``reviewer``, ``note``.
        """
        out = []
        with self.transaction() as db:
            for d in decisions:
                stage = d.get("stage") or "title-abstract"
                _check_stage(stage)
                if d["label"] not in LABELS:
                    raise StoreError(f"label must be one of {', '.join(LABELS)}, not {d['label']!r}")
                out.append(self._insert_decision(db, d["record_id"], stage, d["label"], d.get("reason"),
                                                 d.get("reviewer"), d.get("note"), None))
        return out

    def add_note(self, record_id: str, note: str, *, stage: str = "title-abstract",
                 reviewer: str | None = None) -> Decision:
        """Attach a note to a record without deciding it."""
        _check_stage(stage)
        with self.transaction() as db:
            return self._insert_decision(db, record_id, stage, "note", None, reviewer, note, None)

    def _insert_decision(self, db, record_id, stage, label, reason, reviewer, note, undoes) -> Decision:
        if db.execute("SELECT 1 FROM records WHERE id = :id", {"id": record_id}).fetchone() is None:
            raise StoreError(f"{self.path}: no record with id {record_id!r}")
        decided_at = _now()
        cur = db.execute(
            "INSERT INTO decisions (record_id, stage, label, reason, reviewer, decided_at, note, undoes) "
            "VALUES (:record_id, :stage, :label, :reason, :reviewer, :decided_at, :note, :undoes)",
            {"record_id": record_id, "stage": stage, "label": label, "reason": reason, "reviewer": reviewer,
             "decided_at": decided_at, "note": note, "undoes": undoes},
        )
        return Decision(cur.lastrowid, record_id, stage, label, reason, reviewer, decided_at, note, undoes)

    def undo_last(
        self, stage: str = "title-abstract", reviewer: str | None = None, *, among: Sequence[int] | None = None
    ) -> Decision | None:
        """Undo the latest standing decision of ``stage`` (by ``reviewer`` if given).

        With ``among`` (decision ids, e.g. those one screening session made), only
        one of those: another session's decisions on the same review are never
        undone by it. Returns the decision that was undone, or ``None`` when there
        is none.
        """
        _check_stage(stage)
        with self.transaction() as db:
            params = {"stage": stage, "reviewer": reviewer}
            only = ""
            if among is not None:
                only = f"AND id IN ({', '.join(str(int(i)) for i in among) or 'NULL'}) "
            row = db.execute(
                "SELECT * FROM decisions d WHERE stage = :stage AND label IN ('include', 'exclude') "
                "AND (:reviewer IS NULL OR reviewer = :reviewer) " + only +
                "AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.undoes = d.id) ORDER BY id DESC LIMIT 1",
                params,
            ).fetchone()
            if row is None:
                return None
            self._insert_decision(db, row["record_id"], stage, "undo", None, reviewer, None, row["id"])
            return _row_decision(row)

    def decisions(self, stage: str | None = None, *, include_log: bool = False) -> list[Decision]:
        """Standing include/exclude decisions in the order they were made.

        With ``include_log=True`` every log row is returned, undone decisions,
        undo rows and notes included.
        """
        if include_log:
            sql = "SELECT * FROM decisions d WHERE (:stage IS NULL OR stage = :stage) ORDER BY id"
        else:
            sql = (
                "SELECT * FROM decisions d WHERE (:stage IS NULL OR stage = :stage) "
                "AND label IN ('include', 'exclude') "
                "AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.undoes = d.id) ORDER BY id"
            )
        return [_row_decision(r) for r in self._db.execute(sql, {"stage": stage})]

    def decisions_after(self, log_id: int) -> list[Decision]:
        """Every log row (any stage, undos and notes included) after row ``log_id``, in order."""
        rows = self._db.execute("SELECT * FROM decisions WHERE id > :id ORDER BY id", {"id": log_id})
        return [_row_decision(r) for r in rows]

    def last_log_id(self) -> int:
        """Id of the newest decision-log row (0 when the log is empty)."""
        return self._db.execute("SELECT COALESCE(MAX(id), 0) FROM decisions").fetchone()[0]

    def standing_decision(self, record_id: str, stage: str = "title-abstract") -> Decision | None:
        """The decision of one record at ``stage`` that :meth:`current_labels` would give, or ``None``.

        One indexed query: what a screening session asks before it shows a record or saves a decision.
        """
        _check_stage(stage)
        if stage == "full-text":  # (a full-text decision stands while the record is included)
            screened = self.standing_decision(record_id, "title-abstract")
            if screened is None or screened.label != "include":
                return None
        # the record and the copies merged into it (indexed by merged_into), as current_labels reads them
        row = self._db.execute(
            "WITH RECURSIVE copies(id) AS (SELECT :r UNION SELECT r.id FROM records r JOIN copies c "
            "ON r.merged_into = c.id) "
            "SELECT * FROM decisions d WHERE record_id IN (SELECT id FROM copies) AND stage = :stage "
            "AND label IN ('include', 'exclude') "
            "AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.undoes = d.id) ORDER BY id DESC LIMIT 1",
            {"r": record_id, "stage": stage},
        ).fetchone()
        return None if row is None else replace(_row_decision(row), record_id=record_id)

    @property
    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: changes when another connection commits to the file."""
        return self._db.execute("PRAGMA data_version").fetchone()[0]

    def records_version(self) -> tuple[int, ...]:
        """Changes when records are imported, merged or unmerged (cheap: for noticing another process's work)."""
        return tuple(self._db.execute(
            "SELECT (SELECT COALESCE(MAX(seq), -1) FROM records), "
            "(SELECT COUNT(*) FROM records WHERE merged_into IS NULL), "
            "(SELECT COUNT(*) FROM duplicate_groups), (SELECT COUNT(undone_at) FROM duplicate_groups)"
        ).fetchone())

    def current_labels(self, stage: str = "title-abstract") -> dict[str, Decision]:
        """The current decision per active record for ``stage`` (latest standing one wins).

        A record merged into another as a duplicate is that record: a decision made on
        either copy counts for the record kept (returned with its id), and the group's
        latest standing decision wins, as a relabelling would. So a merge loses no
        decision, and undoing it gives each copy its own decisions back. (Copies that
        were decided differently before a merge are listed by :meth:`decision_conflicts`.)
        A full-text decision stands only while its record is included at title-abstract.
        """
        _check_stage(stage)
        active = set(self.active_ids())
        resolved = self._resolve()
        current: dict[str, Decision] = {}
        for d in self.decisions(stage):
            target = d.record_id if d.record_id in active else resolved.get(d.record_id)
            if target is None:
                continue
            if target != d.record_id:
                d = replace(d, record_id=target)
            current.pop(target, None)  # keep insertion order = order of latest decision
            current[target] = d
        if stage == "full-text":
            screened = self.current_labels("title-abstract")
            current = {k: d for k, d in current.items() if k in screened and screened[k].label == "include"}
        return current

    def decision_conflicts(self, groups: Iterable[Sequence[str]], stage: str = "title-abstract") -> list[dict]:
        """Groups of records (e.g. planned duplicates) whose members' current decisions differ.

        Returns one ``{"record_ids", "decisions"}`` per such group, ``decisions`` mapping
        each decided member to its current :class:`Decision` at ``stage``, as
        :meth:`current_labels` gives it (so including decisions on copies merged into it).
        """
        current = self.current_labels(stage)  # (with the copies merged into each member before)
        out = []
        for ids in groups:
            decided = {rid: current[rid] for rid in ids if rid in current}
            if len({d.label for d in decided.values()}) > 1:
                out.append({"record_ids": tuple(ids), "decisions": decided})
        return out

    # -- stop decisions --------------------------------------------------------------------

    def record_stop(
        self,
        rule: str,
        params: Mapping,
        p_value: float | None,
        stage: str = "title-abstract",
        recall_estimate: float | None = None,
        reviewer: str | None = None,
    ) -> StopDecision:
        """Record the decision to stop screening ``stage`` with the rule that supports it."""
        _check_stage(stage)
        now = _now()
        with self.transaction() as db:
            sid = db.execute(
                "INSERT INTO stops (stage, rule, params, p_value, recall_estimate, reviewer, decided_at) "
                "VALUES (:stage, :rule, :params, :p, :r, :reviewer, :t)",
                {"stage": stage, "rule": rule, "params": json.dumps(dict(params), sort_keys=True), "p": p_value,
                 "r": recall_estimate, "reviewer": reviewer, "t": now},
            ).lastrowid
        return StopDecision(sid, stage, rule, dict(params), p_value, recall_estimate, reviewer, now)

    # -- claims: the record each screening session has on screen ------------------------------

    def claim(self, record_id: str, stage: str, session: str, *, ttl: float = CLAIM_SECONDS) -> bool:
        """Mark ``record_id`` as on ``session``'s screen at ``stage``; ``False`` when another session has it.

        Two reviewers screening one review at once would otherwise be shown the same
        record: both rank alike. A session holds one claim at a time (this one
        replaces its others); a claim older than ``ttl`` seconds (a session that
        crashed) no longer counts. Claims are not decisions: nothing else reads them.
        """
        _check_stage(stage)
        with self.transaction() as db:
            db.execute(_CLAIMS_TABLE)
            db.execute("DELETE FROM claims WHERE session = :s OR claimed_at < :cutoff",
                       {"s": session, "cutoff": _ago(ttl)})
            if db.execute("SELECT 1 FROM claims WHERE record_id = :r AND stage = :stage",
                          {"r": record_id, "stage": stage}).fetchone():
                return False
            db.execute("INSERT INTO claims (record_id, stage, session, claimed_at) VALUES (:r, :stage, :s, :t)",
                       {"r": record_id, "stage": stage, "s": session, "t": _now()})
        return True

    def claimed(self, stage: str, *, besides: str | None = None, ttl: float = CLAIM_SECONDS) -> set[str]:
        """Records on another session's screen at ``stage`` (not ``besides``'s), claimed in the last ``ttl`` s."""
        _check_stage(stage)
        if not self._has_claims():
            return set()  # (made by the first claim: a review nobody screened in since has none)
        rows = self._db.execute(
            "SELECT record_id FROM claims WHERE stage = :stage AND claimed_at >= :cutoff "
            "AND (:s IS NULL OR session != :s)", {"stage": stage, "cutoff": _ago(ttl), "s": besides})
        return {row[0] for row in rows}

    def _has_claims(self) -> bool:
        return self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'claims'").fetchone() is not None

    def release_claims(self, session: str) -> None:
        """Forget ``session``'s claim (it ends)."""
        if self._has_claims():
            with self.transaction() as db:
                db.execute("DELETE FROM claims WHERE session = :s", {"s": session})

    def stops(self, stage: str | None = None) -> list[StopDecision]:
        rows = self._db.execute(
            "SELECT * FROM stops WHERE (:stage IS NULL OR stage = :stage) ORDER BY id", {"stage": stage})
        return [StopDecision(r["id"], r["stage"], r["rule"], json.loads(r["params"]), r["p_value"],
                             r["recall_estimate"], r["reviewer"], r["decided_at"]) for r in rows]

    # -- summaries ---------------------------------------------------------------------------

    def files(self) -> list[dict]:
        return [dict(r) for r in self._db.execute("SELECT * FROM files ORDER BY id")]

    def counts(self) -> dict:
        """Counts for ``status`` and the PRISMA flow."""
        q = self._db.execute
        by_db = {r[0]: r[1] for r in q("SELECT database, COUNT(*) FROM sources GROUP BY database ORDER BY database")}
        identified = sum(by_db.values())
        unique = q("SELECT COUNT(*) FROM records").fetchone()[0]
        active = q("SELECT COUNT(*) FROM records WHERE merged_into IS NULL").fetchone()[0]
        out = {
            "identified": identified,
            "by_database": by_db,
            "identical_at_import": identified - unique,
            "merged_by_dedupe": unique - active,
            "duplicates_removed": identified - active,
            "after_duplicates_removed": active,
            "skipped_at_import": q("SELECT COALESCE(SUM(n_skipped), 0) FROM files").fetchone()[0],
            "files": q("SELECT COUNT(*) FROM files").fetchone()[0],
        }
        for stage in STAGES:
            cur = self.current_labels(stage)
            included = sum(d.label == "include" for d in cur.values())
            reasons: dict[str, int] = {}
            for d in cur.values():
                if d.label == "exclude":
                    reasons[d.reason or "no reason given"] = reasons.get(d.reason or "no reason given", 0) + 1
            out[stage] = {"screened": len(cur), "included": included, "excluded": len(cur) - included,
                          "exclusion_reasons": reasons}
        out["title-abstract"]["left"] = active - out["title-abstract"]["screened"]
        out["full-text"]["left"] = out["title-abstract"]["included"] - out["full-text"]["screened"]
        return out


# --- helpers ---------------------------------------------------------------------------------------


def _unwritable(path: Path) -> str | None:
    """Why SQLite cannot write the review at ``path`` (one line), or ``None`` when it can."""
    if not os.access(path, os.W_OK):
        return f"{path} is read-only: this command writes to the review (make it writable, or work on a copy)"
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        return (f"{path}: its folder {folder} is not writable, and SQLite writes a review through "
                f"{path.name}-wal and {path.name}-shm beside it (make the folder writable, or work on a copy)")
    return None


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise StoreError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")


def _split_sql(script: str) -> list[str]:
    """Split a schema script into statements, keeping trigger bodies whole."""
    statements, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        text = "\n".join(buf).strip()
        if text.endswith(";") and (not text.upper().startswith("CREATE TRIGGER") or text.upper().endswith("END;")):
            statements.append(text)
            buf = []
    if "".join(buf).strip():
        statements.append("\n".join(buf))
    return statements


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _record_row(rec: Record, seq: int, added_at: str) -> dict:
    return {
        "id": rec.id,
        "seq": seq,
        "title": rec.title,
        "abstract": rec.abstract or "",
        "authors": json.dumps(list(rec.authors), ensure_ascii=False),
        "year": rec.year,
        "journal": rec.journal or "",
        "doi": rec.doi or "",
        "pmid": rec.pmid or "",
        "keywords": json.dumps(list(rec.keywords), ensure_ascii=False),
        "language": rec.language or "",
        "publication_types": json.dumps(list(rec.publication_types), ensure_ascii=False),
        "labels": json.dumps(dict(rec.labels), sort_keys=True),
        "added_at": added_at,
    }


def _row_record(row: sqlite3.Row, provenance: tuple[Provenance, ...]) -> Record:
    return Record(
        title=row["title"],
        abstract=row["abstract"],
        authors=tuple(json.loads(row["authors"])),
        year=row["year"],
        journal=row["journal"],
        doi=row["doi"],
        pmid=row["pmid"],
        keywords=tuple(json.loads(row["keywords"])),
        language=row["language"],
        publication_types=tuple(json.loads(row["publication_types"])),
        provenance=provenance,
        labels=json.loads(row["labels"]),
        id=row["id"],
    )


def _row_decision(row: sqlite3.Row) -> Decision:
    return Decision(row["id"], row["record_id"], row["stage"], row["label"], row["reason"], row["reviewer"],
                    row["decided_at"], row["note"], row["undoes"])
