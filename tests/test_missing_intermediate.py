"""A client certificate sent without its intermediate CA, as SAP's load balancer treats it.

Sources (docs/fidelity.md): SAP's load balancer trusts root CAs only; "the client must send the
full chain up to a root the load balancer trusts, otherwise the LB does not pass the client cert
on" (SAP Help loio 4509f60 *Load Balancer Root Certificates Supported by SAP*, loio 7f84d16
*Configure Communication with Client Certificate*), so the call goes on without one: 401, or
its Basic credentials or OAuth token decide. cpimock does so with ``client_auth = "optional"``
and keeps the handshake refusal with ``"required"``; the log and the MPL say why either way.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cpimock.message import Message
from cpimock.testing import TenantKey, ThreadedTenant

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


def greet(message: Message) -> Message:
    message.body = b"hello"
    return message


def leaf_only(key: TenantKey, folder: Path) -> Path:
    """The key's certificate without the CA certificates after it: what a sender sends when its
    keystore entry holds the leaf alone."""
    pem = key.cert_path.read_text()
    end = "-----END CERTIFICATE-----"
    path = folder / f"{key.name}-leaf.pem"
    path.write_text(pem[: pem.index(end) + len(end)] + "\n")
    return path


def post(tenant: ThreadedTenant, cert: Path, key: Path, **headers: str) -> tuple[int, str]:
    context = ssl.create_default_context(cafile=str(tenant.ca_path))
    context.load_cert_chain(cert, key)
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    with (
        socket.create_connection(("127.0.0.1", tenant.port)) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        head = f"POST /http/greet HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\n{lines}Connection: close\r\n"
        tls.sendall(f"{head}\r\nx".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture(scope="module")
def optional() -> Iterator[ThreadedTenant]:
    with ThreadedTenant(client_auth="optional") as tenant:
        yield tenant


@pytest.fixture(scope="module")
def required() -> Iterator[ThreadedTenant]:
    with ThreadedTenant(client_auth="required") as tenant:
        yield tenant


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    for name in ("optional", "required"):
        if name in request.fixturenames:
            tenant: ThreadedTenant = request.getfixturevalue(name)
            tenant.clear()
            tenant.iflow("/greet", steps=[greet])


def test_python_without_the_intermediate_gets_through_as_a_call_without_a_certificate(
    optional: ThreadedTenant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = optional.demo_key
    with caplog.at_level(logging.INFO, logger="cpimock"):
        status, body = post(optional, leaf_only(key, tmp_path), key.key_path)
    assert status == 401
    assert "came without its intermediate CA certificate (CN=cpimock Client CA" in body
    assert "load balancer would not pass it on" in body
    [record] = optional.messages()
    assert record.refusal_stage == "auth"
    assert record.cert_subject is None  # the certificate was not passed on
    assert "without its intermediate CA certificate" in (record.refusal_reason or "")
    assert any("no client certificate passed on" in r.getMessage() for r in caplog.records)
    # the twin: the same key with its chain is the caller
    assert post(optional, key.cert_path, key.key_path)[0] == 200


def test_basic_credentials_decide_when_the_certificate_is_not_passed_on(
    optional: ThreadedTenant, tmp_path: Path
) -> None:
    key = optional.demo_key
    secret = optional.service_key("basic-sender", key_type="clientid-secret")
    auth = requests.auth._basic_auth_str(*secret.basic)
    assert post(optional, leaf_only(key, tmp_path), key.key_path, Authorization=auth)[0] == 200
    wrong = requests.auth._basic_auth_str(secret.clientid, "not-the-secret")
    status, _ = post(optional, leaf_only(key, tmp_path), key.key_path, Authorization=wrong)
    assert status == 401


@needs_curl
def test_curl_without_the_intermediate_gets_401_not_a_handshake_failure(
    optional: ThreadedTenant, tmp_path: Path
) -> None:
    key = optional.demo_key
    base = ["curl", "-sS", "-w", "\n%{http_code}", "--cacert", str(optional.ca_path), "--key", str(key.key_path)]
    done = subprocess.run(
        [*base, "--cert", str(leaf_only(key, tmp_path)), "-d", "x", f"{optional.url}/http/greet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("\n401")
    assert "without its intermediate CA certificate" in done.stdout
    whole = subprocess.run(
        [*base, "--cert", str(key.cert_path), "-d", "x", f"{optional.url}/http/greet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert whole.stdout.endswith("hello\n200")


def test_a_chainless_certificate_with_faults_of_its_own_is_still_refused(
    optional: ThreadedTenant, tmp_path: Path
) -> None:
    """Only the missing chain is forgiven: an expired leaf, or one of a CA the tenant knows nothing
    of, is refused at the handshake as before (cpimock's choice; see docs/fidelity.md)."""
    expired = optional.service_key("old", days=dt.timedelta(days=30), expired=True)
    with pytest.raises(ssl.SSLError, match="expired"):
        post(optional, leaf_only(expired, tmp_path), expired.key_path)
    stranger = optional.untrusted_key("stranger")
    with pytest.raises(ssl.SSLError, match="unknown ca"):
        post(optional, stranger.cert_path, stranger.key_path)
    reasons = [r.refusal_reason or "" for r in optional.messages() if r.refusal_stage == "tls"]
    assert any("expired" in r for r in reasons)
    assert len(reasons) == 2


@needs_openssl
def test_required_client_certificates_refuse_the_handshake_and_say_why(
    required: ThreadedTenant, tmp_path: Path
) -> None:
    key = required.demo_key
    command = [
        "openssl", "s_client", "-connect", f"127.0.0.1:{required.port}", "-CAfile", str(required.ca_path),
        "-ign_eof", "-key", str(key.key_path), "-cert",
    ]  # fmt: skip
    request = "GET /http/greet HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    leaf = str(leaf_only(key, tmp_path))
    done = subprocess.run([*command, leaf], input=request, capture_output=True, text=True, timeout=60)
    assert "unknown ca" in (done.stdout + done.stderr).lower()
    assert "HTTP/1.1 200" not in done.stdout
    [refused] = [r for r in required.messages() if r.refusal_stage == "tls"]
    assert "intermediate" in (refused.refusal_reason or "")
    # s_client sends only the -cert certificate; -cert_chain adds the CAs after it
    chain = [str(key.cert_path), "-cert_chain", str(key.cert_path)]
    whole = subprocess.run([*command, *chain], input=request, capture_output=True, text=True, timeout=60)
    assert "HTTP/1.1 200" in whole.stdout, whole.stdout + whole.stderr
