"""The MPL store: exact counts, every field round-trips, a locked or full disk never blocks or crashes."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gc
import json
import logging
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cpimock.config import JournalConfig
from cpimock.errors import JournalError
from cpimock.mpl import rows as mpl_rows
from cpimock.mpl import sql as mpl_sql
from cpimock.mpl.journal import Journal, MplRecord, Where, new_message_guid, refusal
from cpimock.mpl.record import StoredAttachment


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cpimock.db"


@pytest.fixture
def journal(db: Path) -> Iterator[Journal]:
    j = Journal.open(db, JournalConfig(body_cap_bytes=16))
    yield j
    j.close()


def full_record(**changes: object) -> MplRecord:
    rec = MplRecord(
        application_message_id="PO-4711",
        application_message_type="ORDERS05",
        integration_flow_name="clientCertAuth",
        sender="S4H",
        receiver="SHOP",
        auth_method="certificate",
        service_key="demo-sender",
        instance="default",
        cert_subject="CN=demo-sender,OU=cpimock Clients,O=cpimock,L=local,C=DE",
        cert_issuer="CN=cpimock Client CA,OU=cpimock Clients,O=cpimock,L=local,C=DE",
        cert_serial="0x1f",
        cert_fingerprint="AB:CD",
        peer="127.0.0.1:50000",
        request_method="POST",
        request_path="/http/clientCertAuth",
        request_query="a=1",
        request_headers=[("Content-Type", "text/plain"), ("X-Twice", "1"), ("X-Twice", "2")],
        request_body=b"0123456789abcdefXYZ",
        response_status=200,
        response_headers=[("Content-Type", "text/plain")],
        response_body=b"\xff\xfe binary",
        custom_header_properties=[("po_number", "12345"), ("po_number", "12346")],
        attachments=[StoredAttachment("payload.xml", "application/xml", b"<a>" + b"x" * 40 + b"</a>")],
    )
    for name, value in changes.items():
        setattr(rec, name, value)
    return rec


def test_message_guid_has_cpis_shape() -> None:
    # ids of December 2025 start "AGk_" like the live example in the spec
    guid = new_message_guid(now=1765786792.442)
    assert guid.startswith("AGk_")
    ids = {new_message_guid() for _ in range(1000)}
    assert len(ids) == 1000
    for value in ids:
        assert len(value) == 28
        assert value.startswith("AG")
        assert len(base64.urlsafe_b64decode(value)) == 21


def test_message_guids_lead_with_their_time_to_the_millisecond() -> None:
    # seconds, then the millisecond within it: new ids go next to the last ones in the id index
    raw = base64.urlsafe_b64decode(new_message_guid(now=1765786792.442))
    assert int.from_bytes(raw[1:5], "big") == 1765786792
    assert int.from_bytes(raw[5:7], "big") == 442
    times = [1765786792.0, 1765786792.001, 1765786792.442, 1765786792.999, 1765786793.0, 1765786800.5]
    raws = [base64.urlsafe_b64decode(new_message_guid(now=t)) for t in times]
    assert raws == sorted(raws)
    # ids of the same millisecond share their first 9 characters (6 3/4 bytes: zero, time, millisecond)
    assert len({new_message_guid(now=1765786792.442)[:9] for _ in range(100)}) == 1
    # within one millisecond the order is random, and the ids still differ
    same = {new_message_guid(now=1765786792.442) for _ in range(1000)}
    assert len(same) == 1000


def test_open_creates_a_private_wal_database(db: Path) -> None:
    Journal.open(db).close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("kind", ["with properties and attachments", "plain"])
def test_every_field_round_trips_and_bodies_are_capped(journal: Journal, kind: str) -> None:
    # a plain record is queued as its finished row, the others as themselves: both keep every field
    rec = full_record() if kind != "plain" else full_record(custom_header_properties=[], attachments=[])
    journal.record(rec)
    assert journal.flush(timeout=10)
    got = journal.get(rec.message_guid)
    assert got is not None
    assert got.integration_flow_name == "clientCertAuth"
    assert got.status == "COMPLETED"
    assert got.custom_status == "COMPLETED"
    assert got.request_headers == rec.request_headers
    assert got.response_headers == rec.response_headers
    assert got.request_body == b"0123456789abcdef"
    assert got.request_body_size == 19
    assert got.response_body == b"\xff\xfe binary"
    assert got.response_status == 200
    if kind == "plain":
        assert (got.custom_header_properties, got.attachments) == ([], [])
    else:
        assert got.custom_header_properties == [("po_number", "12345"), ("po_number", "12346")]
        [att] = got.attachments
        assert (att.name, att.content_type, att.size, len(att.data)) == ("payload.xml", "application/xml", 47, 16)
    for name in (
        "application_message_id",
        "application_message_type",
        "sender",
        "receiver",
        "auth_method",
        "service_key",
        "instance",
        "cert_subject",
        "cert_issuer",
        "cert_serial",
        "cert_fingerprint",
        "peer",
        "request_method",
        "request_path",
        "request_query",
        "transaction_id",
        "correlation_id",
        "log_level",
    ):
        assert getattr(got, name) == getattr(rec, name), name
    assert abs((got.log_start - rec.log_start).total_seconds()) < 0.002
    assert got.log_end is not None
    assert got.log_end >= got.log_start


def _tracked_growth(journal: Journal, make: Callable[[], MplRecord], n: int) -> int:
    """How many more objects the garbage collector tracks once *n* records wait in the queue."""
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(n):
        journal.record(make())
    gc.collect()
    return len(gc.get_objects()) - before


def test_queued_plain_records_are_nothing_the_garbage_collector_walks(db: Path) -> None:
    # under load thousands of records wait for the writer; as objects the collector tracks they
    # made every collection walk them, and full collections stall the event loop
    j = Journal.open(db)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the writer cannot write: the records stay queued
    try:
        plain = _tracked_growth(j, lambda: full_record(custom_header_properties=[], attachments=[]), 1000)
        # the twin: records with rows in child tables wait as records, and the count sees them
        rich = _tracked_growth(j, full_record, 1000)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert plain < 50
    assert rich >= 1000
    assert j.flush(timeout=30)
    j.close()
    assert Journal.open_readonly(db).count() == 2000


def test_credentials_are_not_logged(journal: Journal) -> None:
    rec = MplRecord(request_headers=[("Authorization", "Basic c2IteDpzZWNyZXQ="), ("X-Other", "Basic kept")])
    journal.record(rec)
    journal.flush()
    stored = journal.get(rec.message_guid)
    assert stored is not None
    assert stored.request_headers == [("Authorization", "Basic ***"), ("X-Other", "Basic kept")]


def test_a_refusal_keeps_cpis_status_and_says_why(journal: Journal) -> None:
    journal.record(refusal("tls", "certificate expired", peer="127.0.0.1:1"))
    journal.record(MplRecord(status="FAILED", integration_flow_name="x", error="boom"))
    journal.flush()
    refused, failed = journal.query(order=[("seq", False)])
    assert (refused.status, refused.custom_status, refused.refusal_stage) == ("FAILED", "REFUSED", "tls")
    assert refused.error_text() == "Refused at tls: certificate expired"
    assert (failed.status, failed.custom_status, failed.error_text()) == ("FAILED", "FAILED", "boom")


def test_custom_status_is_kept_when_set(journal: Journal) -> None:
    journal.record(MplRecord(custom_status="PO accepted"))
    journal.flush()
    assert journal.query()[0].custom_status == "PO accepted"


def test_n_records_from_many_threads_leave_exactly_n(db: Path) -> None:
    j = Journal.open(db, batch_size=64)

    def produce() -> None:
        for _ in range(500):
            j.record(MplRecord(integration_flow_name="t"))

    threads = [threading.Thread(target=produce) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    j.close()
    reader = Journal.open_readonly(db)
    assert reader.count() == 3000
    reader.close()


def test_a_locked_database_never_blocks_the_caller_and_catches_up(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    j = Journal.open(db, busy_timeout_s=0.02)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    caplog.set_level(logging.WARNING, "cpimock.mpl.journal")
    started = time.perf_counter()
    for _ in range(200):
        j.record(MplRecord())
    assert time.perf_counter() - started < 1.0
    assert not j.flush(timeout=0.3)
    assert j.behind
    blocker.execute("ROLLBACK")
    blocker.close()
    assert j.flush(timeout=10)
    j.close()
    behind = [r for r in caplog.records if "behind" in r.getMessage()]
    assert len(behind) == 1
    assert Journal.open_readonly(db).count() == 200


def test_the_twin_an_unlocked_database_is_written_at_once(db: Path) -> None:
    j = Journal.open(db, busy_timeout_s=0.02)
    for _ in range(200):
        j.record(MplRecord())
    assert j.flush(timeout=10)
    assert not j.behind
    assert j.dropped == 0
    j.close()


def test_a_full_disk_is_retried_and_nothing_is_lost(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = mpl_rows.insert
    failures = iter(range(3))

    def flaky(conn: sqlite3.Connection, *args: Any) -> None:
        if next(failures, None) is not None:
            raise sqlite3.OperationalError("database or disk is full")
        real(conn, *args)

    monkeypatch.setattr(mpl_rows, "insert", flaky)
    j = Journal.open(db)
    for _ in range(10):
        j.record(MplRecord())
    assert j.flush(timeout=10)
    j.close()
    assert Journal.open_readonly(db).count() == 10


class _CountingConnection:
    """A connection that remembers the text of every statement it ran."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.statements: list[str] = []

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        self.statements.append(sql)
        return self.conn.execute(sql, params)


