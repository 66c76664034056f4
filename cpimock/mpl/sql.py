"""The SQLite schema of the message processing log and the mapping between rows and records.

One row in ``mpl`` per call; custom header properties and attachments in child tables that
go with their message (``ON DELETE CASCADE``). Times are milliseconds since the epoch (UTC),
headers are JSON lists of ``[name, value]`` pairs, bodies are BLOBs cut to the configured cap.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _json_str
from typing import Any

from cpimock import redaction
from cpimock.mpl.record import Attachment, Headers, MplRecord

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS mpl (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    guid TEXT NOT NULL UNIQUE,
    correlation_id TEXT, application_message_id TEXT, application_message_type TEXT,
    iflow TEXT, status TEXT NOT NULL, custom_status TEXT NOT NULL,
    log_start INTEGER NOT NULL, log_end INTEGER NOT NULL,
    sender TEXT, receiver TEXT, log_level TEXT NOT NULL, transaction_id TEXT,
    auth_method TEXT, service_key TEXT, instance TEXT,
    cert_subject TEXT, cert_issuer TEXT, cert_serial TEXT, cert_fingerprint TEXT,
    peer TEXT, refusal_stage TEXT, refusal_reason TEXT,
    request_method TEXT, request_path TEXT, request_query TEXT,
    request_headers TEXT NOT NULL, request_body BLOB NOT NULL, request_body_size INTEGER NOT NULL,
    response_status INTEGER, response_headers TEXT NOT NULL,
    response_body BLOB NOT NULL, response_body_size INTEGER NOT NULL,
    error TEXT, error_step TEXT, writer_pid INTEGER
);
CREATE INDEX IF NOT EXISTS mpl_log_start ON mpl (log_start);
CREATE INDEX IF NOT EXISTS mpl_status ON mpl (status, log_start);
CREATE INDEX IF NOT EXISTS mpl_iflow ON mpl (iflow, log_start);
CREATE TABLE IF NOT EXISTS mpl_property (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guid TEXT NOT NULL REFERENCES mpl (guid) ON DELETE CASCADE,
    name TEXT NOT NULL, value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mpl_property_guid ON mpl_property (guid);
CREATE TABLE IF NOT EXISTS mpl_log_property (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guid TEXT NOT NULL REFERENCES mpl (guid) ON DELETE CASCADE,
    name TEXT NOT NULL, value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mpl_log_property_guid ON mpl_log_property (guid);
CREATE TABLE IF NOT EXISTS mpl_attachment (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guid TEXT NOT NULL REFERENCES mpl (guid) ON DELETE CASCADE,
    timestamp INTEGER NOT NULL, name TEXT NOT NULL, content_type TEXT NOT NULL,
    size INTEGER NOT NULL, data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS mpl_attachment_guid ON mpl_attachment (guid);
"""

# the columns a record fills, in table order (seq and writer_pid are the store's own)
COLUMNS: tuple[str, ...] = (
    "guid", "correlation_id", "application_message_id", "application_message_type",
    "iflow", "status", "custom_status", "log_start", "log_end",
    "sender", "receiver", "log_level", "transaction_id",
    "auth_method", "service_key", "instance", "cert_subject", "cert_issuer", "cert_serial", "cert_fingerprint",
    "peer", "refusal_stage", "refusal_reason",
    "request_method", "request_path", "request_query", "request_headers", "request_body", "request_body_size",
    "response_status", "response_headers", "response_body", "response_body_size",
    "error", "error_step",
)  # fmt: skip
_INSERT = f"INSERT OR IGNORE INTO mpl ({', '.join(COLUMNS)}, writer_pid) VALUES ({', '.join('?' * len(COLUMNS))}, ?)"
_INSERT_MANY = f"INSERT OR IGNORE INTO mpl ({', '.join(COLUMNS)}, writer_pid) VALUES "
_BODIES = ("request_body", "response_body")


