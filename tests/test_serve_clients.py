"""`cpimock serve` driven by real clients: curl, openssl s_client, and the CLI as a process.

The clients call a test tenant of the public testing API (:class:`cpimock.testing.Tenant`) with
its keys' files, an expired key and a certificate from a throw-away CA for the rejecting twins.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cpimock.testing import Tenant, TenantKey, UntrustedKey

pytestmark = pytest.mark.clients
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


@pytest.fixture
async def tenant() -> AsyncIterator[Tenant]:
    async with Tenant(client_auth="required") as t:
        yield t


async def run(*argv: str, stdin: bytes = b"", cwd: Path | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=cwd
    )
    out, _ = await asyncio.wait_for(proc.communicate(stdin), 30)
    return proc.returncode or 0, out.decode(errors="replace")


Key = TenantKey | UntrustedKey


async def curl(tenant: Tenant, key: Key | None, *extra: str) -> tuple[int, str]:
    cert = ["--cert", str(key.cert_path), "--key", str(key.key_path)] if key else []
    return await run(
        "curl", "-sS", "-i", "--cacert", str(tenant.ca_path), *cert, *extra, f"{tenant.url}/http/clientCertAuth"
    )


async def s_client(tenant: Tenant, key: Key | None) -> tuple[int, str]:
    cert = ["-cert", str(key.cert_path), "-key", str(key.key_path), "-cert_chain", str(key.cert_path)] if key else []
    request = (
        b"POST /http/clientCertAuth HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    )
    return await run(
        "openssl",
        "s_client",
        "-connect",
        f"127.0.0.1:{tenant.port}",
        "-CAfile",
        str(tenant.ca_path),
        "-ign_eof",
        "-quiet",
        *cert,
        stdin=request,
    )


def expired(tenant: Tenant) -> TenantKey:
    """A key whose certificate expired a day ago."""
    return tenant.service_key("old", expired=True)


def foreign(tenant: Tenant) -> UntrustedKey:
    """A certificate from a CA the tenant does not trust."""
    return tenant.untrusted_key("intruder")


async def last_tls_reason(tenant: Tenant) -> str:
    await tenant.server.settle()
    return [r.refusal_reason or "" for r in tenant.messages() if r.refusal_stage == "tls"][-1]


@needs_curl
async def test_curl_with_the_demo_key_gets_the_greeting(tenant: Tenant) -> None:
    code, out = await curl(tenant, tenant.demo_key, "-H", "Content-Type: application/json", "-d", '{"name": "Ada"}')
    assert code == 0, out
    assert out.startswith("HTTP/1.1 200 OK")
    assert re.search(r"(?im)^SAP_MessageProcessingLogID: \S{28}\r?$", out)
    assert "Hello Ada" in out


@needs_curl
async def test_curl_waiting_for_100_continue_gets_it_then_the_answer(tenant: Tenant, tmp_path: Path) -> None:
    # curl asks before sending a large body (Java's HttpClient and SAP senders can too): the
    # interim 100 Continue must come, or the sender waits and then sends anyway, or gives up
    body = tmp_path / "big.json"
    body.write_text(json.dumps({"name": "Ada", "padding": "x" * 2_000_000}))
    code, out = await curl(
        tenant,
        tenant.demo_key,
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
async def test_the_twin_an_expectation_the_server_cannot_meet_gets_417(tenant: Tenant) -> None:
    code, out = await curl(tenant, tenant.demo_key, "-H", "Expect: 200-ok", "-d", "x")
    assert code == 0, out
    assert out.startswith("HTTP/1.1 417")


@needs_curl
async def test_curl_without_a_certificate_is_refused(tenant: Tenant) -> None:
    code, out = await curl(tenant, None, "-d", "x")
    assert code != 0
    assert "alert" in out.lower()
    assert "no certificate" in await last_tls_reason(tenant)


@needs_curl
async def test_curl_with_an_expired_certificate_is_refused(tenant: Tenant) -> None:
    code, out = await curl(tenant, expired(tenant), "-d", "x")
    assert code != 0
    assert "expired" in out.lower()
    assert "expired" in await last_tls_reason(tenant)


@needs_curl
async def test_curl_with_a_foreign_certificate_is_refused(tenant: Tenant) -> None:
    code, out = await curl(tenant, foreign(tenant), "-d", "x")
    assert code != 0
    assert "unknown ca" in out.lower()
    assert "trust" in await last_tls_reason(tenant)


@needs_openssl
async def test_openssl_s_client_with_the_demo_key_gets_200(tenant: Tenant) -> None:
    _, out = await s_client(tenant, tenant.demo_key)
    assert "HTTP/1.1 200 OK" in out, out


@needs_openssl
async def test_openssl_s_client_sees_the_ca_list_and_is_refused_without_a_certificate(tenant: Tenant) -> None:
    _, out = await run(
        "openssl",
        "s_client",
        "-connect",
        f"127.0.0.1:{tenant.port}",
        "-CAfile",
        str(tenant.ca_path),
        stdin=b"",
    )
    assert "Acceptable client certificate CA names" in out
    assert "CN = cpimock Local Root CA" in out
    _, out = await s_client(tenant, None)
    assert "certificate required" in out
    assert "no certificate" in await last_tls_reason(tenant)


@needs_openssl
async def test_openssl_s_client_with_an_expired_certificate_is_refused(tenant: Tenant) -> None:
    _, out = await s_client(tenant, expired(tenant))
    assert "certificate expired" in out
    assert "HTTP/1.1" not in out


@needs_openssl
async def test_openssl_s_client_with_a_foreign_certificate_is_refused(tenant: Tenant) -> None:
    _, out = await s_client(tenant, foreign(tenant))
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
