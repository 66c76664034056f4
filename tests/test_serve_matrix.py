"""The issue-3 matrix: every way a sender can be accepted or refused, over real handshakes."""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import io
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cpimock.http import server as server_module
from cpimock.pki.authority import build_certificate
from cpimock.pki.keys import generate_key, now
from cpimock.pki.store import Pki
from cpimock.workspace.keys import revoke_record
from cpimock.workspace.registry import Registry
from tests.security.hostile import eventually
from tests.serving import KeyFiles, Running, serving, write_pem_pair

DEMO = "/http/clientCertAuth"


def name(cn: str) -> x509.Name:
    """A subject whose RFC 4514 form is ``CN=<cn>,O=T`` (most specific first, as real certificates)."""
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "T"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture
async def running(workspace: Path) -> AsyncIterator[Running]:
    async with serving(workspace, client_auth="required") as r:
        yield r


@pytest.fixture
async def optional(workspace: Path) -> AsyncIterator[Running]:
    async with serving(workspace, client_auth="optional") as r:
        yield r


async def post(
    running: Running, files: KeyFiles | None, path: str = DEMO, body: bytes | io.BytesIO = b"hello"
) -> tuple[int, str]:
    async with running.session(files) as session, session.post(running.url + path, data=body) as response:
        return response.status, await response.text()


async def refused_at_handshake(running: Running, ctx: ssl.SSLContext) -> str:
    """Connect with *ctx*, expect the TLS layer to refuse, return the reason the server recorded."""
    with pytest.raises((ssl.SSLError, ConnectionError, aiohttp.ClientError)):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
            async with session.post(running.url + DEMO, data=b"x") as response:
                await response.read()
    await running.server.settle()
    records = [r for r in await running.records() if r.refusal_stage == "tls"]
    assert records, "the refused handshake was not recorded"
    return records[-1].refusal_reason or ""


# --- accepted ----------------------------------------------------------------------------


async def test_valid_key_with_role_gets_200_and_an_mpl_id(running: Running) -> None:
    status, text = await post(running, running.extract("demo-sender"), body=b'{"name": "Ada"}')
    assert status == 200
    assert "Hello Ada" in text
    records = await running.records()
    assert [r.status for r in records] == ["COMPLETED"]
    assert records[0].service_key == "demo-sender"
    assert records[0].integration_flow_name == "clientCertAuth"


async def test_response_carries_the_message_processing_log_id(running: Running) -> None:
    async with running.session(running.extract("demo-sender")) as session:
        async with session.post(running.url + DEMO, data=b"x") as response:
            guid = response.headers["SAP_MessageProcessingLogID"]
    assert len(guid) == 28
    assert [r.message_guid for r in await running.records()] == [guid]


# --- refused at the handshake ----------------------------------------------------------------


async def test_no_certificate_is_refused_at_the_handshake_when_required(running: Running) -> None:
    reason = await refused_at_handshake(running, running.context())
    assert "no certificate" in reason


async def test_no_certificate_gets_401_when_optional(optional: Running) -> None:
    status, text = await post(optional, None)
    assert status == 401
    assert "no certificate and no credentials" in text


async def test_foreign_ca_is_refused(running: Running, tmp_path: Path) -> None:
    foreign, _ = Pki.ensure(tmp_path / "foreign", ["localhost"])
    files = write_pem_pair(tmp_path / "f", foreign.issue_client(name("demo-sender"), 30))
    reason = await refused_at_handshake(running, running.context(files))
    assert "trusted root" in reason or "does not trust" in reason


async def test_expired_certificate_is_refused(running: Running, pki: Pki, tmp_path: Path) -> None:
    issued = pki.issue_client(name("old"), 1, not_before=now() - dt.timedelta(days=10))
    reason = await refused_at_handshake(running, running.context(write_pem_pair(tmp_path, issued)))
    assert "expired" in reason


async def test_not_yet_valid_certificate_is_refused(running: Running, pki: Pki, tmp_path: Path) -> None:
    issued = pki.issue_client(name("early"), 30, not_before=now() + dt.timedelta(days=2))
    reason = await refused_at_handshake(running, running.context(write_pem_pair(tmp_path, issued)))
    assert "not yet valid" in reason


async def test_revoked_certificate_is_refused_after_reload(running: Running, workspace: Path) -> None:
    files = running.issue("soon-revoked")
    await running.reload()
    assert (await post(running, files))[0] == 200
    pki, registry = Pki.load(workspace / "certs"), Registry.load(workspace / "certs")
    revoke_record(pki, registry, registry.get("soon-revoked"))
    await running.reload()
    reason = await refused_at_handshake(running, running.context(files))
    assert "revoked" in reason