@dataclass(frozen=True, slots=True)
class Where:
    """A SQL condition on the ``mpl`` table with its parameters (values are never spliced)."""

    sql: str = ""
    params: tuple[object, ...] = ()

    def __and__(self, other: Where) -> Where:
        if not self.sql:
            return other
        if not other.sql:
            return self
        return Where(f"({self.sql}) AND ({other.sql})", self.params + other.params)

    def clause(self) -> str:
        return f" WHERE {self.sql}" if self.sql else ""

    @classmethod
    def of(
        cls,
        *,
        status: str | None = None,
        iflow: str | None = None,
        since: dt.datetime | None = None,
        text: str | None = None,
        after_seq: int | None = None,
    ) -> Where:
        """The filters of the monitor page and ``cpimock messages``; ``text`` matches ids, paths, reasons."""
        parts: list[str] = []
        params: list[object] = []
        if status:
            parts.append("(status = ? OR custom_status = ?)")
            params += [status.upper(), status.upper()]
        if iflow:
            parts.append("iflow = ?")
            params.append(iflow)
        if since is not None:
            parts.append("log_start >= ?")
            params.append(to_ms(since))
        if after_seq is not None:
            parts.append("seq > ?")
            params.append(after_seq)
        if text:
            like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            cols = ("guid", "iflow", "request_path", "refusal_reason", "error", "cert_subject", "service_key",
                    "application_message_id", "correlation_id", "peer")  # fmt: skip
            parts.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in cols) + ")")
            params += [like] * len(cols)
        return cls(" AND ".join(parts), tuple(params))


