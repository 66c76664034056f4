"""A refused client certificate is told why, even when the client is already sending its request.

With TLS 1.3 the client's handshake ends before the server has judged its certificate, so a
client such as ``http.client`` sends its request at once. The server's alert then raced the
reset its close caused, and the client saw "EOF occurred in violation of protocol" about one
time in three instead of "certificate expired" (``cpimock call`` then guessed at the cause).
"""

from __future__ import annotations

import http.client
import os
import ssl
import time
from collections.abc import Iterator

import pytest

from cpimock.tenant import tls
from cpimock.testing import TenantKey, ThreadedTenant


@pytest.fixture(scope="module")
def tenant() -> Iterator[ThreadedTenant]:
    with ThreadedTenant(client_auth="required") as tenant:
        tenant.iflow("/orders")
        yield tenant


def _post(tenant: ThreadedTenant, key: TenantKey) -> str:
    ctx = ssl.create_default_context(cafile=str(tenant.ca_path))
    ctx.load_cert_chain(key.cert_path, key.key_path)
    conn = http.client.HTTPSConnection("127.0.0.1", tenant.port, context=ctx, timeout=10)
    try:
        conn.putrequest("POST", "/http/orders", skip_accept_encoding=True)
        conn.putheader("Content-Length", "4")
        conn.endheaders(b"ping")  # headers and body in two writes, as http.client sends them
        return str(conn.getresponse().status)
    except ssl.SSLError as exc:
        return exc.reason or type(exc).__name__
    finally:
        conn.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_every_client_sending_at_once_reads_the_alert_and_nothing_lingers(tenant: ThreadedTenant) -> None:
    expired = tenant.service_key("expired-key", expired=True)
    before = _open_fds()
    outcomes = [_post(tenant, expired) for _ in range(40)]
    assert set(outcomes) == {"SSLV3_ALERT_CERTIFICATE_EXPIRED"}, outcomes
    deadline = time.monotonic() + tls.LINGER_S + 5
    while tls._lingering and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not tls._lingering
    assert _open_fds() <= before + 2


def test_the_twin_with_a_valid_key_is_answered_the_same_way(tenant: ThreadedTenant) -> None:
    assert [_post(tenant, tenant.demo_key) for _ in range(5)] == ["200"] * 5
