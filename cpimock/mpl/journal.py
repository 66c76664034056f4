"""The message processing log (MPL) store: the workspace's ``cpimock.db`` (SQLite, WAL).

:meth:`Journal.record` only puts the record on a bounded queue; a writer thread inserts what
has queued up in one transaction per batch. So a call never waits for the disk, a burst of N
calls followed by :meth:`Journal.close` leaves exactly N records, and a killed process loses
at most the batch it had not committed yet. When the database cannot be written (disk full,
locked by another program) the writer logs once that the MPL is behind and retries; the
server keeps answering, and records that no longer fit the queue are counted in ``dropped``.

Several server processes may write the same file: every write is a short ``BEGIN IMMEDIATE``
transaction and every connection waits for the others (``busy_timeout``).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from cpimock.config import JournalConfig
from cpimock.errors import JournalError
from cpimock.mpl import rows as mpl_rows
from cpimock.mpl import sql as mpl_sql
from cpimock.mpl.record import REFUSED, STATUSES, MplRecord, StoredAttachment, new_message_guid, refusal, utcnow
from cpimock.mpl.sql import Where

__all__ = ["REFUSED", "STATUSES", "Journal", "MplRecord", "StoredAttachment", "Where", "new_message_guid", "refusal"]

log = logging.getLogger(__name__)

_STOP = object()
# retention runs at most this often per writer (seconds)
_PRUNE_EVERY_S = 30.0
# a request waits for the writer in steps of this long, and no longer than _MAX_WAIT_S in all
_WAIT_STEP_S = 0.001
_MAX_WAIT_S = 0.25
# opening a store that another process is just creating is retried this often
_OPEN_RETRY_S = 0.02
# the writer waits this long after the first record of a batch for more to queue up (less when
# a quarter batch is waiting): what a killed process can lose is about one batch either way
_GATHER_S = 0.05


def _connect(path: Path, *, readonly: bool, busy_timeout_s: float) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(
            path.resolve().as_uri() + "?mode=ro", uri=True, timeout=busy_timeout_s, check_same_thread=False
        )
    else:
        conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        # per connection: in WAL mode a commit then survives a crash of the process (kill -9),
        # without an fsync per transaction; only a power cut may lose the last ones
        conn.execute("PRAGMA synchronous = NORMAL")
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _prepare(conn: sqlite3.Connection) -> None:
    """WAL mode, the schema, its version: idempotent, for a new store as for an existing one."""
    # a new store gets 16 KiB pages: a record with its two bodies of a few KB then shares a page
    # with others instead of taking one of its own, which halves the writer's work (takes effect
    # only before the first table exists)
    conn.execute("PRAGMA page_size = 16384")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in mpl_sql.SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        _upgrade(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _missing_columns(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    present = {row[1] for row in conn.execute("PRAGMA table_info(mpl)")}
    return [(column, kind) for column, kind in mpl_sql.ADDED_COLUMNS if column not in present]


def _upgrade(conn: sqlite3.Connection) -> None:
    """In the caller's transaction: the columns a store an earlier cpimock made lacks, and this
    schema's version."""
    for column, kind in _missing_columns(conn):
        conn.execute(f"ALTER TABLE mpl ADD COLUMN {column} {kind}")
    conn.execute(f"PRAGMA user_version = {mpl_sql.SCHEMA_VERSION}")


def _add_columns(path: Path, busy_timeout_s: float) -> None:
    """Bring a store an earlier cpimock made up to this one's columns (for a reader that opens it first)."""
    conn = _connect(path, readonly=False, busy_timeout_s=busy_timeout_s)
    try:
        conn.execute("BEGIN IMMEDIATE")
        _upgrade(conn)
        conn.execute("COMMIT")
    finally:
        conn.close()


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def _open_error(path: Path, exc: sqlite3.Error) -> JournalError:
    text = str(exc)
    if _is_busy(exc):
        return JournalError(
            f"{path}: the message log is locked by another program ({text}); close the program that holds it "
            "(a database browser with an open transaction) and start again"
        )
    return JournalError(
        f"{path}: not a usable message log ({text}); move it aside (mv {path.name} {path.name}.broken) "
        "and start again to begin a new one"
    )


