"""A ``cpimock serve`` subprocess under load: a handshake flood, ``kill -9`` mid-load, SIGHUP storms.

The server runs as its own process (as users run it, with uvloop) so that its file
descriptors and memory can be read from ``/proc/<pid>`` alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import platform
import resource
import signal
import sqlite3
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from cpimock.workspace.create import ensure_workspace

from .hostile import Outcome, attempt, client_context, eventually
from .proc import ServerProcess, set_option

# one load at a time: the tests of this group run on one xdist worker, one after another
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("load")]

HANDSHAKE_TIMEOUT_S = 10.0  # the default: 500 handshakes at once on a busy 2-core machine take seconds


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    root = tmp_path / "ws"
    ensure_workspace(root)
    set_option(root, "server", f"handshake_timeout_s = {HANDSHAKE_TIMEOUT_S}")
    set_option(root, "server", "keepalive_timeout_s = 2")
    proc = ServerProcess(root)
    try:
        yield proc
    finally:
        proc.stop()


_CONTEXTS: dict[tuple[Path, bool], ssl.SSLContext] = {}


def good_context(server: ServerProcess, cert: bool = True) -> ssl.SSLContext:
    """One client context per workspace (as a real client pool would hold it)."""
    keys = server.root / "certs" / "keys" / "demo-sender"
    if (keys, cert) not in _CONTEXTS:
        files = (keys / "cert.pem", keys / "key.key") if cert else (None, None)
        _CONTEXTS[keys, cert] = client_context(keys / "ca.pem", *files)
    return _CONTEXTS[keys, cert]


async def good_call(server: ServerProcess) -> Outcome:
    return await attempt(server.url, good_context(server), timeout=30)


async def silent_hello(server: ServerProcess) -> float:
    """Open a TCP connection, send a ClientHello, then nothing; seconds until the server hangs up."""
    from .test_protocol_abuse import client_hello

    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    started = time.monotonic()
    try:
        writer.write(client_hello())
        async with asyncio.timeout(HANDSHAKE_TIMEOUT_S + 20):
            while await reader.read(65536):
                pass
        return time.monotonic() - started
    finally:
        writer.close()


async def no_certificate(server: ServerProcess) -> Outcome:
    return await attempt(server.url, good_context(server, cert=False), timeout=30)


async def test_a_flood_of_500_handshakes_ends_in_time_and_leaves_nothing_behind(server: ServerProcess) -> None:
    for _ in range(10):
        assert (await good_call(server)).status == 200
    fds, rss = server.fds(), server.rss_kib()
    stop = asyncio.Event()
    interleaved: list[int | None] = []

    async def meanwhile() -> None:
        while not stop.is_set():
            interleaved.append((await good_call(server)).status)

    watcher = asyncio.create_task(meanwhile())
    started = time.monotonic()
    flood = await asyncio.gather(
        *(good_call(server) for _ in range(250)),
        *(no_certificate(server) for _ in range(125)),
        *(silent_hello(server) for _ in range(125)),
    )
    elapsed = time.monotonic() - started
    stop.set()
    await watcher
    served = [o for o in flood[:250] if isinstance(o, Outcome)]
    assert [o.status for o in served] == [200] * 250, {o.error for o in served if o.status != 200}
    assert {o.status for o in flood[250:375] if isinstance(o, Outcome)} == {401}  # client_auth auto: optional
    hung_up = [t for t in flood[375:] if isinstance(t, float)]
    assert len(hung_up) == 125
    assert max(hung_up) < HANDSHAKE_TIMEOUT_S + 15, max(hung_up)
    assert interleaved
    assert all(s == 200 for s in interleaved), interleaved
    assert elapsed < 120

    async def settled() -> bool:
        return server.fds() <= fds

    await eventually(settled, 15, f"the server's fds back to {fds} (now {server.fds()})")
    # memory: what the flood allocated is returned or reused; a second flood must not grow it much
    after_first = server.rss_kib()
    await asyncio.gather(*(good_call(server) for _ in range(250)), *(silent_hello(server) for _ in range(50)))
    await eventually(settled, 15, f"the server's fds back to {fds} after the second flood")
    after_second = server.rss_kib()
    assert after_second - after_first < 16 * 1024, (rss, after_first, after_second)
    assert after_first - rss < 64 * 1024, (rss, after_first)
    assert "Traceback" not in server.log()


FLOODS, FLOOD_SIZE = 4, 3000


@pytest.fixture
def flood_size() -> Iterator[int]:
    """Raise this process's open files limit for a flood; fewer connections where it cannot reach enough."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FLOOD_SIZE + 1000 if hard == resource.RLIM_INFINITY else min(hard, FLOOD_SIZE + 1000)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    try:
        yield min(FLOOD_SIZE, wanted - 1000)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def hung_up_on(server: ServerProcess) -> str:
    """A ClientHello and then silence: "closed" when the server hangs up, else what the client saw.

    A connection that arrives while the listen backlog is full can hang in the kernel (the client
    believes it connected, the server's kernel never completed it) until the kernel gives up on
    it, past this client's patience: "TimeoutError" then, which says nothing about the server.
    """
    try:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT_S + 20):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                writer.write(one_client_hello())
                while await reader.read(65536):
                    pass
            finally:
                writer.close()
    except (OSError, TimeoutError) as exc:
        return type(exc).__name__
    return "closed"


