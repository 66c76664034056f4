"""`cpimock serve` warns about keys that expire: at start, then once a day; workers say who they are."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from cpimock.cli import main
from cpimock.pki.keys import now
from cpimock.workspace.expiry import WARN_INTERVAL_S, key_state, warn_daily
from cpimock.workspace.registry import KeyRecord
from tests.security.proc import ServerProcess


def create(workspace: Path, *args: str) -> None:
    result = CliRunner().invoke(main, ["servicekey", "create", *args, "-w", str(workspace)])
    assert result.exit_code == 0, result.output


def test_serve_warns_at_start_about_each_key_that_is_expiring(workspace: Path) -> None:
    create(workspace, "soon", "--validity", "10")
    create(workspace, "later", "--validity", "200")
    server = ServerProcess(workspace)
    try:
        log = server.log()
    finally:
        server.stop()
    warned = [line for line in log.splitlines() if "WARNING" in line]
    assert len(warned) == 1, log
    assert "service key 'soon' expires in 9 days" in warned[0]
    assert log.index("expires in") < log.index("listening on")


def test_serve_stays_quiet_about_keys_far_from_their_end(workspace: Path) -> None:
    server = ServerProcess(workspace)
    try:
        log = server.log()
    finally:
        server.stop()
    assert "WARNING" not in log, log


def test_each_worker_names_itself_and_one_of_them_warns(workspace: Path) -> None:
    create(workspace, "soon", "--validity", "3")
    server = ServerProcess(workspace, "--workers", "2")
    try:
        server.wait_for_log("listening on", count=2)
        log = server.log()
    finally:
        server.stop()
    listening = sorted(line.split("INFO", 1)[1] for line in log.splitlines() if "listening on" in line)
    assert len(listening) == 2
    assert listening[0] != listening[1]
    assert "(worker 1 of 2, pid" in log
    assert "(worker 2 of 2, pid" in log
    assert log.count("service key 'soon' expires in") == 1, log


async def test_a_running_server_repeats_the_warnings_once_a_day(caplog: pytest.LogCaptureFixture) -> None:
    ends = now() + dt.timedelta(days=5)
    record = KeyRecord(
        "s4", "default", "certificate", "id", "", not_before=now().isoformat(), not_after=ends.isoformat()
    )
    waited: list[float] = []

    async def one_day(seconds: float) -> None:
        waited.append(seconds)
        if len(waited) > 2:
            raise asyncio.CancelledError

    with caplog.at_level(logging.WARNING), pytest.raises(asyncio.CancelledError):
        await warn_daily(lambda: [record], now, sleep=one_day)
    assert waited == [WARN_INTERVAL_S] * 3
    assert [r.getMessage()[:31] for r in caplog.records] == ["service key 's4' expires in 4 d"] * 2


def test_a_rotated_key_is_retiring_and_then_retired() -> None:
    start, end = now() - dt.timedelta(days=1), now() + dt.timedelta(days=100)
    record = KeyRecord(
        "old",
        "default",
        "certificate",
        "id",
        "",
        not_before=start.isoformat(),
        not_after=end.isoformat(),
        successor="new",
        retires=(now() + dt.timedelta(days=7)).isoformat(),
    )
    assert key_state(record, now()).status == "retiring"
    assert key_state(record, now()).days_left == 6
    assert key_state(record, now() + dt.timedelta(days=8)).status == "retired"
