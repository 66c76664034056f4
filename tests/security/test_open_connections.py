"""A reload reaches connections that are already open: revocation, renewal, trust and listings.

Each test holds keep-alive connections (aiohttp with a pool of one connection, so every request
goes over the same TLS session: the client counts the connections it opened, the MPL shows one
peer), changes the workspace the way a user does (`cpimock servicekey revoke`/`renew`, editing
cpimock.toml), waits for the file watcher's reload, and calls again on the same connection. The
twin in each test is a connection whose certificate the change does not touch: it keeps getting
200 across the same reload.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner
from cryptography.x509.oid import ExtendedKeyUsageOID

from cpimock.cli import main
from cpimock.pki.authority import Issued, build_certificate
from cpimock.pki.keys import generate_key, now
from cpimock.pki.store import Pki

from ..serving import KeyFiles, Running, serving, write_pem_pair
from .hostile import DAY, client_context, dn
from .workspace_edits import add_dn_iflow, list_subject, partner_ca, trust_also

DEMO = "/http/clientCertAuth"


class KeptAlive:
    """One client holding one keep-alive connection to the server."""

    def __init__(self, running: Running, files: KeyFiles) -> None:
        self.url = running.url
        ctx = client_context(running.ca_path, files.cert, files.key)
        self.connections = 0  # TCP connections the client opened: one, whatever the answers
        tracing = aiohttp.TraceConfig()
        tracing.on_connection_create_end.append(self._opened)
        connector = aiohttp.TCPConnector(ssl=ctx, limit=1)
        self.session = aiohttp.ClientSession(connector=connector, trace_configs=[tracing])

    async def _opened(self, *_: object) -> None:
        self.connections += 1

    async def post(self, path: str = DEMO) -> tuple[int, str]:
        async with self.session.post(self.url + path, data=b'{"name": "Ada"}') as response:
            return response.status, await response.text()


@contextlib.asynccontextmanager
async def kept_alive(running: Running, *files: KeyFiles) -> AsyncIterator[list[KeptAlive]]:
    clients = [KeptAlive(running, f) for f in files]
    try:
        yield clients
    finally:
        for client in clients:
            await client.session.close()


@pytest.fixture
async def running(workspace: Path) -> AsyncIterator[Running]:
    async with serving(workspace, client_auth="required", watch=True) as r:
        yield r


async def reloaded(running: Running, generation: int) -> None:
    """Wait for the file watcher to load the workspace's change (generation *generation* + 1)."""
    await running.server.reloader.wait_for_generation(generation + 1, timeout=15)


def cpimock(*args: str) -> None:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", ["revoke", "renew"])
async def test_a_revoked_or_renewed_certificate_is_refused_on_its_open_connection(
    running: Running, workspace: Path, command: str
) -> None:
    changed, kept = running.issue("changed"), running.issue("kept")
    await running.reload()
    generation = running.server.snapshot.generation
    async with kept_alive(running, changed, kept) as (old, twin):
        assert (await old.post())[0] == 200
        assert (await twin.post())[0] == 200
        cpimock("servicekey", command, "changed", "--workspace", str(workspace))
        await reloaded(running, generation)
        status, text = await old.post()
        assert status == 401, text
        assert "revoked" in text
        assert (await twin.post())[0] == 200
        assert old.connections == twin.connections == 1
    records = await running.records()
    old_calls = [r for r in records if r.cert_subject == records[0].cert_subject]
    assert [r.response_status for r in old_calls] == [200, 401]
    assert len({r.peer for r in old_calls}) == 1, "the refusal came on the connection open before the reload"
    assert old_calls[1].refusal_stage == "auth"
    assert "revoked" in (old_calls[1].refusal_reason or "")


async def test_a_removed_trust_bundle_refuses_its_certificates_on_open_connections(
    workspace: Path, tmp_path: Path
) -> None:
    partner, bundle = partner_ca(tmp_path)
    trust_also(workspace, bundle)
    key = generate_key()
    start = now() - DAY
    cert = build_certificate(subject=dn("acme-sender"), public_key=key.public_key(), issuer=partner,
                             not_before=start, not_after=start + 30 * DAY,
                             eku=[ExtendedKeyUsageOID.CLIENT_AUTH])  # fmt: skip
    files = write_pem_pair(tmp_path / "acme", Issued(cert, key, (partner.cert,)))
    list_subject(workspace, cert.subject, cert.issuer)
    dn_mode = add_dn_iflow(workspace, "/dnMode", cert.subject, cert.issuer)  # lists the same certificate
    async with serving(workspace, client_auth="required", watch=True) as running:
        generation = running.server.snapshot.generation
        async with kept_alive(running, files, running.extract("demo-sender")) as (acme, twin):
            assert (await acme.post())[0] == 200
            assert (await acme.post(dn_mode))[0] == 200
            assert (await twin.post())[0] == 200
            config = workspace / "cpimock.toml"
            config.write_text(config.read_text().replace('trust = ["certs/extra-0.pem"]', "", 1))
            await reloaded(running, generation)
            assert running.server.snapshot.config.server.trust == ()
            for path in (DEMO, dn_mode):  # as final as a revocation: the DN list does not let it in
                status, text = await acme.post(path)
                assert status == 401, text
                assert "no longer trusted" in text
            assert (await twin.post())[0] == 200
            assert acme.connections == twin.connections == 1


async def test_a_removed_subjects_entry_refuses_the_listed_certificate_on_its_open_connection(
    running: Running, workspace: Path, tmp_path: Path
) -> None:
    listed = Pki.load(workspace / "certs").issue_client(dn("listed-sender"), 30)
    list_subject(workspace, listed.cert.subject, listed.cert.issuer)
    await running.reload()
    generation = running.server.snapshot.generation
    files = write_pem_pair(tmp_path / "listed", listed)
    async with kept_alive(running, files, running.extract("demo-sender")) as (old, twin):
        assert (await old.post())[0] == 200
        assert (await twin.post())[0] == 200
        config = workspace / "cpimock.toml"
        config.write_text(config.read_text().replace("\nsubjects = [", "\n# subjects = [", 1))
        await reloaded(running, generation)
        assert running.server.snapshot.config.instances["default"].subjects == ()
        status, text = await old.post()
        assert status == 401, text
        assert "listed under no service instance" in text
        assert (await twin.post())[0] == 200
        assert old.connections == twin.connections == 1
