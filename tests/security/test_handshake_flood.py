"""``[server] max_handshakes``: at the limit, a silent handshake gives way to a new connection.

In-process server with ``max_handshakes = 4`` and the default handshake timeout (10 s), so that
a silent client would hold its place far longer than the 2 s after which it may give way. The
four-flood memory test against a ``cpimock serve`` subprocess is in ``test_load.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cpimock.http.handshakes import EVICT_AFTER_S, FLOOD_AT, QUIET_AT, Handshakes

from ..serving import Running, serving
from .hostile import attempt, eventually
from .proc import set_option
from .test_protocol_abuse import client_hello, close, fds_back_to, open_fds, raw_connection, served, until_closed

LIMIT = 4
SLACK_S = 3.0


@pytest.fixture
async def running(workspace: Path) -> AsyncIterator[Running]:
    set_option(workspace, "server", f"max_handshakes = {LIMIT}")
    async with serving(workspace) as running:
        await served(running)
        await running.records()
        yield running


async def silent_clients(running: Running, count: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """*count* connections that each send a ClientHello and then nothing, all in their handshake."""
    clients = []
    for _ in range(count):
        reader, writer, _ = await raw_connection(running)
        writer.write(client_hello())
        clients.append((reader, writer))

    async def in_progress() -> bool:
        return len(running.server._handshakes) >= count

    await eventually(in_progress, 5, f"{count} handshakes in progress")
    return clients


def flood_lines(caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    messages = [r.getMessage() for r in caplog.records if r.name == "cpimock.http.handshakes"]
    return [m for m in messages if "(server.max_handshakes)" in m], [m for m in messages if "flood over" in m]


async def test_at_the_limit_a_new_sender_is_served_once_the_longest_waiting_handshake_gives_way(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cpimock.http.handshakes")
    baseline = open_fds()
    silent = await silent_clients(running, LIMIT)
    started = time.monotonic()
    outcome = await attempt(running.url, running.context(running.extract("demo-sender")))
    waited = time.monotonic() - started
    assert outcome.status == 200, outcome
    # it waited in the listen backlog until the oldest silent handshake had waited EVICT_AFTER_S, not
    # for the silent clients' handshake timeout
    assert EVICT_AFTER_S - 0.5 < waited < EVICT_AFTER_S + SLACK_S
    assert len(running.server._handshakes) == LIMIT - 1  # the oldest silent one gave way, three remain
    # the longest-waiting silent client was dropped (after the server's first flight, the end)
    assert await until_closed(silent[0][0], 1) < 1
    for _, writer in silent:
        await close(writer)
    await fds_back_to(baseline)
    await running.server.settle()
    started_lines, over_lines = flood_lines(caplog)
    assert len(started_lines) == 1, started_lines
    assert len(over_lines) == 1, over_lines
    assert ": 1 dropped" in over_lines[0]
    floods = [r for r in await running.records() if r.peer == "(many)"]
    assert len(floods) == 1
    assert floods[0].refusal_stage == "tls"
    assert "max_handshakes = 4" in (floods[0].refusal_reason or "")


async def test_below_the_limit_no_handshake_gives_way(running: Running, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "cpimock.http.handshakes")
    baseline = open_fds()
    silent = await silent_clients(running, LIMIT - 1)
    outcome = await attempt(running.url, running.context(running.extract("demo-sender")))
    assert outcome.status == 200, outcome
    assert len(running.server._handshakes) == LIMIT - 1, "every silent client is still in its handshake"
    for _, writer in silent:
        await close(writer)
    await fds_back_to(baseline)
    assert flood_lines(caplog) == ([], [])
    assert [r for r in await running.records() if r.peer == "(many)"] == []


# --- the bookkeeping, with a clock of the test's own ----------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_at_the_limit_only_a_handshake_that_waited_long_enough_gives_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock, ended, roomy = Clock(), [], []
    released: list[bool] = []
    monkeypatch.setattr("cpimock.http.memory.release_free_memory", lambda: released.append(True) or True)
    gate = Handshakes(2, on_room=lambda: roomy.append(True), on_burst_end=ended.append, clock=clock)
    tasks = [asyncio.create_task(asyncio.sleep(3600)) for _ in range(3)]
    assert gate.room() is None
    gate.add(tasks[0])
    clock.now += 1.0
    gate.add(tasks[1])
    assert gate.room() == pytest.approx(EVICT_AFTER_S - 1.0)  # full, and the oldest began 1 s ago
    assert gate.burst is None  # waiting in the backlog is no flood: nothing was dropped
    clock.now += EVICT_AFTER_S
    assert gate.room() is None  # now the oldest may give way
    gate.add(tasks[2])
    assert list(gate) == tasks[1:]
    await asyncio.sleep(0)
    assert tasks[0].cancelled()
    assert gate.burst is not None
    assert gate.burst.dropped == 1
    gate.discard(tasks[0])  # the dropped task's own callback: already gone, nothing changes
    assert len(gate) == 2
    assert roomy == []
    gate.discard(tasks[1])  # a place free again: accepting resumes, and half the limit ends the burst
    assert roomy == [True]
    assert [b.dropped for b in ended] == [1]
    assert gate.burst is None
    assert released == []  # three handshakes are no flood
    for task in tasks:
        task.cancel()


async def test_after_a_flood_subsides_the_free_heap_is_handed_back_once(monkeypatch: pytest.MonkeyPatch) -> None:
    released: list[bool] = []
    monkeypatch.setattr("cpimock.http.memory.release_free_memory", lambda: released.append(True) or True)
    monkeypatch.setattr("cpimock.http.handshakes.RELEASE_AFTER_S", 0.01)
    gate = Handshakes(10_000)
    tasks = [asyncio.create_task(asyncio.sleep(3600)) for _ in range(FLOOD_AT)]
    for task in tasks:
        gate.add(task)
    for task in tasks[: FLOOD_AT - QUIET_AT - 1]:
        gate.discard(task)
    assert released == []
    gate.discard(tasks[FLOOD_AT - QUIET_AT - 1])
    for task in tasks[FLOOD_AT - QUIET_AT :]:  # the flood's last connections, gone soon after
        gate.discard(task)
    assert released == []

    async def handed_back() -> bool:
        return released == [True]

    await eventually(handed_back, 1, "the free heap handed back, once")
    for task in tasks:
        task.cancel()
