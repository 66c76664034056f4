"""`cpimock serve` driven by real clients: curl, openssl s_client, and the CLI as a process."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cpimock.pki.keys import now
from cpimock.pki.store import Pki
from tests.serving import KeyFiles, Running, serving, write_pem_pair
from tests.test_serve_matrix import name

pytestmark = pytest.mark.clients
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


@pytest.fixture
async def running(workspace: Path) -> AsyncIterator[Running]:
    async with serving(workspace, client_auth="required") as r:
        yield r


async def run(*argv: str, stdin: bytes = b"", cwd: Path | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=cwd
    )
    out, _ = await asyncio.wait_for(proc.communicate(stdin), 30)
    return proc.returncode or 0, out.decode(errors="replace")


async def curl(running: Running, files: KeyFiles | None, *extra: str) -> tuple[int, str]:
    cert = ["--cert", str(files.cert), "--key", str(files.key)] if files else []
    return await run(
        "curl", "-sS", "-i", "--cacert", str(running.ca_path), *cert, *extra, f"{running.url}/http/clientCertAuth"
    )


async def s_client(running: Running, files: KeyFiles | None) -> tuple[int, str]:
    cert = ["-cert", str(files.cert), "-key", str(files.key), "-cert_chain", str(files.cert)] if files else []
    request = (
        b"POST /http/clientCertAuth HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    )
    return await run(
        "openssl",
        "s_client",
        "-connect",
        f"127.0.0.1:{running.server.port}",
        "-CAfile",
        str(running.ca_path),
        "-ign_eof",
        "-quiet",
        *cert,
        stdin=request,
    )


def expired(pki: Pki, folder: Path) -> KeyFiles:
    return write_pem_pair(folder, pki.issue_client(name("old"), 1, not_before=now() - dt.timedelta(days=5)))


def foreign(tmp_path: Path) -> KeyFiles:
    other, _ = Pki.ensure(tmp_path / "foreign", ["localhost"])
    return write_pem_pair(tmp_path / "f", other.issue_client(name("intruder"), 30))


async def last_tls_reason(running: Running) -> str:
    await running.server.settle()
    return [r.refusal_reason or "" for r in await running.records() if r.refusal_stage == "tls"][-1]


@needs_curl
async def test_curl_with_the_demo_key_gets_the_greeting(running: Running) -> None:
    code, out = await curl(
        running, running.extract("demo-sender"), "-H", "Content-Type: application/json", "-d", '{"name": "Ada"}'
    )
    assert code == 0, out
    assert out.startswith("HTTP/1.1 200 OK")
    assert re.search(r"(?im)^SAP_MessageProcessingLogID: \S{28}\r?$", out)
    assert "Hello Ada" in out


@needs_curl
async def test_curl_waiting_for_100_continue_gets_it_then_the_answer(running: Running, tmp_path: Path) -> None:
    # curl asks before sending a large body (Java's HttpClient and SAP senders can too): the
    # interim 100 Continue must come, or the sender waits and then sends anyway, or gives up
    body = tmp_path / "big.json"
    body.write_text(json.dumps({"name": "Ada", "padding": "x" * 2_000_000}))
    code, out = await curl(
        running,
        running.extract("demo-sender"),
        "-H",
        "Content-Type: application/json",
        "-H",
        "Expect: 100-continue",
        "--expect100-timeout",
        "30",
        "--data-binary",
        f"@{body}",
    )
    assert code == 0, out[:500]
    assert out.startswith("HTTP/1.1 100 Continue")
    assert re.search(r"(?m)^HTTP/1.1 200 OK", out)
    assert "Hello Ada" in out


@needs_curl
async def test_the_twin_an_expectation_the_server_cannot_meet_gets_417(running: Running) -> None:
    code, out = await curl(running, running.extract("demo-sender"), "-H", "Expect: 200-ok", "-d", "x")
    assert code == 0, out
    assert out.startswith("HTTP/1.1 417")


@needs_curl
async def test_curl_without_a_certificate_is_refused(running: Running) -> None:
    code, out = await curl(running, None, "-d", "x")
    assert code != 0
    assert "alert" in out.lower()
    assert "no certificate" in await last_tls_reason(running)


@needs_curl
async def test_curl_with_an_expired_certificate_is_refused(running: Running, pki: Pki, tmp_path: Path) -> None:
    code, out = await curl(running, expired(pki, tmp_path), "-d", "x")
    assert code != 0
    assert "expired" in out.lower()
    assert "expired" in await last_tls_reason(running)


@needs_curl
async def test_curl_with_a_foreign_certificate_is_refused(running: Running, tmp_path: Path) -> None:
    code, out = await curl(running, foreign(tmp_path), "-d", "x")
    assert code != 0
    assert "unknown ca" in out.lower()
    assert "trust" in await last_tls_reason(running)


@needs_openssl
async def test_openssl_s_client_with_the_demo_key_gets_200(running: Running) -> None:
    _, out = await s_client(running, running.extract("demo-sender"))
    assert "HTTP/1.1 200 OK" in out, out


@needs_openssl
async def test_openssl_s_client_sees_the_ca_list_and_is_refused_without_a_certificate(running: Running) -> None:
    _, out = await run(
        "openssl",
        "s_client",
        "-connect",
        f"127.0.0.1:{running.server.port}",
        "-CAfile",
        str(running.ca_path),
        stdin=b"",
    )
    assert "Acceptable client certificate CA names" in out
    assert "CN = cpimock Local Root CA" in out
    _, out = await s_client(running, None)
    assert "certificate required" in out
    assert "no certificate" in await last_tls_reason(running)


@needs_openssl
async def test_openssl_s_client_with_an_expired_certificate_is_refused(
    running: Running, pki: Pki, tmp_path: Path
) -> None:
    _, out = await s_client(running, expired(pki, tmp_path))
    assert "certificate expired" in out
    assert "HTTP/1.1" not in out


@needs_openssl
async def test_openssl_s_client_with_a_foreign_certificate_is_refused(running: Running, tmp_path: Path) -> None:
    _, out = await s_client(running, foreign(tmp_path))
    assert "unknown ca" in out
    assert "HTTP/1.1" not in out


async def test_cpimock_serve_in_an_empty_folder_prints_the_curl_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cpimock",
        "serve",
        "--port",
        "0",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    banner = ""
    try:
        async with asyncio.timeout(30):
            while "Press Ctrl-C" not in banner:
                line = await proc.stdout.readline()
                assert line, f"serve exited early: {banner}"
                banner += line.decode()
        assert "creating a workspace there" in banner
        assert "/cxf/idoc/orders       idocOrders (IDoc, ESBMessaging.send)" in banner
        assert "/cxf/demo/echo         soapEcho (SOAP 1.x, ESBMessaging.send)" in banner
        json_line, idoc_line = (line.strip() for line in banner.splitlines() if line.strip().startswith("curl "))
        if shutil.which("curl"):
            code, out = await run(*_split(json_line), "-sS", cwd=tmp_path)
            assert code == 0
            assert "Hello Ada" in out
            code, out = await run(*_split(idoc_line), "-sS", "-w", "%{http_code}", cwd=tmp_path)
            assert (code, out) == (0, "200")
            listed = await run(sys.executable, "-m", "cpimock", "messages", "--iflow", "idocOrders", cwd=tmp_path)
            assert "ORDERS05 0000000000471101 · POST /cxf/idoc/orders" in listed[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    assert "stopped" in err.decode()


def _split(line: str) -> list[str]:
    import shlex

    return shlex.split(line)
