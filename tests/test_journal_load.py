"""Bounded load tests of the MPL store alone: exact counts under load, and a writer killed mid-run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from cpimock.mpl.journal import Journal, MplRecord

# one load at a time: the tests of this group run on one xdist worker, one after another
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("load")]

TOTAL = 20_000
PRODUCERS = 8
BATCH = 500


def test_20000_records_from_several_threads_are_all_stored(tmp_path: Path) -> None:
    db = tmp_path / "cpimock.db"
    journal = Journal.open(db, batch_size=BATCH)
    body = b"<order>" + b"x" * 400 + b"</order>"

    def produce(n: int) -> None:
        for i in range(n):
            journal.record(
                MplRecord(
                    integration_flow_name="load",
                    request_method="POST",
                    request_path="/http/load",
                    request_headers=[("Content-Type", "application/xml")],
                    request_body=body,
                    response_status=200,
                    response_body=b"OK",
                    custom_header_properties=[("i", str(i))],
                )
            )

    started = time.perf_counter()
    threads = [threading.Thread(target=produce, args=(TOTAL // PRODUCERS,)) for _ in range(PRODUCERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queued = time.perf_counter() - started
    journal.close()
    elapsed = time.perf_counter() - started
    assert journal.dropped == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM mpl").fetchone()[0] == TOTAL
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    print(f"\n{TOTAL} records: queued in {queued:.2f}s, stored in {elapsed:.2f}s ({TOTAL / elapsed:,.0f}/s)")


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from cpimock.mpl.journal import Journal, MplRecord

    journal = Journal.open(Path(sys.argv[1]), batch_size={batch})
    done = 0
    while True:
        for _ in range({batch}):
            journal.record(MplRecord(integration_flow_name="kill", request_body=b"x" * 200))
        journal.flush()
        done += {batch}
        print(done, flush=True)
    """
)


def test_a_writer_killed_mid_run_loses_at_most_one_batch(tmp_path: Path) -> None:
    db = tmp_path / "cpimock.db"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER.format(batch=BATCH), str(db)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    flushed = 0
    for line in proc.stdout:
        flushed = int(line)
        if flushed >= 10 * BATCH:
            break
    proc.send_signal(signal.SIGKILL)
    rest = proc.stdout.read().split()
    proc.wait()
    proc.stdout.close()
    if rest:
        flushed = int(rest[-1])
    journal = Journal.open(db)  # opens cleanly
    count = journal.count()
    journal.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # everything flushed is there; what was queued after the last flush is at most one batch
    assert flushed <= count <= flushed + BATCH
    print(f"\nkilled after {flushed} flushed records; {count} stored ({count - flushed} of the last batch)")