def to_ms(when: dt.datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _headers(text: str) -> Headers:
    return [(str(k), str(v)) for k, v in json.loads(text)]


def _capped(data: bytes, cap: int) -> bytes:
    """*data* as immutable bytes of at most *cap* bytes (no copy when it already is)."""
    return data if type(data) is bytes and len(data) <= cap else bytes(data[:cap])


def capped(rec: MplRecord, cap: int) -> MplRecord:
    """Cut bodies and attachments to *cap* bytes, keeping their original sizes; hide credentials."""
    rec.request_headers = redaction.headers(rec.request_headers)
    rec.response_headers = redaction.headers(rec.response_headers)
    if rec.request_path:
        rec.request_path = redaction.path(rec.request_path)
    if rec.request_query:
        rec.request_query = redaction.query(rec.request_query)
    if rec.request_body_size is None:
        rec.request_body_size = len(rec.request_body)
    if rec.response_body_size is None:
        rec.response_body_size = len(rec.response_body)
    rec.request_body = _capped(rec.request_body, cap)
    rec.response_body = _capped(rec.response_body, cap)
    for att in rec.attachments:
        if att.size is None:
            att.size = len(att.data)
        att.data = _capped(att.data, cap)
    return rec


def headers_json(headers: Headers) -> str:
    """``[[name, value], ...]`` as ``json.dumps`` writes it (compact), in half its time."""
    try:
        return "[" + ",".join(["[" + _json_str(k) + "," + _json_str(v) + "]" for k, v in headers]) + "]"
    except TypeError:  # not a str somewhere: let json say how to write it
        return json.dumps(headers, separators=(",", ":"))


def row_of(rec: MplRecord, recorded: dt.datetime, pid: int) -> tuple[Any, ...]:
    end = rec.log_end or recorded
    return (
        rec.message_guid, rec.correlation_id, rec.application_message_id, rec.application_message_type,
        rec.integration_flow_name, rec.status, rec.effective_custom_status, to_ms(rec.log_start), to_ms(end),
        rec.sender, rec.receiver, rec.log_level, rec.transaction_id,
        rec.auth_method, rec.service_key, rec.instance,
        rec.cert_subject, rec.cert_issuer, rec.cert_serial, rec.cert_fingerprint,
        rec.peer, rec.refusal_stage, rec.refusal_reason,
        rec.request_method, rec.request_path, rec.request_query, headers_json(rec.request_headers),
        rec.request_body, rec.request_body_size if rec.request_body_size is not None else len(rec.request_body),
        rec.response_status, headers_json(rec.response_headers),
        rec.response_body, rec.response_body_size if rec.response_body_size is not None else len(rec.response_body),
        rec.error, rec.error_step, pid,
    )  # fmt: skip


# rows per multi-row INSERT: powers of two, so that the writer's batches, whose sizes vary from one
# to the next, use a handful of statements that the connection's statement cache keeps compiled
# (with one statement per batch size, a batch of a size not seen lately compiled its own first:
# with sizes varying from 20 to 400, a third of the writer's time); 256 rows stay well inside
# SQLite's 32766 parameters per statement
_ROW_MARKS = f"({', '.join('?' * (len(COLUMNS) + 1))})"
_CHUNKS = tuple(
    (rows, _INSERT_MANY + ", ".join([_ROW_MARKS] * rows)) for rows in (256, 128, 64, 32, 16, 8, 4, 2, 1)
)


# what the writer queues: a plain record as its finished row (only strings, numbers, bytes and
# None, which the garbage collector stops tracking: thousands of queued records would otherwise
# make every collection walk them), a record with properties or attachments as itself
Queued = tuple[Any, ...] | MplRecord


def queued(rec: MplRecord, recorded: dt.datetime, pid: int) -> Queued:
    """What :func:`insert` takes for *rec*: its row, unless it has rows of its own in child tables."""
    if rec.custom_header_properties or rec.attachments or rec.log_properties:
        return rec
    return row_of(rec, recorded, pid)


def insert(conn: sqlite3.Connection, items: Iterable[Queued], recorded: dt.datetime, pid: int) -> None:
    """Insert *items* (see :func:`queued`) in the caller's transaction (a message id seen before
    is skipped); *recorded* is the end time of a record that has none.

    A run of plain records goes in as a few multi-row statements (a run of 100 as three, of 64,
    32 and 4 rows): the sqlite3 module releases the GIL for every statement, and getting it back
    from a busy event loop takes up to a switch interval, so one statement per record would let
    the writer fall far behind the requests it logs.
    """
    plain: list[tuple[object, ...]] = []
    for item in items:
        if isinstance(item, tuple):
            plain.append(item)
            continue
        _insert_plain(conn, plain)  # the ones before it first: ids keep the order of the calls
        plain = []
        _insert_rich(conn, item, recorded, pid)
    _insert_plain(conn, plain)


def _insert_plain(conn: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    start = 0
    for size, statement in _CHUNKS:
        while len(rows) - start >= size:
            chunk = rows[start : start + size]
            conn.execute(statement, [v for row in chunk for v in row])
            start += size


def _insert_rich(conn: sqlite3.Connection, rec: MplRecord, recorded: dt.datetime, pid: int) -> None:
    """A record with custom header properties, log properties or attachments (rows of their own)."""
    cur = conn.execute(_INSERT, row_of(rec, recorded, pid))
    if cur.rowcount == 0:
        return
    if rec.custom_header_properties:
        conn.executemany(
            "INSERT INTO mpl_property (guid, name, value) VALUES (?, ?, ?)",
            [(rec.message_guid, n, v) for n, v in rec.custom_header_properties],
        )
    if rec.log_properties:
        conn.executemany(
            "INSERT INTO mpl_log_property (guid, name, value) VALUES (?, ?, ?)",
            [(rec.message_guid, n, v) for n, v in rec.log_properties],
        )
    if rec.attachments:
        conn.executemany(
            "INSERT INTO mpl_attachment (guid, timestamp, name, content_type, size, data)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (rec.message_guid, to_ms(a.timestamp or recorded), a.name, a.content_type,
                 a.size if a.size is not None else len(a.data), a.data)
                for a in rec.attachments
            ],
        )  # fmt: skip


def select_list(bodies: bool) -> str:
    cols = ["seq", *COLUMNS]
    if not bodies:
        cols = [f"X'' AS {c}" if c in _BODIES else c for c in cols]
    return ", ".join(cols)