async def test_leaf_without_its_intermediate_is_refused(running: Running, pki: Pki, tmp_path: Path) -> None:
    files = write_pem_pair(tmp_path, pki.issue_client(name("lonely"), 30), chain=False)
    reason = await refused_at_handshake(running, running.context(files))
    assert "intermediate" in reason


async def test_server_auth_only_eku_is_refused(running: Running, pki: Pki, tmp_path: Path) -> None:
    key = generate_key()
    start = now() - dt.timedelta(minutes=1)
    cert = build_certificate(
        subject=name("server-only"),
        public_key=key.public_key(),
        issuer=pki.client_ca,
        not_before=start,
        not_after=start + dt.timedelta(days=30),
        eku=[ExtendedKeyUsageOID.SERVER_AUTH],
    )
    from cpimock.pki.authority import Issued

    files = write_pem_pair(tmp_path, Issued(cert, key, (pki.client_ca.cert, pki.root.cert)))
    reason = await refused_at_handshake(running, running.context(files))
    assert "client authentication" in reason


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
async def test_tls_1_1_client_is_refused(running: Running) -> None:
    ctx = running.context(running.extract("demo-sender"))
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    reason = await refused_at_handshake(running, ctx)
    assert "TLS 1.1 or older" in reason


async def test_tls_1_2_client_is_accepted(running: Running) -> None:
    ctx = running.context(running.extract("demo-sender"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        async with session.post(running.url + DEMO, data=b"x") as response:
            assert response.status == 200


# --- refused by the HTTP layer -----------------------------------------------------------


async def test_trusted_ca_but_no_service_key_gets_401(running: Running, pki: Pki, tmp_path: Path) -> None:
    files = write_pem_pair(tmp_path, pki.issue_client(name("stranger"), 30))
    status, text = await post(running, files)
    assert status == 401
    assert "belongs to no service key" in text


async def test_missing_role_gets_403(running: Running, workspace: Path) -> None:
    config = workspace / "cpimock.toml"
    config.write_text(config.read_text() + '\n[instances.reader]\nroles = ["MonitoringDataRead"]\n')
    files = running.issue("reader-key", "reader")
    await running.reload()
    status, text = await post(running, files)
    assert status == 403
    assert "lacks the role ESBMessaging.send" in text


async def test_dn_pair_mismatch_gets_403_and_a_listed_pair_gets_200(
    running: Running, workspace: Path, pki: Pki, tmp_path: Path
) -> None:
    listed = write_pem_pair(tmp_path / "ok", pki.issue_client(name("s4-client"), 30))
    other = write_pem_pair(tmp_path / "no", pki.issue_client(name("someone-else"), 30))
    config = workspace / "cpimock.toml"
    config.write_text(
        config.read_text()
        + '\n[[iflows]]\nid = "dnOnly"\naddress = "/dn"\nauthorization = "client-certificate"\ncsrf = false\n'
        + 'client_certificates = [{ subject = "CN=s4-client, O=T", issuer = '
        + '"CN=cpimock Client CA, OU=cpimock Clients, O=cpimock, L=local, C=DE" }]\n'
    )
    await running.reload()
    assert (await post(running, listed, "/http/dn"))[0] == 200
    status, text = await post(running, other, "/http/dn")
    assert status == 403
    assert "not contained in the accepted subjectAndIssuers list" in text
    assert "subject: cn=someone-else,o=t" in text


async def test_unknown_address_gets_404(running: Running) -> None:
    status, text = await post(running, running.extract("demo-sender"), "/http/nowhere")
    assert status == 404
    assert "/http/nowhere" in text


@pytest.mark.parametrize("path", ["/cxf/nowhere", "/nowhere", "/favicon.ico", "/http", "/cxf"])
async def test_a_path_no_iflow_serves_gets_a_404_that_is_logged_and_recorded(
    running: Running, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="cpimock.adapters.endpoint")
    async with running.session(running.extract("demo-sender")) as session, session.get(running.url + path) as answer:
        assert answer.status == 404
        assert f"no integration flow is deployed at {path}" in await answer.text()
        guid = answer.headers["Cpimock-Message-Id"]
    [record] = await running.records()
    assert (record.message_guid, record.refusal_stage, record.request_path) == (guid, "routing", path)
    assert (record.service_key, record.response_status) == ("demo-sender", 404)
    assert f"GET {path} from" in caplog.text


async def test_a_path_no_iflow_serves_asks_for_credentials_first(optional: Running) -> None:
    async with optional.session(None) as session, session.get(optional.url + "/nowhere") as answer:
        assert answer.status == 401
    [record] = await optional.records()
    assert (record.refusal_stage, record.request_path) == ("auth", "/nowhere")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/", 200), ("GET", "/token_keys", 200), ("GET", "/oauth/token", 405), ("POST", "/monitor", 405)],
)
async def test_the_tenants_own_routes_keep_their_answers_and_are_not_recorded(
    running: Running, method: str, path: str, status: int
) -> None:
    async with running.session(running.extract("demo-sender")) as session:
        async with session.request(method, running.url + path) as answer:
            assert answer.status == status
    assert await running.records() == []


async def test_stopped_iflow_gets_503(running: Running, workspace: Path) -> None:
    config = workspace / "cpimock.toml"
    config.write_text(config.read_text().replace("csrf = false", 'csrf = false\nstate = "stopped"', 1))
    await running.reload()
    status, text = await post(running, running.extract("demo-sender"))
    assert status == 503
    assert "not started" in text


async def test_addresses_are_case_insensitive_and_wildcards_fill_camel_http_path(
    running: Running, workspace: Path
) -> None:
    step = workspace / "iflows" / "path.py"
    step.write_text("def process(message):\n    message.body = message.headers['CamelHttpPath']\n    return message\n")
    config = workspace / "cpimock.toml"
    config.write_text(
        config.read_text() + '\n[[iflows]]\nid = "orders"\naddress = "/orders/*"\nsteps = ["iflows/path.py:process"]\n'
        "csrf = false\n"
    )
    await running.reload()
    files = running.extract("demo-sender")
    assert await post(running, files, "/http/ORDERS/4711/lines") == (200, "4711/lines")
    assert (await post(running, files, "/http/CLIENTCERTAUTH"))[0] == 200


async def test_body_over_the_limit_gets_413(running: Running, workspace: Path) -> None:
    config = workspace / "cpimock.toml"
    config.write_text(config.read_text().replace("csrf = false", "csrf = false\nmax_body_mb = 1", 1))
    await running.reload()
    status, text = await post(running, running.extract("demo-sender"), body=io.BytesIO(b"x" * (1024 * 1024 + 1)))
    assert status == 413
    assert "1 MB limit" in text


async def test_every_refusal_is_in_the_mpl_with_its_stage(running: Running) -> None:
    files = running.extract("demo-sender")
    await post(running, files, "/http/nowhere")
    await refused_at_handshake(running, running.context())
    stages = sorted(r.refusal_stage or "" for r in await running.records())
    assert stages == ["routing", "tls"]


async def test_open_connection_is_refused_after_a_reload_that_revokes_its_key(
    running: Running, workspace: Path
) -> None:
    files = running.issue("keep-alive")
    await running.reload()
    async with running.session(files) as session:
        async with session.post(running.url + DEMO, data=b"1") as response:
            assert response.status == 200
        pki, registry = Pki.load(workspace / "certs"), Registry.load(workspace / "certs")
        revoke_record(pki, registry, registry.get("keep-alive"))
        await running.reload()
        # the same keep-alive connection is refused from its next request on; a new handshake too
        async with session.post(running.url + DEMO, data=b"2") as response:
            assert response.status == 401
            assert "revoked" in await response.text()
    reason = await refused_at_handshake(running, running.context(files))
    assert "revoked" in reason


def call_on_a_new_connection(
    running: Running, ctx: ssl.SSLContext, session: ssl.SSLSession | None = None
) -> tuple[int, ssl.SSLSession | None, bool]:
    """POST to the demo iFlow on a new connection that offers *session* for resumption.

    Blocking (run it in a thread): status, the session the client holds afterwards, resumed?"""
    host, port = "127.0.0.1", int(running.url.rsplit(":", 1)[1])
    with socket.create_connection((host, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host, session=session) as tls:
            head = f"POST {DEMO} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1\r\nConnection: close\r\n\r\n"
            tls.sendall(head.encode() + b"x")
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
            return int(answer.split(b" ", 2)[1]), tls.session, tls.session_reused


@pytest.mark.parametrize(("version", "resumable"), [(ssl.TLSVersion.TLSv1_3, False), (ssl.TLSVersion.TLSv1_2, True)])
async def test_no_tls_session_outlives_a_revocation(
    running: Running, workspace: Path, version: ssl.TLSVersion, resumable: bool
) -> None:
    """No tickets: TLS 1.3 never resumes; TLS 1.2 resumes by session id until the next reload."""
    files = running.issue("returning")
    await running.reload()
    ctx = running.context(files)
    ctx.maximum_version = version
    status, session, _ = await asyncio.to_thread(call_on_a_new_connection, running, ctx)
    assert status == 200
    assert session is not None
    assert not session.has_ticket
    status, _, resumed = await asyncio.to_thread(call_on_a_new_connection, running, ctx, session)
    assert (status, resumed) == (200, resumable)
    # the session of a good handshake does not carry a certificate past its revocation
    pki, registry = Pki.load(workspace / "certs"), Registry.load(workspace / "certs")
    revoke_record(pki, registry, registry.get("returning"))
    await running.reload()
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await asyncio.to_thread(call_on_a_new_connection, running, ctx, session)
    await running.server.settle()
    assert "revoked" in [r for r in await running.records() if r.refusal_stage == "tls"][-1].refusal_reason


async def test_settle_returns_once_every_handshake_finished(running: Running) -> None:
    """A handshake task that finished stays in the server's set until its done callback runs; settle()
    must not spin on it (gather() of finished tasks does not yield on Python 3.13)."""
    finished = asyncio.ensure_future(asyncio.sleep(0))
    await finished
    running.server._handshakes.add(finished)  # as between a task's end and its done callback
    try:
        await asyncio.wait_for(running.server.settle(), 5)
    finally:
        running.server._handshakes.discard(finished)
    # and it still waits for one that has not finished
    slow = asyncio.ensure_future(asyncio.sleep(0.05))
    running.server._handshakes.add(slow)
    slow.add_done_callback(running.server._handshakes.discard)
    await running.server.settle()
    assert slow.done()


class _OutOfDescriptors:
    """A listening socket whose process runs out of file descriptors for its first *failing* accepts."""

    def __init__(self, real: socket.socket, failing: int) -> None:
        self.real = real
        self.failing = failing
        self.failures = 0

    def accept(self) -> tuple[socket.socket, object]:
        if self.failures < self.failing:
            self.failures += 1
            raise OSError(errno.EMFILE, "Too many open files")
        return self.real.accept()

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


async def test_running_out_of_descriptors_pauses_accepting_then_serves_who_waited(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    server = running.server
    real = server.running.listening
    assert real is not None
    flaky = _OutOfDescriptors(real, failing=1)
    server.running.listening = flaky  # type: ignore[assignment]
    try:
        status, _ = await post(running, running.extract("demo-sender"))
    finally:
        server.running.listening = real
    assert status == 200
    assert flaky.failures == 1
    warnings = [r.getMessage() for r in caplog.records if "cannot accept" in r.getMessage()]
    assert warnings == ["cannot accept connections: Too many open files; retrying"]


async def test_the_twin_stopping_while_accepting_is_paused_leaves_no_retry_behind(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "ACCEPT_BACKOFF_S", 30.0)  # the pause outlasts the test
    async with serving(workspace, client_auth="required") as running:
        server = running.server
        real = server.running.listening
        assert real is not None
        flaky = _OutOfDescriptors(real, failing=1_000_000)
        server.running.listening = flaky  # type: ignore[assignment]
        _, writer = await asyncio.open_connection(server.host, server.port)

        async def tried() -> bool:
            return flaky.failures > 0

        await eventually(tried, 5, "the server to try to accept")
        retry = server._retry_accept
        assert retry is not None  # paused, a retry pending
    assert retry.cancelled()
    assert server._retry_accept is None
    assert flaky.failures == 1  # one try, then the pause: no busy loop on a failing accept
    writer.close()


async def test_new_key_issued_while_running_is_picked_up_by_the_file_watcher(workspace: Path) -> None:
    async with serving(workspace, client_auth="required", watch=True) as running:
        generation = running.server.reloader.current.generation
        files = running.issue("late-comer")
        await running.server.reloader.wait_for_generation(generation + 1)
        assert (await post(running, files))[0] == 200


async def test_broken_config_on_reload_keeps_the_old_state(running: Running, workspace: Path) -> None:
    config = workspace / "cpimock.toml"
    config.write_text(config.read_text() + "\n[[iflows]]\nid = 'x'\naddress = 'no-slash'\n")
    assert not await running.server.reloader.reload("test")
    assert "iflows[3].address: 'no-slash' is not a CPI address" in (running.server.reloader.last_error or "")
    assert (await post(running, running.extract("demo-sender")))[0] == 200


async def test_concurrent_good_clients_are_served_while_bad_ones_are_refused(running: Running) -> None:
    good = running.extract("demo-sender")

    async def bad() -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", running.server.port)
            writer.write(b"\x16\x03\x01garbage" * 10)
            await writer.drain()
            await reader.read()
            writer.close()
        except OSError:
            pass

    results = await asyncio.gather(*(post(running, good) for _ in range(20)), *(bad() for _ in range(20)))
    assert [r[0] for r in results[:20] if r is not None] == [200] * 20
