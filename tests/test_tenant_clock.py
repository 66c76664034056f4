"""The tenant clock: certificates judged at another time than the machine's, in the TLS handshake
(OpenSSL), the workspace's revocation check and the serve banner; real clients on both sides."""

from __future__ import annotations

import datetime as dt
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from cpimock.cli import main
from cpimock.pki.keys import now
from cpimock.testing import ThreadedTenant
from tests.security.proc import ServerProcess


def answer(message: object) -> object:
    return message


def call(tenant: ThreadedTenant, url: str, cert: tuple[str, str]) -> int | str:
    """The status, or the TLS error the client saw when the tenant refused the certificate (with
    TLS 1.3 the alert may arrive after the client closed, so its text is not asserted: the server
    log of the `serve --now` test below says why)."""
    try:
        return requests.post(url, data=b"x", cert=cert, verify=str(tenant.ca_path), timeout=30).status_code
    except requests.exceptions.SSLError as exc:
        return f"refused: {exc}"
    except requests.exceptions.ConnectionError as exc:
        return f"refused: {exc}"


def test_a_certificate_is_accepted_until_its_last_day_on_the_tenant_clock() -> None:
    with ThreadedTenant() as tenant:
        flow = tenant.iflow("/orders", steps=[answer])
        key = tenant.service_key("s4", days=2)
        ends = key.not_after
        tenant.now = ends - dt.timedelta(hours=1)
        assert call(tenant, flow.url, key.cert) == 200
        tenant.now = ends + dt.timedelta(hours=1)
        assert str(call(tenant, flow.url, key.cert)).startswith("refused")  # in the TLS handshake
        tenant.now = ends - dt.timedelta(minutes=5)  # and back again
        assert call(tenant, flow.url, key.cert) == 200


def test_a_tenant_made_on_a_later_day_refuses_what_expired_before_it() -> None:
    with ThreadedTenant(now=now() + dt.timedelta(days=400)) as tenant:
        assert tenant.now > now() + dt.timedelta(days=399)
        flow = tenant.iflow("/orders", steps=[answer])
        refused = call(tenant, flow.url, tenant.demo_key.cert)  # 365 days: over at day 400
        assert str(refused).startswith("refused")
    with ThreadedTenant(now=now() + dt.timedelta(days=300)) as tenant:
        flow = tenant.iflow("/orders", steps=[answer])
        assert call(tenant, flow.url, tenant.demo_key.cert) == 200


def test_the_real_clock_is_the_default() -> None:
    with ThreadedTenant() as tenant:
        assert abs(tenant.now - now()) < dt.timedelta(seconds=5)
        flow = tenant.iflow("/orders", steps=[answer])
        assert call(tenant, flow.url, tenant.demo_key.cert) == 200


@pytest.mark.clients
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_serve_now_judges_the_certificates_of_curl_on_that_day(workspace: Path) -> None:
    created = CliRunner().invoke(main, ["servicekey", "create", "soon", "--validity", "10", "-w", str(workspace)])
    assert created.exit_code == 0, created.output
    extracted = CliRunner().invoke(
        main, ["servicekey", "extract", str(workspace / "certs/keys/soon.json"), "--out", str(workspace / "soon")]
    )
    assert extracted.exit_code == 0, extracted.output
    files = workspace / "soon"

    def curl(server: ServerProcess) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *("curl", "-sS", "--cert", files / "cert.pem", "--key", files / "key.key"),
                *("--cacert", workspace / "certs/root-ca.pem", "-d", "x", f"{server.url}/http/clientCertAuth"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )

    later = (now() + dt.timedelta(days=11)).strftime("%Y-%m-%d")
    server = ServerProcess(workspace, "--now", later)
    try:
        refused = curl(server)
        server.wait_for_log("refused: the client certificate has expired")
        log = server.log()
    finally:
        server.stop()
    assert refused.returncode != 0  # curl sees the alert, or (TLS 1.3) the connection closed after it
    assert f"Tenant clock: {later}" in log
    server = ServerProcess(workspace)
    try:
        accepted = curl(server)
    finally:
        server.stop()
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.startswith("Hello")


def test_serve_refuses_a_now_it_cannot_read(workspace: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "-w", str(workspace), "--now", "next friday"])
    assert result.exit_code == 1
    assert "error: --now 'next friday'" in result.output


def test_openssl_judges_at_the_time_it_was_given() -> None:
    from cpimock.tenant.tls import judge_at

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    judge_at(ctx, now() + dt.timedelta(days=1))
    assert ctx.verify_flags & 0x2  # X509_V_FLAG_USE_CHECK_TIME: OpenSSL took the time