def test_batches_of_any_size_go_in_in_order_with_a_few_distinct_statements(db: Path) -> None:
    # the writer's batches vary in size; a statement per size would be compiled for most batches
    j = Journal.open(db)
    j.close()
    conn = sqlite3.connect(db, isolation_level=None)
    counting = _CountingConnection(conn)
    now = dt.datetime.now(dt.UTC)
    sizes = [1, 2, 3, 7, 64, 100, 125, 255, 256, 257, 500, 511, 600]
    guids = []
    for size in sizes:
        rows = []
        for _ in range(size):
            rec = MplRecord(message_guid=new_message_guid())
            rec.log_end = now
            guids.append(rec.message_guid)
            rows.append(mpl_rows.queued(mpl_rows.capped(rec, 1024), now, 1))
        statements_before = len(counting.statements)
        conn.execute("BEGIN IMMEDIATE")
        mpl_rows.insert(counting, rows, now, 1)  # type: ignore[arg-type]
        conn.execute("COMMIT")
        # 100 rows go in as 64 + 32 + 4: one statement per power of two in the size
        assert len(counting.statements) - statements_before == bin(size % 256).count("1") + size // 256
    conn.close()
    assert len(set(counting.statements)) <= 9
    with contextlib.closing(sqlite3.connect(db)) as reader:
        stored = [row[0] for row in reader.execute("SELECT guid FROM mpl ORDER BY seq")]
    assert stored == guids


