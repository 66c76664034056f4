"""RSA-PSS client signatures over real handshakes, and the signature algorithms the server refuses.

TLS 1.3 allows only RSA-PSS in an RSA client's CertificateVerify (rsa_pss_rsae_* for an
ordinary RSA key, rsa_pss_pss_* for a key that is itself an RSA-PSS key), and TLS 1.2 clients
(Java's among them) sign with RSA-PSS when the server lists it first. Each client below offers
only the algorithm under test: ``openssl s_client -sigalgs/-client_sigalgs`` (its ``-trace``
shows what the CertificateVerify was signed with), tlslite-ng with the ClientHello of tlsfuzzer's
``test-rsa-pss-sigs-on-certificate-verify`` probes, and Java's JSSE where Java is installed.
The twins offer only what the server must refuse, and the refusal names the cause.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ..serving import KeyFiles, Running, serving
from .hostile import reasons_for, record_of
from .workspace_edits import list_subject

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="java is not installed")
REQUEST = (
    b"POST /http/clientCertAuth HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
)


@pytest.fixture
async def running(workspace: Path) -> AsyncIterator[Running]:
    async with serving(workspace, client_auth="required") as r:
        yield r


async def run(*argv: str, stdin: bytes = b"", cwd: Path | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=cwd
    )
    out, _ = await asyncio.wait_for(proc.communicate(stdin), 60)
    return out.decode(errors="replace")


async def s_client(running: Running, files: KeyFiles, version: str, *options: str) -> str:
    """One POST with ``openssl s_client -trace``: the handshake's messages, then the HTTP answer."""
    return await run(
        "openssl", "s_client", "-connect", f"127.0.0.1:{running.server.port}", f"-{version}",
        "-CAfile", str(running.ca_path), "-cert", str(files.cert), "-cert_chain", str(files.cert),
        "-key", str(files.key), "-ign_eof", "-trace", *options, stdin=REQUEST,
    )  # fmt: skip


def certificate_verify_algorithm(trace: str) -> str:
    """The signature algorithm of the client's CertificateVerify, from ``s_client -trace``."""
    for record in re.split(r"\n(?=(?:Sent|Received) Record)", trace):
        if record.startswith("Sent Record") and "CertificateVerify" in record:
            verify = record.split("CertificateVerify", 1)[1]
            return verify.split("Signature Algorithm: ", 1)[1].split(" ", 1)[0]
    raise AssertionError(f"the client sent no CertificateVerify:\n{trace[-2000:]}")


async def last_tls_refusal(running: Running) -> tuple[str, str]:
    await running.server.settle()
    record = [r for r in await running.records() if r.refusal_stage == "tls"][-1]
    return record.refusal_reason or "", record.error or ""


# --- RSA keys: rsa_pss_rsae_* ---------------------------------------------------------------


@needs_openssl
@pytest.mark.clients
@pytest.mark.parametrize("version", ["tls1_2", "tls1_3"])
@pytest.mark.parametrize("scheme", ["rsa_pss_rsae_sha256", "rsa_pss_rsae_sha512"])
async def test_a_client_that_signs_only_with_rsa_pss_rsae_is_served(
    running: Running, version: str, scheme: str
) -> None:
    out = await s_client(running, running.extract("demo-sender"), version, "-sigalgs", scheme,
                         "-client_sigalgs", scheme)  # fmt: skip
    assert "HTTP/1.1 200 OK" in out, out[-2000:]
    assert certificate_verify_algorithm(out) == scheme


# --- RSA-PSS keys: rsa_pss_pss_* --------------------------------------------------------------


