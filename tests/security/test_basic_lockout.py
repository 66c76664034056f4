"""Guessing a client's secret from elsewhere never locks the client out at its own address.

The brake on wrong Basic secrets (429 with Retry-After) counts per clientid and address. The
attacker calls from 127.0.0.2 (every 127/8 address is loopback on Linux), the real client from
127.0.0.1, over mTLS-capable HTTPS to a test tenant's iFlow endpoint and token endpoint.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import aiohttp
import pytest

from cpimock.testing import Tenant

ATTACKER = "127.0.0.2"
DEMO = "/http/clientCertAuth"


def basic(clientid: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{clientid}:{secret}".encode()).decode()}


@pytest.fixture
async def tenant() -> AsyncIterator[Tenant]:
    async with Tenant() as t:
        yield t


def from_address(tenant: Tenant, address: str) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(ssl=tenant.ssl_context(), local_addr=(address, 0), force_close=True)
    return aiohttp.ClientSession(connector=connector)


async def call(http: aiohttp.ClientSession, tenant: Tenant, path: str, headers: dict[str, str]) -> int:
    data = {"grant_type": "client_credentials"} if path == "/oauth/token" else b"Ada"
    async with http.post(tenant.url + path, data=data, headers=headers) as answer:
        return answer.status


@pytest.mark.parametrize("path", [DEMO, "/oauth/token"])
async def test_wrong_secrets_from_elsewhere_do_not_lock_the_client_out(tenant: Tenant, path: str) -> None:
    clientid, secret = tenant.service_key("s4-basic", key_type="clientid-secret").basic
    async with from_address(tenant, ATTACKER) as attacker, from_address(tenant, "127.0.0.1") as client:
        statuses = [await call(attacker, tenant, path, basic(clientid, f"guess-{n}")) for n in range(8)]
        assert statuses == [401] * 4 + [429] * 4
        # the real client, with its secret, from its own address: served
        assert await call(client, tenant, path, basic(clientid, secret)) == 200
        # the twin: the right secret from the attacker's address waits out the cool-down
        assert await call(attacker, tenant, path, basic(clientid, secret)) == 429
    peers = {r.peer.rsplit(":", 1)[0] for r in tenant.messages() if r.peer}
    assert peers <= {ATTACKER, "127.0.0.1"}


async def test_the_brake_tells_nobody_whether_a_clientid_exists(tenant: Tenant) -> None:
    clientid = tenant.service_key("s4-basic", key_type="clientid-secret").clientid
    after: dict[str, list[int]] = {}
    for first, address in ((clientid, ATTACKER), ("sb-nobody|it-rt-mytenant!b1", "127.0.0.3")):
        async with from_address(tenant, address) as attacker:
            braked = [await call(attacker, tenant, DEMO, basic(first, f"guess-{n}")) for n in range(6)]
            other = await call(attacker, tenant, DEMO, basic("sb-someone-else|it-rt-mytenant!b1", "guess"))
        after[first] = [*braked, other]
    # a known and an unknown clientid get the same answers, and neither brakes another clientid
    assert list(after.values()) == [[401] * 4 + [429] * 2 + [401]] * 2
