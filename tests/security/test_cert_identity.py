"""Certificates that pass the handshake's chain check but must not become someone they are not.

Right subject with the wrong key (the attacker has the certificate, not its key), a second
certificate with a valid key's subject, a certificate from another tenant's CA when two trust
bundles are configured, a pinned external certificate replaced by one with the same DNs, and
revocation when OpenSSL's CRL check is off (extra trust bundles switch it off).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cpimock.pki.authority import CLIENT_CA_NAME, ROOT_CA_NAME, Authority, Issued
from cpimock.pki.keys import cert_to_pem, now
from cpimock.pki.store import Pki
from cpimock.workspace.create import ensure_workspace, load_workspace
from cpimock.workspace.keys import issue_service_key
from cpimock.workspace.registry import Registry

from ..serving import Running, serving, write_pem_pair
from .hostile import DAY, Presented, attempt, client_context, dn, forge, reasons_for, record_of, rsa_key
from .workspace_edits import add_dn_iflow, list_subject, partner_ca, trust_also

# --- right subject, wrong key ------------------------------------------------------------


def _tlslite_handshake(port: int, chain_pem: str, key_pem: str) -> tuple[int, str]:
    """A TLS client that signs its CertificateVerify with whatever key it is given."""
    from tlslite import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey  # type: ignore[import-untyped]
    from tlslite.errors import TLSError  # type: ignore[import-untyped]

    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    local = sock.getsockname()[1]
    conn = TLSConnection(sock)
    chain = X509CertChain()
    chain.parsePemList(chain_pem)
    settings = HandshakeSettings()
    settings.maxVersion = (3, 3)  # TLS 1.2: the server's verdict arrives during the handshake
    try:
        conn.handshakeClientCert(chain, parsePEMKey(key_pem, private=True), settings=settings, serverName="localhost")
        conn.write(b"GET /http/clientCertAuth HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answer = conn.read(max=200)
        return local, f"answered: {answer[:40]!r}"
    except (TLSError, OSError) as exc:
        return local, f"refused: {type(exc).__name__} {exc}"
    finally:
        sock.close()


async def test_right_certificate_with_the_wrong_key_fails_the_handshake(workspace: Path) -> None:
    pytest.importorskip("tlslite")
    async with serving(workspace) as running:
        files = running.extract("demo-sender")
        wrong = rsa_key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        port = running.server.port
        local, outcome = await asyncio.to_thread(_tlslite_handshake, port, files.cert.read_text(), wrong.decode())
        assert outcome.startswith("refused"), outcome
        rec = await record_of(running.records, f"127.0.0.1:{local}")
        assert rec.refusal_stage == "tls"
        assert rec.refusal_reason in reasons_for("bad-key"), (rec.refusal_reason, rec.error)
        # the twin: the same client with the right key is served
        local, outcome = await asyncio.to_thread(
            _tlslite_handshake, port, files.cert.read_text(), files.key.read_text()
        )
        assert outcome.startswith("answered: b'HTTP/1.1 405") or outcome.startswith("answered: b'HTTP/1.1 200"), outcome


async def test_a_second_certificate_with_a_valid_keys_subject_maps_to_no_key(workspace: Path, tmp_path: Path) -> None:
    """Same subject, own key, issued by the very same CA: identity follows the fingerprint, not the DN."""
    async with serving(workspace) as running:
        demo = x509.load_pem_x509_certificate(running.extract("demo-sender").cert.read_bytes())
        twin = Pki.load(workspace / "certs").issue_client(demo.subject, 30)
        files = write_pem_pair(tmp_path / "twin", twin)
        outcome = await attempt(running.url, client_context(running.ca_path, files.cert, files.key))
        assert outcome.status == 401
        rec = await record_of(running.records, outcome)
        assert rec.refusal_stage == "auth"
        assert "belongs to no service key" in (rec.refusal_reason or "")
        assert rec.service_key is None
        assert rec.instance is None
        good = await attempt(running.url, running.context(running.extract("demo-sender")))
        assert good.status == 200


# --- two trust bundles ----------------------------------------------------------------------


@pytest.fixture
def other_tenant(tmp_path: Path) -> Path:
    """A second cpimock workspace: its CAs carry the very same names as ours."""
    root = tmp_path / "other"
    ensure_workspace(root)
    return root


async def test_another_tenants_certificate_does_not_map_onto_our_keys(
    workspace: Path, other_tenant: Path, tmp_path: Path
) -> None:
    trust_also(workspace, other_tenant / "certs" / "root-ca.pem")
    theirs = Pki.load(other_tenant / "certs")
    async with serving(workspace) as running:
        ours = running.extract("demo-sender")
        demo = x509.load_pem_x509_certificate(ours.cert.read_bytes())
        # their CA issues a certificate with our key's subject; both client CAs share one DN
        assert theirs.client_ca.cert.subject == demo.issuer == CLIENT_CA_NAME
        forged = write_pem_pair(tmp_path / "theirs", theirs.issue_client(demo.subject, 30))
        ctx = client_context(running.ca_path, forged.cert, forged.key)
        outcome = await attempt(running.url, ctx)
        assert outcome.status == 401, outcome
        rec = await record_of(running.records, outcome)
        assert rec.refusal_stage == "auth"
        assert rec.service_key is None
        assert rec.instance is None
        assert "belongs to no service key" in (rec.refusal_reason or "")
        # their own demo key is theirs: trusted at the handshake, unknown here
        their_demo = write_pem_pair(tmp_path / "their-demo", _issued_of(other_tenant))
        outcome = await attempt(running.url, client_context(running.ca_path, their_demo.cert, their_demo.key))
        assert outcome.status == 401
        # the twin: our own key still works with two bundles configured
        assert (await attempt(running.url, running.context(ours))).status == 200


def _issued_of(root: Path) -> Issued:
    from cpimock.pki.servicekey import read_service_key

    key = read_service_key(root / "certs" / "keys" / "demo-sender.json")
    return Issued(key.certificates[0], key.key, tuple(key.certificates[1:]))


async def test_a_fake_intermediate_without_crl_checks_fails_on_its_signature(workspace: Path, tmp_path: Path) -> None:
    """With an extra bundle OpenSSL's CRL check is off; the look-alike CA then fails on its signature."""
    _, bundle = partner_ca(tmp_path)
    trust_also(workspace, bundle)
    pki = Pki.load(workspace / "certs")
    fake_key = rsa_key()
    fake_ca = forge(
        subject=CLIENT_CA_NAME,
        public_key=fake_key.public_key(),
        issuer_name=ROOT_CA_NAME,
        signer=fake_key,
        aki_from=pki.root.key.public_key(),
        ca=True,
        eku=None,
    )  # type: ignore[arg-type]
    leaf_key = rsa_key()
    leaf = forge(
        subject=dn("demo-sender"), public_key=leaf_key.public_key(), issuer_name=CLIENT_CA_NAME, signer=fake_key
    )
    cert, key = Presented((leaf, fake_ca), leaf_key).write(tmp_path / "fake")
    async with serving(workspace) as running:
        assert not running.server.snapshot.crl_by_openssl
        outcome = await attempt(running.url, client_context(running.ca_path, cert, key))
        assert outcome.status is None
        rec = await record_of(running.records, outcome)
        assert rec.refusal_stage == "tls"
        assert rec.refusal_reason in reasons_for("bad-signature"), (rec.refusal_reason, rec.error)