def _pss_certificate(workspace: Path, folder: Path) -> KeyFiles:
    """An RSA-PSS key (OID id-RSASSA-PSS) certified by the workspace's client CA, with openssl.

    The ``cryptography`` package cannot make such a key: it reads RSA-PSS keys as plain RSA
    keys, and a certificate built for one would carry rsaEncryption.
    """
    import subprocess

    folder.mkdir(parents=True)
    certs = workspace / "certs"
    key, csr, cert = folder / "key.key", folder / "pss.csr", folder / "leaf.pem"
    extensions = folder / "ext.cnf"
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    for argv in (
        ["genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)],
        ["req", "-new", "-key", str(key), "-subj", "/C=DE/O=ACME/CN=pss-sender", "-out", str(csr)],
        ["x509", "-req", "-in", str(csr), "-CA", str(certs / "client-ca.pem"), "-CAkey", str(certs / "client-ca.key"),
         "-set_serial", "0x5e55", "-days", "30", "-sha256", "-extfile", str(extensions), "-out", str(cert)],
    ):  # fmt: skip
        subprocess.run(["openssl", *argv], check=True, capture_output=True)
    chain = folder / "cert.pem"
    chain.write_bytes(cert.read_bytes() + (certs / "client-ca.pem").read_bytes())
    return KeyFiles(chain, key, certs / "root-ca.pem")


@needs_openssl
@pytest.mark.clients
@pytest.mark.parametrize("version", ["tls1_2", "tls1_3"])
async def test_a_client_with_an_rsa_pss_key_signs_with_rsa_pss_pss_and_is_served(
    workspace: Path, tmp_path: Path, version: str
) -> None:
    from cryptography import x509

    files = _pss_certificate(workspace, tmp_path / "pss")
    leaf = x509.load_pem_x509_certificate(files.cert.read_bytes())
    assert leaf.public_key_algorithm_oid.dotted_string == "1.2.840.113549.1.1.10"  # id-RSASSA-PSS
    list_subject(workspace, leaf.subject, leaf.issuer)
    async with serving(workspace, client_auth="required") as running:
        out = await s_client(running, files, version)
        assert "HTTP/1.1 200 OK" in out, out[-2000:]
        assert certificate_verify_algorithm(out) == "rsa_pss_pss_sha256"


# --- twins: what the server refuses, and why ----------------------------------------------------


@needs_openssl
@pytest.mark.clients
@pytest.mark.parametrize(
    ("version", "options"),
    [
        # SHA-1 signatures are below the server's security level (the client lowers its own to offer them)
        ("tls1_2", ("-sigalgs", "RSA+SHA1", "-cipher", "DEFAULT:@SECLEVEL=0")),
        # the server's key is an ordinary RSA key: it cannot sign with rsa_pss_pss_*
        ("tls1_2", ("-sigalgs", "rsa_pss_pss_sha256")),
        ("tls1_3", ("-sigalgs", "rsa_pss_pss_sha256")),
        # TLS 1.3 forbids PKCS#1 v1.5 signatures in the handshake
        ("tls1_3", ("-sigalgs", "rsa_pkcs1_sha256")),
    ],
    ids=["sha1-tls1.2", "pss-pss-tls1.2", "pss-pss-tls1.3", "pkcs1-tls1.3"],
)
async def test_a_client_offering_only_signature_algorithms_the_server_cannot_use_is_refused_with_why(
    running: Running, version: str, options: tuple[str, ...]
) -> None:
    out = await s_client(running, running.extract("demo-sender"), version, *options)
    assert "HTTP/1.1" not in out
    assert "handshake failure" in out
    reason, _ = await last_tls_refusal(running)
    assert reason in reasons_for("no-shared-sigalg"), reason
    assert "rsa_pss_rsae_sha256" in reason


# --- tlsfuzzer's ClientHello, through tlslite-ng ----------------------------------------------


def _tlslite_post(port: int, files: KeyFiles, ciphers: list[str], macs: list[str], kx: list[str]) -> tuple[int, str]:
    """A TLS 1.2 handshake that offers and signs with RSA-PSS only; the client's port and the outcome."""
    from tlslite import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey  # type: ignore[import-untyped]
    from tlslite.errors import TLSError  # type: ignore[import-untyped]

    settings = HandshakeSettings()
    settings.cipherNames, settings.macNames, settings.keyExchangeNames = ciphers, macs, kx
    settings.rsaSchemes = ["pss"]
    settings.rsaSigHashes = ["sha256", "sha384", "sha512"]
    settings.maxVersion = (3, 3)
    chain = X509CertChain()
    chain.parsePemList(files.cert.read_text())
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    local = sock.getsockname()[1]
    conn = TLSConnection(sock)
    try:
        conn.handshakeClientCert(chain, parsePEMKey(files.key.read_text(), private=True), settings=settings)
        conn.write(REQUEST)
        status_line = bytes(conn.read(max=64)).split(b"\r\n")[0].decode()
        return local, f"answered: {status_line}"
    except (TLSError, OSError) as exc:
        return local, f"refused: {type(exc).__name__} {exc}"
    finally:
        sock.close()


async def test_tlsfuzzers_rsa_pss_probe_is_served_with_a_cipher_suite_the_server_offers(running: Running) -> None:
    """The probe's signature_algorithms (RSA-PSS only), with an AES-GCM suite in place of its CBC-SHA ones."""
    pytest.importorskip("tlslite")
    _, outcome = await asyncio.to_thread(
        _tlslite_post, running.server.port, running.extract("demo-sender"), ["aes128gcm"], ["aead"], ["ecdhe_rsa"]
    )
    assert outcome == "answered: HTTP/1.1 200 OK"


async def test_tlsfuzzers_own_cipher_suites_are_refused_for_their_sha1_macs(running: Running) -> None:
    """The probe's exact offer, ECDHE/DHE-RSA-AES128-SHA: refused before any signature is made."""
    pytest.importorskip("tlslite")
    port, outcome = await asyncio.to_thread(
        _tlslite_post, running.server.port, running.extract("demo-sender"), ["aes128"], ["sha"],
        ["ecdhe_rsa", "dhe_rsa"],
    )  # fmt: skip
    assert outcome.startswith("refused: TLSRemoteAlert handshake_failure"), outcome
    rec = await record_of(running.records, f"127.0.0.1:{port}")
    assert rec.refusal_reason in reasons_for("no-shared-cipher")
    assert "SHA-1" in (rec.refusal_reason or "")


# --- Java -----------------------------------------------------------------------------------

JAVA_CLIENT = Path(__file__).with_name("PostOnce.java")


async def java_post(running: Running, tmp_path: Path, version: str, schemes: str | None) -> str:
    """POST with JSSE (the service key's .pfx), printing the handshake's messages."""
    from cpimock.pki.exports import export_files, write_files
    from cpimock.pki.servicekey import read_service_key

    folder = tmp_path / "java"
    key = read_service_key(running.root / "certs" / "keys" / "demo-sender.json")
    files, _ = export_files(key, pfx_password="cpimock", alias="demo-sender")
    write_files(folder, files)
    properties = [f"-Djdk.tls.client.protocols={version}", "-Djavax.net.debug=ssl:handshake"]
    if schemes is not None:
        properties.append(f"-Djdk.tls.client.SignatureSchemes={schemes}")
    return await run(
        "java", *properties, str(JAVA_CLIENT), f"https://localhost:{running.server.port}/http/clientCertAuth",
        str(folder / "cert.pfx"), "cpimock", str(running.ca_path),
    )  # fmt: skip


def java_certificate_verify_algorithm(debug: str) -> str:
    """The client's CertificateVerify algorithm from JSSE's debug output ("Produced [client] CertificateVerify")."""
    produced = re.split(r"Produced (?:client )?CertificateVerify handshake message", debug, maxsplit=1)[1]
    return produced.split('"signature algorithm": ', 1)[1].split()[0].strip('",')


@needs_java
@pytest.mark.clients
@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
async def test_java_signs_its_certificate_verify_with_rsa_pss_and_is_served(
    running: Running, tmp_path: Path, version: str
) -> None:
    out = await java_post(running, tmp_path, version, None)
    assert "HTTP 200" in out, out[-3000:]
    assert java_certificate_verify_algorithm(out) == "rsa_pss_rsae_sha256"


@needs_java
@pytest.mark.clients
async def test_java_accepting_only_rsa_pss_certificate_signatures_is_refused_with_why(
    running: Running, tmp_path: Path
) -> None:
    """`jdk.tls.client.SignatureSchemes=rsa_pss_rsae_sha256` also restricts signature_algorithms_cert to
    RSA-PSS; the server's chain is signed with PKCS#1 v1.5, as SAP's is, which such a client refuses."""
    out = await java_post(running, tmp_path, "TLSv1.3", "rsa_pss_rsae_sha256")
    assert "HTTP 200" not in out
    reason, _ = await last_tls_refusal(running)
    assert reason in reasons_for("no-shared-sigalg"), reason
    assert "signature_algorithms_cert" in reason
