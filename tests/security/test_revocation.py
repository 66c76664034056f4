"""Revocation with a trust bundle, over real handshakes: fail closed for the workspace's own
certificates, and stay out of a partner CA's business.

With ``[server] trust`` set, OpenSSL does not check ``certs/crl.pem`` (the partner's CA
publishes no CRL here). The server then checks the workspace's certificates itself: a CRL
that is missing, expired, not yet valid or not signed by its CA cannot vouch for them, so
they are refused with the problem and the fix, and the log says so once per reload. A
partner's certificate whose serial equals a revoked workspace serial is served.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from cpimock.cli import main
from cpimock.pki.authority import Authority
from cpimock.pki.keys import now
from cpimock.pki.servicekey import read_service_key
from cpimock.pki.store import Pki
from cpimock.workspace.keys import revoke_record
from cpimock.workspace.registry import Registry
from cpimock.workspace.revocation import WorkspaceRevocation

from ..serving import KeyFiles, Running, serving
from .hostile import DAY, Presented, attempt, client_context, crl_pem, dn, forge, reasons_for, record_of, rsa_key
from .workspace_edits import add_dn_iflow, list_subject, partner_ca, trust_also

# each broken CRL file: the CRLs it holds (None: no file) and what the refusal must name
BROKEN: dict[str, tuple[Callable[[Pki], list[bytes] | None], str]] = {
    "client CA's CRL expired": (
        lambda pki: [crl_pem(pki.client_ca, last_update=now() - 60 * DAY, next_update=now() - DAY), crl_pem(pki.root)],
        "the client CA's CRL expired on",
    ),
    "client CA's CRL not yet valid": (
        lambda pki: [crl_pem(pki.client_ca, last_update=now() + DAY), crl_pem(pki.root)],
        "the client CA's CRL is valid only from",
    ),
    "client CA's CRL signed by another key": (
        lambda pki: [crl_pem(pki.client_ca, signer=rsa_key()), crl_pem(pki.root)],
        "a CRL in the name of the client CA that the client CA's key did not sign",
    ),
    "root CA's CRL expired": (
        lambda pki: [crl_pem(pki.client_ca), crl_pem(pki.root, last_update=now() - 60 * DAY, next_update=now() - DAY)],
        "the root CA's CRL expired on",
    ),
    "no CRL of the root CA": (lambda pki: [crl_pem(pki.client_ca)], "holds no CRL of the root CA"),
    "crl.pem missing": (lambda pki: None, "crl.pem is missing"),
}


def _write_crls(pki: Pki, crls: list[bytes] | None) -> None:
    if crls is None:
        pki.crl_path.unlink()
    else:
        pki.crl_path.write_bytes(b"".join(crls))


def _partner_leaf(acme: Authority, cn: str, serial: int | None = None) -> Presented:
    key = rsa_key()
    cert = forge(
        subject=dn(cn), public_key=key.public_key(), issuer_name=acme.cert.subject, signer=acme.key, serial=serial
    )
    return Presented((cert,), key)


async def _call(
    running: Running, tmp: Path, who: Presented | KeyFiles, path: str = "/http/clientCertAuth", folder: str = "x"
) -> tuple[int | None, str | None]:
    if isinstance(who, Presented):
        cert, key = who.write(tmp / folder)
        ctx = client_context(running.ca_path, cert, key)
    else:
        ctx = running.context(who)
    outcome = await attempt(running.url, ctx, path)
    rec = await record_of(running.records, outcome)
    return outcome.status, rec.refusal_reason


@pytest.mark.parametrize("case", BROKEN)
async def test_workspace_certificates_are_refused_while_the_crl_cannot_vouch_for_them(
    case: str, workspace: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make, problem = BROKEN[case]
    acme, bundle = partner_ca(tmp_path)
    trust_also(workspace, bundle)
    partner = _partner_leaf(acme, "s4.acme.example")
    list_subject(workspace, partner.chain[0].subject, acme.cert.subject)
    demo_cert = read_service_key(workspace / "certs" / "keys" / "demo-sender.json").certificates[0]
    dn_mode = add_dn_iflow(workspace, "/dnMode", demo_cert.subject, demo_cert.issuer)
    pki = Pki.load(workspace / "certs")
    caplog.set_level(logging.WARNING, logger="cpimock.workspace.revocation")
    async with serving(workspace) as running:
        assert not running.server.snapshot.crl_by_openssl
        demo = running.extract("demo-sender")
        # the twins: a valid CRL vouches for the workspace's key, in both authorization modes
        assert (await _call(running, tmp_path, demo))[0] == 200
        assert (await _call(running, tmp_path, demo, dn_mode))[0] == 200
        _write_crls(pki, make(pki))
        await running.reload()
        for path in ("/http/clientCertAuth", dn_mode):
            status, reason = await _call(running, tmp_path, demo, path)
            assert status == 401, (path, reason)
            assert "revocation of certificate" in (reason or "")
            assert "cannot be checked" in (reason or "")
            assert problem in (reason or ""), reason
            assert "`cpimock certs crl`" in (reason or "")
        # a partner's certificate is none of the workspace CRL's business
        assert (await _call(running, tmp_path, partner, folder="partner"))[0] == 200
        warnings = [r.getMessage() for r in caplog.records if r.name == "cpimock.workspace.revocation"]
        assert len(warnings) == 1, warnings  # once per reload, not once per refusal
        assert problem in warnings[0]
        assert "`cpimock certs crl`" in warnings[0]
        # the fix the reason names: the CRL is signed anew and the key is served again
        result = CliRunner().invoke(main, ["certs", "crl", "--workspace", str(workspace)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "crl.pem anew" in result.output
        await running.reload()
        assert (await _call(running, tmp_path, demo))[0] == 200
    assert len([r for r in caplog.records if r.name == "cpimock.workspace.revocation"]) == 1


async def test_a_second_reload_with_the_crl_still_broken_says_so_again(
    workspace: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, bundle = partner_ca(tmp_path)
    trust_also(workspace, bundle)
    pki = Pki.load(workspace / "certs")
    _write_crls(pki, [crl_pem(pki.client_ca, last_update=now() - 60 * DAY, next_update=now() - DAY), crl_pem(pki.root)])
    caplog.set_level(logging.WARNING, logger="cpimock.workspace.revocation")
    async with serving(workspace) as running:
        demo = running.extract("demo-sender")
        for _ in range(3):
            assert (await _call(running, tmp_path, demo))[0] == 401
        assert len([r for r in caplog.records if r.name == "cpimock.workspace.revocation"]) == 1  # at start
        await running.reload()
        assert (await _call(running, tmp_path, demo))[0] == 401
        assert len([r for r in caplog.records if r.name == "cpimock.workspace.revocation"]) == 2


async def test_a_partner_certificate_with_a_revoked_workspace_serial_is_served(workspace: Path, tmp_path: Path) -> None:
    acme, bundle = partner_ca(tmp_path)
    trust_also(workspace, bundle)
    pki, registry = Pki.load(workspace / "certs"), Registry.load(workspace / "certs")
    demo = registry.get("demo-sender")
    assert demo.serial is not None
    revoke_record(pki, registry, demo)
    partner = _partner_leaf(acme, "s4.acme.example", serial=int(demo.serial, 16))
    list_subject(workspace, partner.chain[0].subject, acme.cert.subject)
    async with serving(workspace) as running:
        status, reason = await _call(running, tmp_path, partner, folder="partner")
        assert status == 200, reason
        # the twin: the revoked workspace certificate with that serial stays refused
        status, reason = await _call(running, tmp_path, running.extract("demo-sender"), folder="demo")
        assert status == 401
        assert "revoked" in (reason or "")


async def test_an_expired_crl_fails_the_handshake_when_openssl_checks_it(workspace: Path) -> None:
    """Without a trust bundle OpenSSL checks the CRL itself, and says what is wrong with it."""
    pki = Pki.load(workspace / "certs")
    async with serving(workspace) as running:
        assert running.server.snapshot.crl_by_openssl
        demo = running.extract("demo-sender")
        assert (await attempt(running.url, running.context(demo))).status == 200
        _write_crls(
            pki, [crl_pem(pki.client_ca, last_update=now() - 60 * DAY, next_update=now() - DAY), crl_pem(pki.root)]
        )
        await running.reload()
        outcome = await attempt(running.url, running.context(demo))
        assert outcome.status is None
        rec = await record_of(running.records, outcome)
        assert rec.refusal_stage == "tls"
        assert rec.refusal_reason in reasons_for("crl-invalid"), (rec.refusal_reason, rec.error)


def test_init_rebuilds_a_lost_crl_with_the_revoked_keys(workspace: Path) -> None:
    pki, registry = Pki.load(workspace / "certs"), Registry.load(workspace / "certs")
    demo = registry.get("demo-sender")
    revoke_record(pki, registry, demo)
    pki.crl_path.unlink()
    result = CliRunner().invoke(main, ["init", str(workspace)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert demo.serial is not None
    assert int(demo.serial, 16) in Pki.load(workspace / "certs").revoked_serials()


def test_the_client_ca_revoked_in_the_roots_crl_revokes_its_certificates(pki: Pki) -> None:
    issued = pki.issue_client(dn("listed-sender"), 30)
    assert WorkspaceRevocation.load(pki).refusal(issued.cert, "a") is None
    _write_crls(pki, [crl_pem(pki.client_ca), crl_pem(pki.root, [pki.client_ca.cert.serial_number])])
    reason = WorkspaceRevocation.load(pki).refusal(issued.cert, "a")
    assert reason == "the workspace's client CA is revoked in the root CA's CRL"


def test_a_crl_that_expires_while_the_server_runs_cannot_vouch_from_then_on(pki: Pki) -> None:
    revocation = WorkspaceRevocation.load(pki)
    assert revocation.problem() is None
    later = now() + 11 * 365 * DAY  # cpimock signs its CRLs for ten years
    assert "the client CA's CRL expired on" in (revocation.problem(at=later) or "")
