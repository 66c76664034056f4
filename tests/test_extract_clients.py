"""Files from ``servicekey extract`` work in real clients: Python ssl handshakes, openssl and keytool.

The TLS server here trusts the workspace root CA (or a fake SAP root) and checks the workspace
CRL, as the cpimock server does; every accepted client has a refused twin.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cpimock.cli import main
from cpimock.pki.authority import Authority, build_certificate
from cpimock.pki.keys import cert_to_pem, generate_key, key_to_pem, now
from cpimock.pki.store import Pki

pytestmark = pytest.mark.clients


def extract(key: Path, out: Path, *extra: str) -> Path:
    result = CliRunner().invoke(main, ["servicekey", "extract", str(key), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out


def handshake(trust: list[Path], cert: Path, key: Path, workspace: Path, crl: Path | None = None) -> bytes:
    """Connect a client with *cert*/*key* to a one-shot server; what the client read, or the server's error."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(workspace / "certs/server.pem", workspace / "certs/server.key")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    for bundle in trust:
        server_ctx.load_verify_locations(bundle)
    if crl is not None:
        server_ctx.load_verify_locations(crl)
        server_ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    client_ctx = ssl.create_default_context(cafile=workspace / "certs/root-ca.pem")
    client_ctx.load_cert_chain(cert, key)
    outcome: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def serve() -> None:
            raw, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(raw, server_side=True) as conn:
                    conn.sendall(b"accepted")
            except (ssl.SSLError, OSError) as exc:
                outcome.append(f"refused: {exc}".encode())
                raw.close()

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with (
                socket.create_connection(listener.getsockname()) as raw,
                client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
            ):
                got = tls.recv(100)
        except (ssl.SSLError, OSError):
            got = b""
        thread.join()
    return outcome[0] if outcome else got


@pytest.fixture
def files(workspace: Path, tmp_path: Path) -> Path:
    return extract(workspace / "certs/keys/demo-sender.json", tmp_path / "demo", "--pfx", "--password", "changeit")


def test_extracted_files_pass_the_handshake(workspace: Path, files: Path) -> None:
    crl = workspace / "certs/crl.pem"
    got = handshake([workspace / "certs/root-ca.pem"], files / "cert.pem", files / "key.key", workspace, crl)
    assert got == b"accepted"


def test_revoked_certificate_is_refused(workspace: Path, files: Path) -> None:
    result = CliRunner().invoke(main, ["servicekey", "revoke", "demo-sender", "--workspace", str(workspace)])
    assert result.exit_code == 0, result.output
    crl = workspace / "certs/crl.pem"
    got = handshake([workspace / "certs/root-ca.pem"], files / "cert.pem", files / "key.key", workspace, crl)
    assert got.startswith(b"refused"), got
    assert b"revoked" in got


def test_expired_certificate_is_refused(workspace: Path, pki: Pki, tmp_path: Path) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old")])
    old = pki.issue_client(name, 1, not_before=now() - dt.timedelta(days=3))
    assert old.key is not None
    (tmp_path / "old.pem").write_bytes(b"".join(cert_to_pem(c) for c in (old.cert, *old.chain)))
    (tmp_path / "old.key").write_bytes(key_to_pem(old.key))
    got = handshake([workspace / "certs/root-ca.pem"], tmp_path / "old.pem", tmp_path / "old.key", workspace)
    assert got.startswith(b"refused"), got
    assert b"expired" in got


def _sap_like_key(tmp_path: Path, leaf_days: int = 365) -> tuple[Path, Path]:
    """A service key built the way SAP builds them, under a foreign root; returns (key JSON, root PEM)."""
    start = now() - dt.timedelta(minutes=5)

    def name(*parts: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
        return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts])

    c, loc, o, ou, cn = (
        NameOID.COUNTRY_NAME,
        NameOID.LOCALITY_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.COMMON_NAME,
    )
    root_key = generate_key()
    root_cert = build_certificate(
        subject=name((c, "DE"), (loc, "Walldorf"), (o, "SAP SE"), (cn, "SAP Cloud Root CA")),
        public_key=root_key.public_key(),
        issuer=None,
        issuer_key=root_key,
        not_before=start,
        not_after=start + dt.timedelta(days=7300),
        ca_path_length=None,
    )
    root = Authority(root_cert, root_key)
    ca_key = generate_key()
    ca_name = name(
        (c, "DE"),
        (loc, "cf-eu10"),
        (o, "SAP SE"),
        (ou, "SAP BTP Clients"),
        (cn, "SAP PKI Certificate Service Client CA"),
    )
    ca_cert = build_certificate(
        subject=ca_name,
        public_key=ca_key.public_key(),
        issuer=root,
        not_before=start,
        not_after=start + dt.timedelta(days=3650),
        ca_path_length=0,
    )
    leaf_key = generate_key()
    leaf = build_certificate(
        subject=name(
            (c, "DE"),
            (o, "SAP SE"),
            (ou, "SAP Cloud Platform Clients"),
            (ou, "Canary"),
            (ou, "8e1affb2-62a1-43cc-a687-2ba75e4b3d84"),
            (loc, "sap-uaa"),
            (cn, "2b0c7e3e-0b0f-4d2c-9f57-3a3c7a1f9e21"),
        ),
        public_key=leaf_key.public_key(),
        issuer=Authority(ca_cert, ca_key),
        not_before=start,
        not_after=start + dt.timedelta(days=leaf_days),
        eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    oauth = {
        "clientid": "sb-1b2c3d4e-0000-4000-8000-123456789abc!b123456|it-rt-acme-dev!b196",
        "certificate": b"".join(cert_to_pem(x) for x in (leaf, ca_cert, root_cert)).decode(),
        "key": key_to_pem(leaf_key).decode(),
        "url": "https://acme-dev.it-cpi018-rt.cfapps.eu10-003.hana.ondemand.com",
        "tokenurl": "https://acme-dev.authentication.cert.eu10.hana.ondemand.com/oauth/token",
        "certificatedetails": {
            "issuerdn": ca_cert.subject.rfc4514_string(),
            "subjectdn": leaf.subject.rfc4514_string(),
            "validuntil": leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "serialnumber": f"0x{leaf.serial_number:x}",
        },
    }
    key_path = tmp_path / "sap-key.json"
    key_path.write_text(json.dumps({"oauth": oauth}, indent=2))
    assert "\\n-----BEGIN CERTIFICATE-----\\n" in key_path.read_text()
    root_path = tmp_path / "sap-root.pem"
    root_path.write_bytes(cert_to_pem(root_cert))
    return key_path, root_path


def test_sap_built_key_gives_working_files(workspace: Path, tmp_path: Path) -> None:
    key, sap_root = _sap_like_key(tmp_path)
    out = extract(key, tmp_path / "sap", "--pfx", "--password", "pw")
    assert (out / "ca.pem").read_text().count("BEGIN CERTIFICATE") == 2
    assert (out / "key.key").read_text().startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    assert handshake([sap_root], out / "cert.pem", out / "key.key", workspace) == b"accepted"


def test_foreign_certificate_is_refused(workspace: Path, tmp_path: Path) -> None:
    key, _ = _sap_like_key(tmp_path)
    out = extract(key, tmp_path / "sap")
    got = handshake([workspace / "certs/root-ca.pem"], out / "cert.pem", out / "key.key", workspace)
    assert got.startswith(b"refused"), got


def _need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed")
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=60)


def test_openssl_verifies_the_extracted_chain(files: Path, tmp_path: Path) -> None:
    openssl = _need("openssl")
    ok = _run(
        openssl,
        "verify",
        "-CAfile",
        str(files / "ca.pem"),
        "-untrusted",
        str(files / "cert.pem"),
        str(files / "cert.pem"),
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().endswith(": OK")
    _, sap_root = _sap_like_key(tmp_path)
    foreign = _run(
        openssl, "verify", "-CAfile", str(sap_root), "-untrusted", str(files / "cert.pem"), str(files / "cert.pem")
    )
    assert foreign.returncode != 0


def test_openssl_reads_the_pfx(files: Path) -> None:
    openssl = _need("openssl")
    ok = _run(openssl, "pkcs12", "-info", "-in", str(files / "cert.pfx"), "-passin", "pass:changeit", "-nokeys")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("BEGIN CERTIFICATE") == 3
    wrong = _run(openssl, "pkcs12", "-info", "-in", str(files / "cert.pfx"), "-passin", "pass:nope", "-nokeys")
    assert wrong.returncode != 0


def test_keytool_reads_the_pfx(files: Path) -> None:
    keytool = _need("keytool")
    ok = _run(
        keytool, "-list", "-v", "-storetype", "PKCS12", "-keystore", str(files / "cert.pfx"), "-storepass", "changeit"
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PrivateKeyEntry" in ok.stdout
    assert "Certificate chain length: 3" in ok.stdout
    wrong = _run(keytool, "-list", "-storetype", "PKCS12", "-keystore", str(files / "cert.pfx"), "-storepass", "x")
    assert wrong.returncode != 0