class Journal:
    """The MPL store. Open it with :meth:`open` (writing) or :meth:`open_readonly` (tools)."""

    def __init__(
        self,
        path: Path,
        config: JournalConfig,
        conn: sqlite3.Connection,
        *,
        readonly: bool,
        busy_timeout_s: float,
        queue_size: int,
        batch_size: int,
    ) -> None:
        self.path = path
        self.config = config
        self.readonly = readonly
        self._conn = conn
        self._read_lock = threading.Lock()
        self._busy_timeout_s = busy_timeout_s
        self._batch_size = batch_size
        # records waiting for the writer (as mpl_rows.queued made them), and the marks of flush()
        # and close() between them
        self._pending: collections.deque[object] = collections.deque()
        # the writer's process: a Journal (and its thread) lives in the process that opened it
        self._pid = os.getpid()
        self._queue_size = queue_size
        self._gather_records = max(1, batch_size // 4)
        self._wake = threading.Event()  # something was queued
        self._hurry = threading.Event()  # write now: a flush or close is waiting
        self._written = 0  # by the writer thread only
        self._dropped_queued = 0  # the queue was full (record)
        self._dropped_written = 0  # the database refused them, or close gave up on a failing disk
        self._behind = False
        self._closed = False
        self._give_up_at: float | None = None
        self._thread: threading.Thread | None = None
        if not readonly and config.enabled:
            self._thread = threading.Thread(target=self._run, name="cpimock-journal", daemon=True)
            self._thread.start()

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path,
        config: JournalConfig | None = None,
        *,
        busy_timeout_s: float = 5.0,
        queue_size: int = 50_000,
        batch_size: int = 500,
    ) -> Journal:
        """Open (or create, mode 0600) the store at *path*; JournalError if it is corrupt or locked."""
        config = config or JournalConfig()
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
        except OSError as exc:
            raise JournalError(f"{path}: cannot create the message log ({exc.strerror}); check the folder") from None
        # Switching a new store to WAL needs the file to itself, and SQLite reports "locked" at
        # once instead of waiting for the busy timeout: server workers starting together on a
        # fresh workspace (serve --workers N) would refuse to start. So that step is retried.
        give_up = time.monotonic() + busy_timeout_s
        while True:
            try:
                conn = _connect(path, readonly=False, busy_timeout_s=busy_timeout_s)
            except sqlite3.Error as exc:
                raise _open_error(path, exc) from None
            try:
                _prepare(conn)
                break
            except sqlite3.OperationalError as exc:
                conn.close()
                if not _is_busy(exc) or time.monotonic() > give_up:
                    raise _open_error(path, exc) from None
                time.sleep(_OPEN_RETRY_S)
            except sqlite3.Error as exc:
                conn.close()
                raise _open_error(path, exc) from None
        journal = cls(
            path,
            config,
            conn,
            readonly=False,
            busy_timeout_s=busy_timeout_s,
            queue_size=queue_size,
            batch_size=batch_size,
        )
        journal.prune()
        return journal

    @classmethod
    def open_readonly(cls, path: Path, *, busy_timeout_s: float = 5.0) -> Journal:
        """Open an existing store for reading only (safe while a server writes it)."""
        if not path.is_file():
            raise JournalError(f"{path}: no message log here; run `cpimock serve` in this workspace first")
        try:
            conn = _connect(path, readonly=True, busy_timeout_s=busy_timeout_s)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            conn.execute("SELECT seq FROM mpl LIMIT 1").fetchone()
            if _missing_columns(conn):  # a store an earlier cpimock made: add what this one reads
                conn.close()
                _add_columns(path, busy_timeout_s)
                conn = _connect(path, readonly=True, busy_timeout_s=busy_timeout_s)
        except sqlite3.Error as exc:
            raise _open_error(path, exc) from None
        return cls(
            path,
            JournalConfig(enabled=False),
            conn,
            readonly=True,
            busy_timeout_s=busy_timeout_s,
            queue_size=1,
            batch_size=1,
        )

    # -- writing -------------------------------------------------------------------------------

    async def arecord(self, rec: MplRecord) -> None:
        """Queue *rec* as :meth:`record` does, after waiting (on the event loop, never blocking it)
        while a quarter batch or more is waiting for the writer (when it wakes up without waiting).

        The wait keeps what a crash can lose to about one batch, and gives a writer that a busy
        event loop would starve of the GIL its turn. It never holds a sender long: not at all
        while the store is failing (full disk, locked file), and at most ``_MAX_WAIT_S``.
        """
        waited = 0.0
        while (
            self._thread is not None
            and not self._closed
            and not self._behind
            and len(self._pending) >= self._gather_records
            and waited < _MAX_WAIT_S
        ):
            await asyncio.sleep(_WAIT_STEP_S)
            waited += _WAIT_STEP_S
        self.record(rec)

    def record(self, rec: MplRecord) -> None:
        """Queue *rec* for writing; never blocks. Bodies are cut to ``body_cap_bytes`` here."""
        if self._thread is None or self._closed:
            return
        if rec.log_end is None:
            rec.log_end = utcnow()
        mpl_rows.capped(rec, self.config.body_cap_bytes)
        pending = self._pending
        if len(pending) >= self._queue_size:
            self._dropped_queued += 1
            if not self._behind:
                self._behind = True
                log.warning("the message processing log is behind: its queue is full; records are dropped")
            return
        # deque.append is thread-safe; no lock on the request path
        pending.append(mpl_rows.queued(rec, rec.log_end, self._pid))
        if not self._wake.is_set():
            self._wake.set()
        elif len(pending) >= self._gather_records and not self._hurry.is_set():
            self._hurry.set()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything recorded so far is written (or dropped); False on timeout."""
        if self._thread is None or self._closed:
            return True
        marker = threading.Event()
        self._pending.append(marker)
        self._hurry.set()
        self._wake.set()
        return marker.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued (giving up after *timeout* seconds if the disk refuses) and close."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._give_up_at = time.monotonic() + timeout
            self._pending.append(_STOP)
            self._hurry.set()
            self._wake.set()
            self._thread.join()
        with self._read_lock:
            if not self.readonly:
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    pass
            self._conn.close()
        if self.dropped:
            log.warning("the message processing log dropped %d record(s) it could not write", self.dropped)

    async def aflush(self, timeout: float | None = None) -> bool:
        return await asyncio.to_thread(self.flush, timeout)

    async def aclose(self, timeout: float = 30.0) -> None:
        await asyncio.to_thread(self.close, timeout)

    @property
    def dropped(self) -> int:
        return self._dropped_queued + self._dropped_written

    @property
    def written(self) -> int:
        return self._written

    @property
    def behind(self) -> bool:
        return self._behind

    def _run(self) -> None:
        conn = _connect(self.path, readonly=False, busy_timeout_s=self._busy_timeout_s)
        last_prune = time.monotonic()
        try:
            while True:
                self._wake.wait()
                if not self._hurry.is_set():
                    # let a batch gather (until a quarter batch is waiting, or _GATHER_S): waking
                    # for every record would cost the event loop the GIL, and this thread a
                    # transaction, per call
                    self._hurry.wait(_GATHER_S)
                self._wake.clear()
                self._hurry.clear()
                if self._drain(conn):
                    return
                if time.monotonic() - last_prune > _PRUNE_EVERY_S:
                    last_prune = time.monotonic()
                    self._prune_with(conn)
        finally:
            conn.close()

    def _drain(self, conn: sqlite3.Connection) -> bool:
        """Write everything queued, in batches; True once the stop mark was reached."""
        pending = self._pending
        batch: list[mpl_rows.Queued] = []
        while True:
            try:
                item = pending.popleft()
            except IndexError:
                item = None
            if isinstance(item, (tuple, MplRecord)):
                batch.append(item)
                if len(batch) < self._batch_size:
                    continue
            if batch:
                self._write_batch(conn, batch)
                batch = []
            if item is None:
                return False
            if item is _STOP:
                return True
            if isinstance(item, threading.Event):  # a flush: everything before it is written
                item.set()

    def _write_batch(self, conn: sqlite3.Connection, batch: list[mpl_rows.Queued]) -> None:
        delay = 0.05
        while True:
            try:
                self._write(conn, batch)
            except sqlite3.OperationalError as exc:  # locked, disk full, I/O: try again
                if self._give_up_at is not None and time.monotonic() > self._give_up_at:
                    self._dropped_written += len(batch)
                    return
                self._fall_behind(exc)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            except (sqlite3.Error, ValueError):  # a record the database will not take: write the others
                self._written += self._write_singly(conn, batch)
            else:
                self._written += len(batch)
            if self._behind and len(self._pending) < self._queue_size // 2:
                self._behind = False
                log.warning("the message processing log caught up (%d record(s) dropped so far)", self.dropped)
            return

    def _write(self, conn: sqlite3.Connection, batch: Sequence[mpl_rows.Queued]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            mpl_rows.insert(conn, batch, utcnow(), self._pid)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _write_singly(self, conn: sqlite3.Connection, batch: Sequence[mpl_rows.Queued]) -> int:
        """Write *batch* one record at a time, dropping (and logging) those refused; how many were written."""
        written = 0
        for item in batch:
            try:
                self._write(conn, [item])
            except ValueError:
                # text SQLite cannot store as UTF-8 (a lone surrogate a step or a sender's bytes
                # left): store the record with such characters replaced rather than lose it
                try:
                    self._write(conn, [mpl_rows.storable(item)])
                except (sqlite3.Error, ValueError) as one:
                    self._refused(item, one)
                else:
                    written += 1
            except sqlite3.Error as one:
                self._refused(item, one)
            else:
                written += 1
        return written

    def _refused(self, item: mpl_rows.Queued, exc: Exception) -> None:
        guid = item.message_guid if isinstance(item, MplRecord) else item[0]
        log.error("the message processing log could not store message %s: %s", guid, exc)
        self._dropped_written += 1

    def _fall_behind(self, exc: sqlite3.Error) -> None:
        if self._behind:
            return
        self._behind = True
        log.warning("the message processing log is behind (%s: %s); retrying", self.path, exc)

    # -- retention -----------------------------------------------------------------------------

    def prune(self) -> int:
        """Apply the retention settings now; returns the number of messages deleted."""
        if self.readonly:
            return 0
        with self._read_lock:
            return self._prune_with(self._conn)

    def _prune_with(self, conn: sqlite3.Connection) -> int:
        cutoff = utcnow() - dt.timedelta(days=self.config.retention_days)
        try:
            conn.execute("BEGIN IMMEDIATE")
            removed = mpl_sql.prune(conn, self.config.retention_count, mpl_sql.to_ms(cutoff))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.warning("the message processing log could not apply its retention: %s", exc)
            return 0
        return removed

    def clear(self) -> None:
        """Delete every message (for test fixtures)."""
        self.flush()
        with self._read_lock:
            self._conn.execute("DELETE FROM mpl")

    # -- reading -------------------------------------------------------------------------------

    def query(
        self,
        where: Where | None = None,
        order: Sequence[tuple[str, bool]] = (("log_start", True),),
        limit: int = 100,
        offset: int = 0,
        *,
        bodies: bool = False,
    ) -> list[MplRecord]:
        """Messages matching *where*, ordered by (column, descending) pairs; bodies only if asked."""
        where = where or Where()
        sql = (
            f"SELECT {mpl_sql.select_list(bodies)} FROM mpl{where.clause()}{mpl_sql.order_sql(order)} LIMIT ? OFFSET ?"
        )
        with self._read_lock:
            rows = self._conn.execute(sql, (*where.params, limit, offset)).fetchall()
        return [mpl_sql.record_of(r) for r in rows]

    def count(self, where: Where | None = None) -> int:
        where = where or Where()
        with self._read_lock:
            row = self._conn.execute(f"SELECT count(*) FROM mpl{where.clause()}", where.params).fetchone()
        return int(row[0])

    def last_seq(self) -> int:
        with self._read_lock:
            row = self._conn.execute("SELECT max(seq) FROM mpl").fetchone()
        return int(row[0] or 0)

    def iflows(self) -> list[str]:
        """The names of the iFlows that have messages."""
        with self._read_lock:
            rows = self._conn.execute("SELECT DISTINCT iflow FROM mpl WHERE iflow IS NOT NULL ORDER BY iflow")
            return [str(r[0]) for r in rows]

    def holds(self, guid: str) -> bool:
        """Whether the store has a message with id *guid* (one still queued for the writer is not)."""
        with self._read_lock:
            return self._conn.execute("SELECT 1 FROM mpl WHERE guid = ?", (guid,)).fetchone() is not None

    def get(self, guid: str) -> MplRecord | None:
        """Everything about one message: bodies, custom header properties, attachments (with data)."""
        with self._read_lock:
            row = self._conn.execute(f"SELECT {mpl_sql.select_list(True)} FROM mpl WHERE guid = ?", (guid,)).fetchone()
            if row is None:
                return None
            rec = mpl_sql.record_of(row)
            rec.custom_header_properties = [(n, v) for _, n, v in mpl_sql.properties(self._conn, guid)]
            rec.log_properties = mpl_sql.log_properties(self._conn, guid)
            rec.attachments = mpl_sql.attachments(self._conn, guid, data=True)
        return rec

    def properties(self, guid: str) -> list[tuple[int, str, str]]:
        """The custom header properties of a message as (id, name, value)."""
        with self._read_lock:
            return mpl_sql.properties(self._conn, guid)

    def attachments(self, guid: str, *, data: bool = False) -> list[StoredAttachment]:
        with self._read_lock:
            return mpl_sql.attachments(self._conn, guid, data=data)

    def attachment(self, att_id: int) -> tuple[str, StoredAttachment] | None:
        """One attachment with its data, and the id of its message."""
        with self._read_lock:
            return mpl_sql.attachment(self._conn, att_id)
