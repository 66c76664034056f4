"""Writing MPL records: bodies capped, a record as its row, and rows inserted in batches."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring_ascii as _json_str
from typing import Any, cast

from cpimock import redaction
from cpimock.mpl.record import HeaderList, MplRecord, StoredAttachment
from cpimock.mpl.sql import COLUMNS, to_ms

# sqlite3 binds int, float and str directly, but looks for an adapter for None and bytes, and
# on the way formats (and drops) an AttributeError per value: 11 of a record's values, about
# 2,000 instructions each. Identity adapters in C are found at once (None -> None, bytes ->
# the same bytes), so these values bind as before, in a fifth of the time.
sqlite3.register_adapter(type(None), cast("Callable[[None], None]", {}.get))
sqlite3.register_adapter(bytes, bytes)

_INSERT = f"INSERT OR IGNORE INTO mpl ({', '.join(COLUMNS)}, writer_pid) VALUES ({', '.join('?' * len(COLUMNS))}, ?)"


_INSERT_MANY = f"INSERT OR IGNORE INTO mpl ({', '.join(COLUMNS)}, writer_pid) VALUES "


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


def headers_json(headers: HeaderList) -> str:
    """``[[name, value], ...]`` as ``json.dumps`` writes it (compact), in half its time."""
    try:
        return "[" + ",".join(["[" + _json_str(k) + "," + _json_str(v) + "]" for k, v in headers]) + "]"
    except TypeError:  # not a str somewhere: let json say how to write it
        return json.dumps(headers, separators=(",", ":"))


def row_of(rec: MplRecord, recorded: dt.datetime, pid: int) -> tuple[Any, ...]:
    end = rec.log_end or recorded
    return (
        rec.message_guid,
        rec.correlation_id,
        rec.application_message_id,
        rec.application_message_type,
        rec.integration_flow_name,
        rec.status,
        rec.effective_custom_status,
        to_ms(rec.log_start),
        to_ms(end),
        rec.sender,
        rec.receiver,
        rec.log_level,
        rec.transaction_id,
        rec.auth_method,
        rec.service_key,
        rec.instance,
        rec.cert_subject,
        rec.cert_issuer,
        rec.cert_serial,
        rec.cert_fingerprint,
        rec.peer,
        rec.refusal_stage,
        rec.refusal_reason,
        rec.request_method,
        rec.request_path,
        rec.request_query,
        headers_json(rec.request_headers),
        rec.request_body,
        rec.request_body_size if rec.request_body_size is not None else len(rec.request_body),
        rec.response_status,
        headers_json(rec.response_headers),
        rec.response_body,
        rec.response_body_size if rec.response_body_size is not None else len(rec.response_body),
        rec.error,
        rec.error_step,
        rec.integration_artifact_name,
        pid,
    )


# rows per multi-row INSERT: powers of two, so that the writer's batches, whose sizes vary from one
# to the next, use a handful of statements that the connection's statement cache keeps compiled
# (with one statement per batch size, a batch of a size not seen lately compiled its own first:
# with sizes varying from 20 to 400, a third of the writer's time); 256 rows stay well inside
# SQLite's 32766 parameters per statement
_ROW_MARKS = f"({', '.join('?' * (len(COLUMNS) + 1))})"


_CHUNKS = tuple((rows, _INSERT_MANY + ", ".join([_ROW_MARKS] * rows)) for rows in (256, 128, 64, 32, 16, 8, 4, 2, 1))


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
            "INSERT INTO mpl_attachment (guid, timestamp, name, content_type, size, data) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    rec.message_guid,
                    to_ms(a.timestamp or recorded),
                    a.name,
                    a.content_type,
                    a.size if a.size is not None else len(a.data),
                    a.data,
                )
                for a in rec.attachments
            ],
        )


def storable(item: Queued) -> Queued:
    """*item* with every text that UTF-8 cannot carry (lone surrogates) given U+FFFD in their place."""
    if isinstance(item, tuple):
        return tuple(_text(v) for v in item)
    rec = dataclasses.replace(item)
    for f in dataclasses.fields(rec):
        value = getattr(rec, f.name)
        if isinstance(value, str):
            setattr(rec, f.name, _text(value))
        elif isinstance(value, list) and value and isinstance(value[0], tuple):
            setattr(rec, f.name, [tuple(_text(x) for x in pair) for pair in value])
        elif isinstance(value, list) and value and isinstance(value[0], StoredAttachment):
            setattr(
                rec,
                f.name,
                [dataclasses.replace(a, name=_text(a.name), content_type=_text(a.content_type)) for a in value],
            )
    return rec


def _text(value: object) -> object:
    if isinstance(value, str):
        # a lone surrogate survives UTF-16 with surrogatepass and decodes back as U+FFFD
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value
