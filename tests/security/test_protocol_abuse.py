"""Protocol abuse on the TLS port, on loopback: each attempt ends within the configured timeouts.

The workspace is configured with short timeouts (``handshake_timeout_s = 1``,
``keepalive_timeout_s = 2``) so that every bound is asserted in seconds. While each abuse is
in progress a legitimate sender is served. File descriptors of the process are counted
before and after (the in-process server and its clients share the process, so every socket
either side leaves open shows up).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ..serving import Running, serving
from .hostile import attempt, eventually, record_of
from .proc import set_option

HANDSHAKE_TIMEOUT_S = 1.0
KEEPALIVE_TIMEOUT_S = 2.0
SLACK_S = 3.0  # scheduling on a loaded 2-core CI machine


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def fds_back_to(baseline: int) -> None:
    """Every socket of the abuse closed again (closing completes on the loop's next turns)."""

    async def check() -> bool:
        return open_fds() <= baseline

    await eventually(check, SLACK_S, f"open file descriptors back to {baseline} (now {open_fds()})")


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()


@pytest.fixture
async def running(workspace: Path) -> AsyncIterator[Running]:
    set_option(workspace, "server", f"handshake_timeout_s = {HANDSHAKE_TIMEOUT_S}")
    set_option(workspace, "server", f"keepalive_timeout_s = {KEEPALIVE_TIMEOUT_S}")
    async with serving(workspace) as running:
        await served(running)  # warm: thread pools, caches and the MPL's read connection exist before
        await running.records()  # any baseline is taken
        yield running


async def served(running: Running) -> None:
    """The legitimate sender, interleaved with every abuse."""
    outcome = await attempt(running.url, running.context(running.extract("demo-sender")))
    assert outcome.status == 200, outcome


async def until_closed(reader: asyncio.StreamReader, within: float) -> float:
    """Seconds until the server closes the connection (reading and discarding what it sends)."""
    started = time.monotonic()
    async with asyncio.timeout(within):
        while await reader.read(65536):
            pass
    return time.monotonic() - started


def client_hello() -> bytes:
    """The first flight of a real TLS client."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


async def raw_connection(running: Running) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", running.server.port)
    return reader, writer, f"127.0.0.1:{writer.get_extra_info('sockname')[1]}"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes(range(256)) * 4, "the client did not speak TLS"),
        (b"GET /http/clientCertAuth HTTP/1.1\r\nHost: localhost\r\n\r\n", "plain HTTP"),
    ],
    ids=["garbage", "plain-http"],
)
async def test_bytes_that_are_not_tls_are_refused_at_once(running: Running, data: bytes, reason: str) -> None:
    baseline = open_fds()
    reader, writer, peer = await raw_connection(running)
    writer.write(data)
    await served(running)
    assert await until_closed(reader, HANDSHAKE_TIMEOUT_S + SLACK_S) < HANDSHAKE_TIMEOUT_S
    await close(writer)
    rec = await record_of(running.records, peer)
    assert rec.refusal_stage == "tls"
    assert reason in (rec.refusal_reason or "")
    await fds_back_to(baseline)


@pytest.mark.parametrize("hello", [True, False], ids=["client-hello-then-silence", "silence"])
async def test_a_silent_client_is_dropped_after_the_handshake_timeout(running: Running, hello: bool) -> None:
    baseline = open_fds()
    reader, writer, peer = await raw_connection(running)
    if hello:
        writer.write(client_hello())
    await served(running)
    waited = await until_closed(reader, HANDSHAKE_TIMEOUT_S + SLACK_S)
    assert waited < HANDSHAKE_TIMEOUT_S + SLACK_S
    await close(writer)
    rec = await record_of(running.records, peer)
    assert rec.refusal_stage == "tls"
    assert rec.refusal_reason == "the client did not complete the handshake in time"
    await fds_back_to(baseline)


async def tls_connection(running: Running) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    ctx = running.context(running.extract("demo-sender"))
    return await asyncio.open_connection("127.0.0.1", running.server.port, ssl=ctx, server_hostname="localhost")


async def test_slowloris_headers_are_cut_off_by_the_keepalive_timeout(running: Running) -> None:
    baseline = open_fds()
    reader, writer = await tls_connection(running)
    writer.write(b"POST /http/clientCertAuth HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
    started = time.monotonic()
    closed = False
    while time.monotonic() - started < KEEPALIVE_TIMEOUT_S + SLACK_S:
        writer.write(b"a")  # one header byte per interval
        try:
            await writer.drain()
            async with asyncio.timeout(0.1):
                if not await reader.read(65536):
                    closed = True
                    break
        except TimeoutError:
            continue
        except (ConnectionError, ssl.SSLError):
            closed = True
            break
    assert closed, "the slow client was still connected"
    await served(running)
    await close(writer)
    await fds_back_to(baseline)


async def request_on(running: Running, head: bytes, body: bytes = b"") -> tuple[bytes, float]:
    """Send *head* (+ *body*) on a fresh TLS connection; the answer's status line and when it closed."""
    reader, writer = await tls_connection(running)
    try:
        writer.write(head + body)
        await writer.drain()
        async with asyncio.timeout(KEEPALIVE_TIMEOUT_S + SLACK_S):
            status = await reader.readline()
        return status, await until_closed(reader, KEEPALIVE_TIMEOUT_S + SLACK_S)
    finally:
        await close(writer)


async def test_ten_thousand_headers_are_refused(running: Running) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(10_000))
    head = b"POST /http/clientCertAuth HTTP/1.1\r\nHost: localhost\r\n" + headers + b"\r\n"
    status, _ = await request_on(running, head)
    assert status.split()[1] in (b"400", b"431"), status
    await served(running)
    assert not [
        r
        for r in await running.records()
        if r.status == "COMPLETED" and r.request_headers and len(r.request_headers) > 100
    ]


async def test_a_two_gigabyte_body_is_refused_before_it_is_read(running: Running) -> None:
    baseline = open_fds()
    reader, writer = await tls_connection(running)
    writer.write(
        b"POST /http/clientCertAuth HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 2147483648\r\n\r\n"
    )
    writer.write(b"x" * 1024)  # the slow body: a trickle, never 2 GB
    async with asyncio.timeout(SLACK_S):
        status = await reader.readline()
    assert status.split()[1] == b"413", status
    await served(running)
    await close(writer)
    refused = [r for r in await running.records() if r.response_status == 413]
    assert len(refused) == 1
    assert refused[0].refusal_stage == "http"
    await fds_back_to(baseline)


@pytest.mark.parametrize(
    "head",
    [
        b"POST /http/clientCertAuth HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /http/clientCertAuth HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"POST /http/clientCertAuth HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 4\r\n\r\n0\r\n\r\n",
        b"POST /http/clientCertAuth HTTP/1.1\r\nHost: localhost\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n",
        b"POST /http/clientCertAuth HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        b"Transfer-Encoding: identity\r\n\r\n0\r\n\r\n",
        b"POST /http/clientCertAuth HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 0\r\n\r\nx",
    ],
    ids=["CL-then-TE", "TE-then-CL", "obsolete-line-folding", "two-transfer-encodings", "two-content-lengths"],
)
async def test_request_smuggling_shapes_are_refused_and_reach_no_iflow(running: Running, head: bytes) -> None:
    async def completed() -> int:
        return len([r for r in await running.records() if r.status == "COMPLETED"])

    before = await completed()
    status, closed_after = await request_on(running, head)
    assert status.split()[1] == b"400", status
    assert closed_after < SLACK_S
    assert await completed() == before  # no step ran, neither for the request nor a smuggled one
    await served(running)
    assert await completed() == before + 1
