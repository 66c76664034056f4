"""Faults inside the server's process: misbehaving steps, broken files while running, a full disk."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..serving import Running, serving
from .hostile import attempt, client_context, eventually
from .proc import set_option

STEPS = """
import pathlib, time

RELEASE = pathlib.Path(__file__).with_name("release")
kept = []


def block(message):
    deadline = time.monotonic() + 120
    while not RELEASE.exists() and time.monotonic() < deadline:  # "forever", until the test ends
        time.sleep(0.05)
    return message


def leak(message):
    kept.append(bytearray(16 << 20))  # 16 MiB that are never given back
    message.body = b"leaked %d" % len(kept)
    return message
"""


def add_iflow(root: Path, iflow_id: str, step: str, *, timeout_s: float | None = None) -> None:
    extra = f"timeout_s = {timeout_s}\n" if timeout_s else ""
    with (root / "cpimock.toml").open("a") as config:
        config.write(
            f'\n[[iflows]]\nid = "{iflow_id}"\naddress = "/{iflow_id}"\nsteps = ["iflows/faults.py:{step}"]\n'
            f"csrf = false\n{extra}"
        )


@pytest.fixture
def faulty(workspace: Path) -> Path:
    (workspace / "iflows" / "faults.py").write_text(STEPS)
    add_iflow(workspace, "blocks", "block", timeout_s=1)
    add_iflow(workspace, "leaks", "leak")
    return workspace


async def call(running: Running, path: str) -> int | None:
    files = running.extract("demo-sender")  # trusts the extracted ca.pem: root-ca.pem may be garbage
    outcome = await attempt(running.url, client_context(files.ca, files.cert, files.key), path, timeout=30)
    return outcome.status


async def test_a_step_that_blocks_its_thread_times_out_and_others_are_served(faulty: Path) -> None:
    async with serving(faulty) as running:
        started = time.monotonic()
        blocked = [asyncio.create_task(call(running, "/http/blocks")) for _ in range(4)]
        # while four threads hang, the demo iFlow answers
        for _ in range(5):
            assert await call(running, "/http/clientCertAuth") == 200
        assert await asyncio.gather(*blocked) == [500] * 4
        assert time.monotonic() - started < 1 + 10  # the iFlow's timeout_s plus scheduling slack
        failed = [r for r in await running.records() if r.integration_flow_name == "blocks"]
        assert len(failed) == 4
        assert all(r.status == "FAILED" and "timeout" in (r.error or "") for r in failed)
        (faulty / "iflows" / "release").touch()


async def test_a_step_that_leaks_memory_does_not_stop_the_server(faulty: Path) -> None:
    async with serving(faulty) as running:
        for _ in range(5):
            outcome = await attempt(running.url, running.context(running.extract("demo-sender")), "/http/leaks")
            assert outcome.status == 200
            assert await call(running, "/http/clientCertAuth") == 200
        records = [r for r in await running.records() if r.integration_flow_name == "leaks"]
        assert [r.response_body for r in records] == [b"leaked %d" % i for i in range(1, 6)]


# --- broken files while running -------------------------------------------------------------

GARBAGE = b"\x00\xff garbage \x89PNG\r\n\x1a\n" * 40


@pytest.mark.parametrize(
    "name",
    [
        "cpimock.toml",
        "certs/server.pem",
        "certs/server.key",
        "certs/crl.pem",
        "certs/registry.json",
        "certs/root-ca.pem",
    ],
)
async def test_a_file_replaced_by_garbage_keeps_the_old_state_and_says_why(
    workspace: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    path = workspace / name
    original = path.read_bytes()
    async with serving(workspace) as running:
        generation = running.server.snapshot.generation
        path.write_bytes(GARBAGE)
        assert await running.server.reloader.reload("test") is False
        error = running.server.reloader.last_error or ""
        assert "still serving the previous state" in error
        assert path.name in error or name.split("/")[-1] in error or "cpimock.toml" in error, error
        assert any("still serving the previous state" in r.getMessage() for r in caplog.records)
        assert running.server.snapshot.generation == generation
        assert await call(running, "/http/clientCertAuth") == 200  # the old state serves
        path.write_bytes(original)
        assert await running.server.reloader.reload("test") is True
        assert await call(running, "/http/clientCertAuth") == 200


async def test_the_watcher_keeps_serving_through_a_garbage_config(workspace: Path) -> None:
    async with serving(workspace, watch=True) as running:
        reloader = running.server.reloader
        (workspace / "cpimock.toml").write_bytes(GARBAGE)

        async def noticed() -> bool:
            return reloader.last_error is not None

        await eventually(noticed, 10, "the watcher to notice the broken cpimock.toml")
        assert "cpimock.toml" in (reloader.last_error or "")
        assert await call(running, "/http/clientCertAuth") == 200


# --- a full disk for the MPL -----------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs (needs root and mount); skipped where it cannot be made."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
async def test_a_full_disk_for_the_mpl_still_answers_every_sender(workspace: Path, small_disk: Path) -> None:
    root = small_disk / "ws"
    shutil.copytree(workspace, root)
    set_option(root, "journal", "body_cap_bytes = 262144")
    body = os.urandom(200_000)  # incompressible, so each record costs its size on disk
    async with serving(root) as running:
        ctx = running.context(running.extract("demo-sender"))
        statuses = []
        for _ in range(30):  # far more than 3 MiB of MPL
            statuses.append(await _post(running, ctx, body))
        assert statuses == [200] * 30
        journal = running.server.journal
        assert journal is not None
        # every sender was answered; the writer, given more than the disk holds, is stuck on it
        # (it may not have reached the full disk by the time the last answer went out)
        written = await asyncio.to_thread(journal.flush, 3.0)
        assert not written
        assert journal.behind or journal.dropped > 0
        # free the disk: the log catches up with what it still holds
        for filler in root.glob("extracted/**/*"):
            if filler.is_file():
                filler.unlink()
    # the store is readable and consistent after a full disk
    with contextlib.closing(sqlite3.connect(root / "cpimock.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def _post(running: Running, ctx: object, body: bytes) -> int:
    import aiohttp

    connector = aiohttp.TCPConnector(ssl=ctx, force_close=True)  # type: ignore[arg-type]
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(
            f"{running.url}/http/clientCertAuth", data=body, headers={"Content-Type": "application/octet-stream"}
        ) as response,
    ):
        await response.read()
        return response.status
