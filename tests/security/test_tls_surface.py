"""The TLS surface as a scanner sees it (sslyze), and the CA names sent in the CertificateRequest.

sslyze pins an older ``cryptography`` than cpimock uses, so it runs as its own program: put
its ``sslyze`` command on PATH (``pipx install sslyze``) or name it in ``CPIMOCK_SSLYZE``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .proc import ServerProcess, set_option

pytestmark = pytest.mark.slow

# what a current TLS 1.2 server may offer: forward secret key exchange and no legacy cipher
_FORBIDDEN = {"NULL", "EXPORT", "EXPORT1024", "RC4", "DES", "3DES", "EDE", "MD5", "ANON", "PSK", "SRP", "IDEA", "SEED"}


def _sslyze() -> str:
    found = os.environ.get("CPIMOCK_SSLYZE") or shutil.which("sslyze")
    if not found:
        pytest.skip("sslyze is not installed (pipx install sslyze, or set CPIMOCK_SSLYZE)")
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    from cpimock.workspace.create import ensure_workspace

    root = tmp_path_factory.mktemp("surface") / "ws"
    ensure_workspace(root)
    set_option(root, "server", 'client_auth = "required"')
    proc = ServerProcess(root)
    try:
        yield proc
    finally:
        proc.stop()


def scan(server: ServerProcess, *checks: str, cert: bool) -> dict[str, Any]:
    keys = server.root / "certs" / "keys" / "demo-sender"
    credentials = ["--cert", str(keys / "cert.pem"), "--key", str(keys / "key.key")] if cert else []
    done = subprocess.run(
        [_sslyze(), "--json_out=-", *checks, *credentials, f"127.0.0.1:{server.port}"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = done.stdout
    result: dict[str, Any] = json.loads(out[out.index("{") :])["server_scan_results"][0]
    assert result["scan_status"] == "COMPLETED", result.get("connectivity_error_trace")
    return result


def accepted(result: dict[str, Any], name: str) -> list[str]:
    return [c["cipher_suite"]["name"] for c in result["scan_result"][name]["result"]["accepted_cipher_suites"]]


def test_sslyze_finds_only_tls12_and_13_strong_ciphers_no_renegotiation_no_compression(server: ServerProcess) -> None:
    result = scan(
        server,
        "--sslv2",
        "--sslv3",
        "--tlsv1",
        "--tlsv1_1",
        "--tlsv1_2",
        "--tlsv1_3",
        "--reneg",
        "--compression",
        cert=True,
    )
    for old in ("ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites"):
        assert accepted(result, old) == [], old
    # SSL 2.0 cannot even be spoken by the scanner's modern OpenSSL against this server
    assert result["scan_result"]["ssl_2_0_cipher_suites"]["status"] in ("COMPLETED", "ERROR")
    if result["scan_result"]["ssl_2_0_cipher_suites"]["status"] == "COMPLETED":
        assert accepted(result, "ssl_2_0_cipher_suites") == []
    tls12 = accepted(result, "tls_1_2_cipher_suites")
    tls13 = accepted(result, "tls_1_3_cipher_suites")
    assert tls12
    assert tls13
    for suite in tls12:
        assert suite.startswith(("TLS_ECDHE_", "TLS_DHE_")), f"{suite} is not forward secret"
        assert not _FORBIDDEN & set(suite.upper().split("_")), suite
        assert not suite.endswith("_SHA"), f"{suite} authenticates records with SHA-1"
    reneg = result["scan_result"]["session_renegotiation"]["result"]
    assert reneg["client_renegotiations_success_count"] == 0
    assert reneg["is_vulnerable_to_client_renegotiation_dos"] is False
    assert reneg["supports_secure_renegotiation"] is True  # RFC 5746: no insecure renegotiation
    assert result["scan_result"]["tls_compression"]["result"]["supports_compression"] is False


def test_sslyze_sees_the_client_certificate_required(server: ServerProcess) -> None:
    result = scan(server, "--compression", cert=False)
    assert result["connectivity_result"]["client_auth_requirement"] == "REQUIRED"


@pytest.mark.clients
def test_the_certificate_request_names_the_trusted_root(server: ServerProcess) -> None:
    if not shutil.which("openssl"):
        pytest.skip("no openssl binary")
    done = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}", "-tls1_2", "-servername", "localhost"],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    out = done.stdout
    assert "Acceptable client certificate CA names" in out, out[-2000:]
    names = out.split("Acceptable client certificate CA names", 1)[1]
    assert "CN = cpimock Local Root CA" in names.split("Requested Signature Algorithms")[0]
    assert Path(server.root / "certs" / "root-ca.pem").exists()