async def test_revocation_holds_when_openssl_does_not_check_crls(workspace: Path, tmp_path: Path) -> None:
    """A revoked workspace certificate listed by DN under an instance stays refused with extra bundles."""
    _, bundle = partner_ca(tmp_path)
    trust_also(workspace, bundle)
    pki = Pki.load(workspace / "certs")
    listed = pki.issue_client(dn("listed-sender"), 30)
    list_subject(workspace, listed.cert.subject, listed.cert.issuer)
    add_dn_iflow(workspace, "/dnMode", listed.cert.subject, listed.cert.issuer)  # lists the same certificate
    files = write_pem_pair(tmp_path / "listed", listed)
    ctx = client_context(running_ca(workspace), files.cert, files.key)
    async with serving(workspace) as running:
        assert not running.server.snapshot.crl_by_openssl
        for path in ("/http/clientCertAuth", "/http/dnMode"):  # the twins: listed and not revoked
            assert (await attempt(running.url, ctx, path)).status == 200
        pki.revoke(listed.cert)
        await running.reload()
        for path in ("/http/clientCertAuth", "/http/dnMode"):
            outcome = await attempt(running.url, ctx, path)
            assert outcome.status == 401, (path, outcome)
            rec = await record_of(running.records, outcome)
            assert "revoked" in (rec.refusal_reason or ""), rec.refusal_reason


def running_ca(root: Path) -> Path:
    return root / "certs" / "root-ca.pem"


# --- pinned external certificates ---------------------------------------------------------


async def _external_key(running: Running, acme: Authority, name: str, *, pinning: bool, tmp: Path) -> Presented:
    key = rsa_key()
    cert = forge(
        subject=dn(f"{name}.acme.example"), public_key=key.public_key(), issuer_name=acme.cert.subject, signer=acme.key
    )
    path = tmp / f"{name}.pem"
    path.write_bytes(cert_to_pem(cert))
    config, pki, registry = load_workspace(running.root)
    issue_service_key(
        config, pki, registry, name, "default", key_type="certificate_external", cert=path, pinning=pinning
    )
    await running.reload()
    return Presented((cert,), key)