def test_a_full_queue_drops_and_counts(db: Path) -> None:
    j = Journal.open(db, busy_timeout_s=0.02, queue_size=10, batch_size=5)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    for _ in range(50):
        j.record(MplRecord())
    blocker.execute("ROLLBACK")
    blocker.close()
    j.close()
    stored = Journal.open_readonly(db).count()
    assert 10 <= stored <= 15
    assert stored + j.dropped == 50


def test_close_gives_up_on_a_disk_that_never_recovers(db: Path) -> None:
    j = Journal.open(db, busy_timeout_s=0.02)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    for _ in range(5):
        j.record(MplRecord())
    j.close(timeout=0.2)
    assert j.dropped == 5
    blocker.execute("ROLLBACK")
    blocker.close()


def test_a_corrupt_file_is_refused_with_the_fix(db: Path) -> None:
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(JournalError, match=r"cpimock\.db: not a usable message log .* move it aside"):
        Journal.open(db)


def test_a_locked_file_is_refused_with_the_fix(db: Path) -> None:
    Journal.open(db).close()
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("PRAGMA journal_mode = DELETE")
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(JournalError, match="locked by another program"):
            Journal.open(db, busy_timeout_s=0.05)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_readonly_needs_an_existing_log(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no message log here; run `cpimock serve`"):
        Journal.open_readonly(tmp_path / "cpimock.db")


def test_a_reader_sees_what_a_running_writer_wrote(db: Path, journal: Journal) -> None:
    journal.record(MplRecord())
    journal.flush()
    reader = Journal.open_readonly(db)
    assert reader.count() == 1
    journal.record(MplRecord())
    journal.flush()
    assert reader.count() == 2
    reader.record(MplRecord())  # a reader ignores records
    reader.close()


def test_two_writers_share_one_file(db: Path) -> None:
    a, b = Journal.open(db), Journal.open(db)
    for _ in range(300):
        a.record(MplRecord(integration_flow_name="a"))
        b.record(MplRecord(integration_flow_name="b"))
    a.close()
    b.close()
    reader = Journal.open_readonly(db)
    assert reader.count(Where.of(iflow="a")) == 300
    assert reader.count(Where.of(iflow="b")) == 300
    assert reader.iflows() == ["a", "b"]


def test_retention_by_count_keeps_the_newest(db: Path) -> None:
    j = Journal.open(db, JournalConfig(retention_count=5))
    for i in range(8):
        j.record(MplRecord(application_message_id=str(i), custom_header_properties=[("n", str(i))]))
    j.flush()
    assert j.prune() == 3
    assert sorted(int(r.application_message_id or 0) for r in j.query()) == [3, 4, 5, 6, 7]
    with sqlite3.connect(db) as conn:  # children go with their message
        assert conn.execute("SELECT count(*) FROM mpl_property").fetchone()[0] == 5
    j.close()


def test_retention_by_age_drops_old_messages(db: Path) -> None:
    j = Journal.open(db, JournalConfig(retention_days=1))
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    j.record(MplRecord(log_start=old, log_end=old))
    j.record(MplRecord())
    j.flush()
    assert j.prune() == 1
    assert j.count() == 1
    j.close()


def test_queries_filter_by_status_iflow_time_and_text(journal: Journal) -> None:
    old = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    journal.record(MplRecord(integration_flow_name="a", log_start=old, log_end=old))
    journal.record(MplRecord(integration_flow_name="b", status="FAILED", error="100% broken_thing"))
    journal.record(refusal("auth", "no client certificate", request_path="/http/a"))
    journal.flush()
    assert journal.count(Where.of(status="failed")) == 2
    assert journal.count(Where.of(status="REFUSED")) == 1
    assert journal.count(Where.of(iflow="a")) == 1
    assert journal.count(Where.of(since=dt.datetime(2022, 1, 1, tzinfo=dt.UTC))) == 2
    assert journal.count(Where.of(text="100% broken_")) == 1
    assert journal.count(Where.of(text="0%_b")) == 0  # % and _ are literal
    assert journal.count(Where.of(text="client certificate")) == 1
    first = journal.query(order=[("seq", False)], limit=1)
    assert journal.count(Where.of(after_seq=first[0].seq)) == 2
    assert journal.get("AGnope") is None


def test_clear_empties_the_log(journal: Journal) -> None:
    journal.record(full_record())
    journal.clear()
    assert journal.count() == 0
    assert journal.attachments("x") == []


def test_a_disabled_journal_records_nothing(db: Path) -> None:
    j = Journal.open(db, JournalConfig(enabled=False))
    j.record(MplRecord())
    assert j.flush(timeout=1)
    j.close()
    assert Journal.open_readonly(db).count() == 0


def test_records_keep_the_order_of_the_calls_within_a_batch(journal: Journal) -> None:
    # plain records go in as one multi-row statement, those with properties or attachments one by
    # one: the ids (seq) must still follow the calls
    kinds = ["plain", "rich", "plain", "plain", "rich", "plain"]
    guids = []
    for kind in kinds:
        rec = MplRecord(message_guid=new_message_guid(), status="COMPLETED")
        if kind == "rich":
            rec.log_properties = [("step", "done")]
        journal.record(rec)
        guids.append(rec.message_guid)
    assert journal.flush(10)
    stored = journal.query(order=(("seq", False),))
    assert [r.message_guid for r in stored] == guids
    assert [bool(journal.get(g).log_properties) for g in guids] == [k == "rich" for k in kinds]  # type: ignore[union-attr]


def test_a_new_store_uses_16k_pages(db: Path) -> None:
    Journal.open(db).close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 16384


@pytest.mark.parametrize(
    "headers",
    [[], [("Content-Type", "application/json")], [("X-Ümlaut", 'quote " back\\slash\nline \u2028')], [("n", 3)]],
)
def test_headers_are_stored_as_json_pairs(headers: list[tuple[str, object]]) -> None:
    assert json.loads(mpl_rows.headers_json(headers)) == [list(pair) for pair in headers]  # type: ignore[arg-type]


def test_a_store_another_process_is_creating_is_waited_for(db: Path) -> None:
    # what two server workers starting together on a fresh workspace do: switching the new file
    # to WAL fails at once while the other holds it, instead of waiting for the busy timeout
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE other_program (x)")
    done = threading.Timer(0.2, lambda: other.execute("COMMIT"))
    done.start()
    try:
        journal = Journal.open(db, busy_timeout_s=10)
    finally:
        done.join()
        other.close()
    journal.record(MplRecord(status="COMPLETED"))
    journal.close()
    assert Journal.open_readonly(db).count() == 1


def test_a_lone_surrogate_from_a_step_is_stored_replaced_and_the_writer_goes_on(db: Path) -> None:
    """A step (or a sender's undecodable bytes) can leave text UTF-8 cannot carry; SQLite refuses it
    with a UnicodeEncodeError, which once killed the writer thread and every later record."""
    j = Journal.open(db)
    bad = full_record(custom_header_properties=[("greeted", "A\ud800da")], log_properties=[], attachments=[])
    bad.sender = "S\udcffnder"
    j.record(bad)
    after = full_record(custom_header_properties=[], log_properties=[], attachments=[])
    j.record(after)
    assert j.flush(timeout=10)
    stored = j.get(bad.message_guid)
    assert stored is not None
    assert stored.custom_header_properties == [("greeted", "A\ufffdda")]
    assert stored.sender == "S\ufffdnder"
    assert j.get(after.message_guid) is not None
    assert j.dropped == 0
    j.close()


def test_a_store_made_before_the_artifact_name_gets_its_column_and_keeps_its_rows(db: Path) -> None:
    # a version-1 store: the table without iflow_name, one message in it
    old = sqlite3.connect(db)
    v1 = mpl_sql.SCHEMA.replace(", iflow_name TEXT", "")
    assert v1 != mpl_sql.SCHEMA
    old.executescript(v1 + "PRAGMA user_version = 1;")
    now_ms = int(time.time() * 1000)  # within the retention, which a store's opening applies
    old.execute(
        "INSERT INTO mpl (guid, iflow, status, custom_status, log_start, log_end, log_level, request_headers,"
        " request_body, request_body_size, response_headers, response_body, response_body_size)"
        " VALUES ('AGold', 'Orders', 'COMPLETED', 'COMPLETED', ?, ?, 'INFO', '[]', X'', 0, '[]', X'', 0)",
        (now_ms, now_ms),
    )
    old.commit()
    old.close()
    j = Journal.open(db)
    try:
        named = MplRecord(integration_flow_name="Orders_Inbound", integration_artifact_name="Orders Inbound")
        j.record(named)
        j.flush()
        by_guid = {r.message_guid: r for r in j.query(limit=10)}
    finally:
        j.close()
    assert by_guid["AGold"].integration_flow_name == "Orders"
    assert by_guid["AGold"].integration_artifact_name is None
    assert by_guid[named.message_guid].integration_artifact_name == "Orders Inbound"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == mpl_sql.SCHEMA_VERSION


def test_a_reader_opening_a_store_made_before_the_artifact_name_reads_it(db: Path) -> None:
    with contextlib.closing(sqlite3.connect(db)) as old:
        old.executescript(mpl_sql.SCHEMA.replace(", iflow_name TEXT", "") + "PRAGMA user_version = 1;")
    reader = Journal.open_readonly(db)  # `cpimock messages` before any new server opened it
    try:
        assert reader.count() == 0
        assert reader.query() == []
    finally:
        reader.close()
    # the twin: a file that is no message log is still refused with its one line
    other = db.with_name("other.db")
    with contextlib.closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(JournalError, match=r"other\.db"):
        Journal.open_readonly(other)
