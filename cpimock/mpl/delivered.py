"""The sender message ids delivered to each iFlow, for exactly-once delivery (SOAP (SAP RM)).

A table of its own in ``cpimock.db``, beside the message processing log, so that the ids
survive a restart. It is written at once, not through the MPL's asynchronous writer: claiming
an id is one ``INSERT`` in a short transaction, so two copies of one message arriving together
(on one server, or on several worker processes sharing the file) cannot both run the steps.

An id is *claimed* while its steps run (the claim names the claiming process), *delivered*
once they completed, and *released* when they failed, so that the sender's retry runs them
again. A claim whose process is gone (killed, restarted) is taken over. Without a message
processing log (``[journal] enabled = false``) the ids are kept in memory, for the life of the
process.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cpimock.errors import JournalError

__all__ = ["Claim", "DeliveredIds"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS delivered (
    iflow TEXT NOT NULL, message_id TEXT NOT NULL,
    guid TEXT NOT NULL, state TEXT NOT NULL, owner INTEGER NOT NULL, at INTEGER NOT NULL,
    PRIMARY KEY (iflow, message_id)
)
"""


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming an id: *new* (run the steps), *delivered* (a copy), or *busy*
    (another call runs its steps now); *guid* is the MPL id of the message that holds the id."""

    state: Literal["new", "delivered", "busy"]
    guid: str


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


# the claims of this process whose steps run now, by store: a claim of our pid not in here is a
# leftover of an earlier process that had the same pid (a restart)
_HELD: set[tuple[str, str, str]] = set()
_HELD_LOCK = threading.Lock()


class DeliveredIds:
    """The ids of one workspace. Thread-safe; every call is one short transaction."""

    def __init__(self, conn: sqlite3.Connection, name: str) -> None:
        self._conn = conn
        self._name = name
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path | None, *, retention_days: float = 30.0, busy_timeout_s: float = 5.0) -> DeliveredIds:
        """The ids kept in the SQLite file *path* (``cpimock.db``), or in memory when it is ``None``."""
        name = f"memory:{time.monotonic_ns()}" if path is None else str(path.resolve())
        try:
            conn = sqlite3.connect(
                ":memory:" if path is None else path,
                timeout=busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(_SCHEMA)
            cutoff = int((time.time() - retention_days * 86400) * 1000)
            conn.execute("DELETE FROM delivered WHERE state = 'delivered' AND at < ?", (cutoff,))
        except sqlite3.Error as exc:
            raise JournalError(f"{path}: cannot keep the delivered message ids there ({exc})") from None
        return cls(conn, name)

    def claim(self, iflow: str, message_id: str, guid: str) -> Claim:
        """Claim *message_id* for the message *guid* of *iflow*, unless it is delivered or claimed."""
        me = os.getpid()
        now = _now()
        with self._lock, self._transaction():
            inserted = self._conn.execute(
                "INSERT OR IGNORE INTO delivered (iflow, message_id, guid, state, owner, at) "
                "VALUES (?, ?, ?, 'claimed', ?, ?)",
                (iflow, message_id, guid, me, now),
            ).rowcount
            if not inserted:
                state, holder, owner = self._conn.execute(
                    "SELECT state, guid, owner FROM delivered WHERE iflow = ? AND message_id = ?", (iflow, message_id)
                ).fetchone()
                if state == "delivered":
                    return Claim("delivered", str(holder))
                abandoned = not _alive(owner) if owner != me else not self._held(iflow, message_id)
                if not abandoned:
                    return Claim("busy", str(holder))
                self._conn.execute(
                    "UPDATE delivered SET guid = ?, owner = ?, at = ? WHERE iflow = ? AND message_id = ?",
                    (guid, me, now, iflow, message_id),
                )
            with _HELD_LOCK:
                _HELD.add((self._name, iflow, message_id))
        return Claim("new", guid)

    def _held(self, iflow: str, message_id: str) -> bool:
        with _HELD_LOCK:
            return (self._name, iflow, message_id) in _HELD

    def delivered(self, iflow: str, message_id: str, guid: str) -> None:
        """The steps of *guid* completed: copies of *message_id* are answered without running them."""
        self._end(
            "UPDATE delivered SET state = 'delivered', at = ? WHERE iflow = ? AND message_id = ? AND guid = ?",
            (_now(), iflow, message_id, guid),
            (iflow, message_id),
        )

    def release(self, iflow: str, message_id: str, guid: str) -> None:
        """The steps of *guid* failed: the sender's next copy of *message_id* runs them again."""
        self._end(
            "DELETE FROM delivered WHERE iflow = ? AND message_id = ? AND guid = ?",
            (iflow, message_id, guid),
            (iflow, message_id),
        )

    def clear(self) -> None:
        """Forget every id (for test fixtures)."""
        with self._lock, self._transaction():
            self._conn.execute("DELETE FROM delivered")
        with _HELD_LOCK:
            _HELD.difference_update({key for key in _HELD if key[0] == self._name})

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _end(self, sql: str, params: tuple[object, ...], key: tuple[str, str]) -> None:
        with self._lock, self._transaction():
            self._conn.execute(sql, params)
        with _HELD_LOCK:
            _HELD.discard((self._name, *key))

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK``): one writer at a time, across processes."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._conn.execute("COMMIT" if kind is None else "ROLLBACK")


def _now() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)