def _same_names(acme: Authority, original: Presented, *, later: bool = False) -> Presented:
    key = rsa_key()
    start = now() - (0 if later else 2) * DAY
    cert = forge(
        subject=original.chain[0].subject,
        public_key=key.public_key(),
        issuer_name=acme.cert.subject,
        signer=acme.key,
        not_before=start,
    )
    return Presented((cert,), key)


async def test_a_pinned_external_certificate_cannot_be_replaced_by_one_with_the_same_names(
    workspace: Path, tmp_path: Path
) -> None:
    acme, bundle = partner_ca(tmp_path)
    trust_also(workspace, bundle)
    async with serving(workspace) as running:
        pinned = await _external_key(running, acme, "s4-pinned", pinning=True, tmp=tmp_path)
        loose = await _external_key(running, acme, "s4-loose", pinning=False, tmp=tmp_path)

        async def call(p: Presented, folder: str) -> tuple[int | None, str | None]:
            cert, key = p.write(tmp_path / folder)
            outcome = await attempt(running.url, client_context(running.ca_path, cert, key))
            rec = await record_of(running.records, outcome)
            return outcome.status, rec.refusal_reason

        assert (await call(pinned, "pinned"))[0] == 200
        status, reason = await call(_same_names(acme, pinned, later=True), "impostor")
        assert status == 401
        assert "pinned external certificate of service key 's4-pinned'" in (reason or "")
        # the twin: with pinning off a renewed certificate with the same names is SAP's rotation
        assert (await call(loose, "loose"))[0] == 200
        assert (await call(_same_names(acme, loose, later=True), "renewed"))[0] == 200
        status, reason = await call(_same_names(acme, loose), "older")
        assert status == 401
        assert "older certificate" in (reason or "")
    assert Registry.load(workspace / "certs").records["s4-pinned"].pinning


# --- a CA certificate as the client's identity ------------------------------------------------


async def test_a_ca_certificate_is_not_a_client_identity(
    workspace: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A leaf with basicConstraints CA:TRUE (and the clientAuth EKU) chains fine, but a CA is not a
    TLS client: refused whether it is listed under an instance, in a DN-mode iFlow or is a
    partner's root presented with its own key. The twin with the same subject and CA:FALSE is served."""
    acme, bundle = partner_ca(tmp_path)
    trust_also(workspace, bundle)
    pki = Pki.load(workspace / "certs")
    subject = dn("s4-signing-box")
    list_subject(workspace, subject, CLIENT_CA_NAME)
    dn_mode = add_dn_iflow(workspace, "/dnMode", subject, CLIENT_CA_NAME)
    root = acme.cert.subject.rfc4514_string()
    with (workspace / "cpimock.toml").open("a") as config:  # the partner's root is listed too
        config.write(
            f'\n[instances.partner]\nroles = ["ESBMessaging.send"]\n'
            f'subjects = [{{ subject = "{root}", issuer = "{root}" }}]\n'
        )

    def leaf(ca: bool) -> Presented:
        key = rsa_key()
        cert = forge(
            subject=subject, public_key=key.public_key(), issuer_name=CLIENT_CA_NAME, signer=pki.client_ca.key, ca=ca
        )  # type: ignore[arg-type]
        return Presented((cert, pki.client_ca.cert), key)

    caplog.set_level(logging.INFO, logger="cpimock")
    async with serving(workspace) as running:

        async def call(presented: Presented, folder: str, path: str) -> tuple[int | None, str | None]:
            cert, key = presented.write(tmp_path / folder)
            outcome = await attempt(running.url, client_context(running.ca_path, cert, key), path)
            rec = await record_of(running.records, outcome)
            return outcome.status, rec.refusal_reason

        ca_leaf = leaf(ca=True)
        assert ca_leaf.chain[0].extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        partner_root = Presented((acme.cert,), acme.key)
        for presented, path in (
            (ca_leaf, "/http/clientCertAuth"),
            (ca_leaf, dn_mode),
            (partner_root, "/http/clientCertAuth"),
        ):
            status, reason = await call(presented, f"ca-{path.rsplit('/', 1)[1]}-{id(presented)}", path)
            assert status == 401, (path, reason)
            assert "is a CA certificate (basicConstraints CA:TRUE)" in (reason or ""), reason
        assert any("is a CA certificate" in r.getMessage() for r in caplog.records)
        # the twins: the same subject in a leaf with CA:FALSE
        for path in ("/http/clientCertAuth", dn_mode):
            assert (await call(leaf(ca=False), f"leaf-{path.rsplit('/', 1)[1]}", path))[0] == 200
