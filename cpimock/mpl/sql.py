"""The SQLite schema of the message processing log and the mapping between rows and records.

One row in ``mpl`` per call; custom header properties and attachments in child tables that
go with their message (``ON DELETE CASCADE``). Times are milliseconds since the epoch (UTC),
headers are JSON lists of ``[name, value]`` pairs, bodies are BLOBs cut to the configured cap.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from cpimock.mpl.record import HeaderList, MplRecord, StoredAttachment

SCHEMA_VERSION = 2
# columns added after version 1, with their types: a store made before gets them at open
ADDED_COLUMNS = (("iflow_name", "TEXT"),)
BODIES = ("request_body", "response_body")


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
    error TEXT, error_step TEXT, writer_pid INTEGER, iflow_name TEXT
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
    "guid",
    "correlation_id",
    "application_message_id",
    "application_message_type",
    "iflow",
    "status",
    "custom_status",
    "log_start",
    "log_end",
    "sender",
    "receiver",
    "log_level",
    "transaction_id",
    "auth_method",
    "service_key",
    "instance",
    "cert_subject",
    "cert_issuer",
    "cert_serial",
    "cert_fingerprint",
    "peer",
    "refusal_stage",
    "refusal_reason",
    "request_method",
    "request_path",
    "request_query",
    "request_headers",
    "request_body",
    "request_body_size",
    "response_status",
    "response_headers",
    "response_body",
    "response_body_size",
    "error",
    "error_step",
    "iflow_name",
)


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
            cols = (
                "guid",
                "iflow",
                "request_path",
                "refusal_reason",
                "error",
                "cert_subject",
                "service_key",
                "application_message_id",
                "correlation_id",
                "peer",
            )
            parts.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in cols) + ")")
            params += [like] * len(cols)
        return cls(" AND ".join(parts), tuple(params))


def to_ms(when: dt.datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _headers(text: str) -> HeaderList:
    return [(str(k), str(v)) for k, v in json.loads(text)]


def select_list(bodies: bool) -> str:
    cols = ["seq", *COLUMNS]
    if not bodies:
        cols = [f"X'' AS {c}" if c in BODIES else c for c in cols]
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
        integration_artifact_name=row["iflow_name"],
    )


def log_properties(conn: sqlite3.Connection, guid: str) -> list[tuple[str, str]]:
    """What the steps set with ``message.log.set_property`` (``setStringProperty``, ...), by name."""
    rows = conn.execute("SELECT name, value FROM mpl_log_property WHERE guid = ? ORDER BY name, id", (guid,))
    return [(r[0], r[1]) for r in rows]


def properties(conn: sqlite3.Connection, guid: str) -> list[tuple[int, str, str]]:
    rows = conn.execute("SELECT id, name, value FROM mpl_property WHERE guid = ? ORDER BY id", (guid,))
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def attachments(conn: sqlite3.Connection, guid: str, *, data: bool = False) -> list[StoredAttachment]:
    what = "data" if data else "X''"
    rows = conn.execute(
        f"SELECT id, timestamp, name, content_type, size, {what} FROM mpl_attachment WHERE guid = ? ORDER BY id",
        (guid,),
    )
    return [
        StoredAttachment(id=r[0], timestamp=from_ms(r[1]), name=r[2], content_type=r[3], size=r[4], data=bytes(r[5]))
        for r in rows
    ]


def attachment(conn: sqlite3.Connection, att_id: int) -> tuple[str, StoredAttachment] | None:
    row = conn.execute(
        "SELECT guid, id, timestamp, name, content_type, size, data FROM mpl_attachment WHERE id = ?", (att_id,)
    ).fetchone()
    if row is None:
        return None
    att = StoredAttachment(
        id=row[1], timestamp=from_ms(row[2]), name=row[3], content_type=row[4], size=row[5], data=bytes(row[6])
    )
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