def sender(server: ServerProcess, stop: threading.Event, statuses: list[int | str]) -> None:
    """POST on a new connection, again and again until *stop*: each status, or what went wrong."""
    while not stop.is_set():
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=30, context=good_context(server))
        try:
            conn.request("POST", "/http/clientCertAuth", body=b'{"name": "Ada"}', headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        except (OSError, http.client.HTTPException) as exc:
            statuses.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()


@functools.cache
def one_client_hello() -> bytes:
    """A real client's first flight, made once: making one loads the system's CA store (~15 ms)."""
    from .test_protocol_abuse import client_hello

    return client_hello()


@pytest.mark.timeout(900)
@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="only glibc's heap is handed back after a flood")
async def test_four_floods_of_silent_handshakes_leave_the_memory_as_it_was(
    server: ServerProcess, flood_size: int
) -> None:
    """Each flood: thousands of connections that send a ClientHello and go silent, all at once,
    while a sender calls in a loop. The server holds at most max_handshakes of them (the
    longest-waiting give way after 2 s), and hands the heap's free memory back once each flood
    has passed; before, four floods took its RSS from 59 to 563 MiB."""
    for _ in range(10):
        assert (await good_call(server)).status == 200
    fds, rss = server.fds(), server.rss_kib()
    peaks = []
    server_limit = 512  # the default server.max_handshakes: at least these are hung up on by the server

    async def settled() -> bool:
        return server.fds() <= fds

    for flood in range(FLOODS):
        stop = threading.Event()
        statuses: list[int | str] = []
        # the sender is a client of its own (a thread with blocking sockets), not one more task of the
        # event loop that floods: a flood of 3,000 can keep that loop from its handshake for seconds
        watcher = asyncio.create_task(asyncio.to_thread(sender, server, stop, statuses))
        silent = [asyncio.create_task(hung_up_on(server)) for _ in range(flood_size)]
        while not all(task.done() for task in silent):
            peaks.append(server.rss_kib())
            await asyncio.wait(silent, timeout=1.0)
        stop.set()
        await watcher
        outcomes = Counter(task.result() for task in silent)
        assert outcomes["closed"] >= server_limit, (flood + 1, outcomes)
        assert statuses, f"no call completed during flood {flood + 1}"
        assert set(statuses) == {200}, (flood + 1, statuses)
        await eventually(settled, 30, f"the server's fds back to {fds} after flood {flood + 1} (now {server.fds()})")
        # the server hands the flood's free memory back 2 s after it: wait for that, if it comes
        with contextlib.suppress(AssertionError):
            await asyncio.to_thread(server.wait_for_log, "handed the heap's free memory back", 15, flood + 1)
    after = server.rss_kib()
    assert after <= 1.5 * rss, f"RSS {rss} KiB before the floods, {after} KiB after (peak {max(peaks)} KiB)"
    log = server.log()
    # logged once per flood (twice if its connections came in two waves), not once per connection
    started, over = log.count("(server.max_handshakes)"), log.count("handshake flood over")
    assert FLOODS <= started == over <= 2 * FLOODS, (started, over)
    assert "Traceback" not in log