def record_of(row: sqlite3.Row) -> MplRecord:
    return MplRecord(
        seq=row["seq"],
        message_guid=row["guid"],
        correlation_id=row["correlation_id"],
        application_message_id=row["application_message_id"],
        application_message_type=row["application_message_type"],
        integration_flow_name=row["iflow"],
        status=row["status"],
        custom_status=row["custom_status"],
        log_start=from_ms(row["log_start"]),
        log_end=from_ms(row["log_end"]),
        sender=row["sender"],
        receiver=row["receiver"],
        log_level=row["log_level"],
        transaction_id=row["transaction_id"],
        auth_method=row["auth_method"],
        service_key=row["service_key"],
        instance=row["instance"],
        cert_subject=row["cert_subject"],
        cert_issuer=row["cert_issuer"],
        cert_serial=row["cert_serial"],
        cert_fingerprint=row["cert_fingerprint"],
        peer=row["peer"],
        refusal_stage=row["refusal_stage"],
        refusal_reason=row["refusal_reason"],
        request_method=row["request_method"],
        request_path=row["request_path"],
        request_query=row["request_query"],
        request_headers=_headers(row["request_headers"]),
        request_body=bytes(row["request_body"]),
        request_body_size=row["request_body_size"],
        response_status=row["response_status"],
        response_headers=_headers(row["response_headers"]),
        response_body=bytes(row["response_body"]),
        response_body_size=row["response_body_size"],
        error=row["error"],
        error_step=row["error_step"],
    )


def log_properties(conn: sqlite3.Connection, guid: str) -> list[tuple[str, str]]:
    """What the steps set with ``message.log.set_property`` (``setStringProperty``, ...), by name."""
    rows = conn.execute("SELECT name, value FROM mpl_log_property WHERE guid = ? ORDER BY name, id", (guid,))
    return [(r[0], r[1]) for r in rows]


def properties(conn: sqlite3.Connection, guid: str) -> list[tuple[int, str, str]]:
    rows = conn.execute("SELECT id, name, value FROM mpl_property WHERE guid = ? ORDER BY id", (guid,))
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def attachments(conn: sqlite3.Connection, guid: str, *, data: bool = False) -> list[Attachment]:
    what = "data" if data else "X''"
    rows = conn.execute(
        f"SELECT id, timestamp, name, content_type, size, {what} FROM mpl_attachment WHERE guid = ? ORDER BY id",
        (guid,),
    )
    return [Attachment(id=r[0], timestamp=from_ms(r[1]), name=r[2], content_type=r[3], size=r[4], data=bytes(r[5]))
            for r in rows]  # fmt: skip


def attachment(conn: sqlite3.Connection, att_id: int) -> tuple[str, Attachment] | None:
    row = conn.execute(
        "SELECT guid, id, timestamp, name, content_type, size, data FROM mpl_attachment WHERE id = ?", (att_id,)
    ).fetchone()
    if row is None:
        return None
    att = Attachment(id=row[1], timestamp=from_ms(row[2]), name=row[3], content_type=row[4], size=row[5],
                     data=bytes(row[6]))  # fmt: skip
    return str(row[0]), att


def prune(conn: sqlite3.Connection, keep: int, older_than_ms: int) -> int:
    """Delete messages beyond the newest *keep* and those that started before *older_than_ms*."""
    removed = conn.execute("DELETE FROM mpl WHERE log_start < ?", (older_than_ms,)).rowcount
    removed += conn.execute(
        "DELETE FROM mpl WHERE seq <= (SELECT seq FROM mpl ORDER BY seq DESC LIMIT 1 OFFSET ?)", (keep,)
    ).rowcount
    return removed


def order_sql(order: Sequence[tuple[str, bool]]) -> str:
    """``ORDER BY`` for (column, descending) pairs; columns must come from :data:`COLUMNS`."""
    parts = []
    for column, desc in order:
        if column not in COLUMNS and column != "seq":
            raise ValueError(f"unknown column {column!r}")
        parts.append(f"{column} {'DESC' if desc else 'ASC'}")
    last_desc = order[-1][1] if order else True
    parts.append(f"seq {'DESC' if last_desc else 'ASC'}")
    return " ORDER BY " + ", ".join(parts)