async def test_kill_9_mid_load_loses_nothing_committed(server: ServerProcess) -> None:
    db = server.root / "cpimock.db"
    committed: set[str] = set()
    stop = asyncio.Event()

    async def load() -> None:
        while not stop.is_set():
            await good_call(server)

    clients = [asyncio.create_task(load()) for _ in range(6)]

    def read_committed() -> set[str]:
        with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)) as conn:
            return {row[0] for row in conn.execute("SELECT guid FROM mpl")}

    async def enough() -> bool:
        committed.update(await asyncio.to_thread(read_committed))
        return len(committed) >= 200

    await eventually(enough, 60, "200 committed MPL records")
    server.kill()  # SIGKILL while the clients are still calling
    stop.set()
    await asyncio.gather(*clients, return_exceptions=True)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        after = {row[0] for row in conn.execute("SELECT guid FROM mpl")}
        statuses = {row[0] for row in conn.execute("SELECT status FROM mpl")}
    assert committed <= after, f"{len(committed - after)} committed records lost"
    assert statuses == {"COMPLETED"}
    # and the server opens the same store cleanly again
    again = ServerProcess(server.root)
    try:
        assert (await good_call(again)).status == 200
    finally:
        assert again.stop() == 0


async def test_a_sighup_storm_reloads_and_keeps_serving(server: ServerProcess) -> None:
    assert (await good_call(server)).status == 200
    fds = server.fds()
    statuses: list[int | None] = []
    stop = asyncio.Event()

    async def load() -> None:
        while not stop.is_set():
            statuses.append((await good_call(server)).status)

    clients = [asyncio.create_task(load()) for _ in range(4)]
    for _ in range(200):
        server.signal(signal.SIGHUP)
        await asyncio.sleep(0.005)
    server.wait_for_log("reloaded the workspace (SIGHUP)")
    stop.set()
    await asyncio.gather(*clients)
    assert statuses
    assert set(statuses) == {200}
    assert server.proc.poll() is None
    assert (await good_call(server)).status == 200

    async def settled() -> bool:
        return server.fds() <= fds + 1  # +1: the MPL's read connection may have opened meanwhile

    await eventually(settled, 15, f"fds back to {fds}")
    log = server.log()
    assert "Traceback" not in log
    assert "failed" not in log.split("listening on", 1)[1]
    assert server.stop() == 0


async def test_two_workers_share_the_port_and_log_every_call_exactly_once(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    ensure_workspace(root)
    server = ServerProcess(root, "--workers", "2")
    try:
        server.wait_for_log("listening on", count=2)  # both workers

        async def client() -> list[Outcome]:
            return [await good_call(server) for _ in range(40)]

        outcomes = [o for batch in await asyncio.gather(*(client() for _ in range(8))) for o in batch]
    finally:
        assert server.stop() == 0  # each worker writes what it has queued before it exits
    assert [o.error for o in outcomes if o.status != 200] == []
    with contextlib.closing(sqlite3.connect(root / "cpimock.db")) as conn:
        rows = conn.execute("SELECT guid, peer, writer_pid FROM mpl").fetchall()
    assert len(rows) == len(outcomes) == 320
    assert len({guid for guid, _, _ in rows}) == 320
    assert sorted(peer for _, peer, _ in rows) == sorted(o.peer for o in outcomes)
    assert len({pid for _, _, pid in rows}) == 2, "both workers answered calls"
