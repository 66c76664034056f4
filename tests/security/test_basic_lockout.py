"""Guessing a client's secret from elsewhere never locks the client out at its own address.

The brake on wrong Basic secrets (429 with Retry-After) counts per clientid and address. The
attacker calls from 127.0.0.2 (every 127/8 address is loopback on Linux), the real client from
127.0.0.1, over mTLS-capable HTTPS to the iFlow endpoint and to the token endpoint.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.e2e_support import issue_secret_key
from tests.serving import Running, serving

ATTACKER = "127.0.0.2"
DEMO = "/http/clientCertAuth"


def basic(clientid: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{clientid}:{secret}".encode()).decode()}


@pytest.fixture
async def running(workspace: Path) -> AsyncIterator[Running]:
    async with serving(workspace) as r:
        yield r


def from_address(running: Running, address: str) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(ssl=running.context(), local_addr=(address, 0), force_close=True)
    return aiohttp.ClientSession(connector=connector)


async def call(http: aiohttp.ClientSession, running: Running, path: str, headers: dict[str, str]) -> int:
    data = {"grant_type": "client_credentials"} if path == "/oauth/token" else b"Ada"
    async with http.post(running.url + path, data=data, headers=headers) as answer:
        return answer.status


@pytest.mark.parametrize("path", [DEMO, "/oauth/token"])
async def test_wrong_secrets_from_elsewhere_do_not_lock_the_client_out(running: Running, path: str) -> None:
    oauth = issue_secret_key(running.root, "s4-basic")
    await running.reload()
    clientid, secret = oauth["clientid"], oauth["clientsecret"]
    async with from_address(running, ATTACKER) as attacker, from_address(running, "127.0.0.1") as client:
        statuses = [await call(attacker, running, path, basic(clientid, f"guess-{n}")) for n in range(8)]
        assert statuses == [401] * 4 + [429] * 4
        # the real client, with its secret, from its own address: served
        assert await call(client, running, path, basic(clientid, secret)) == 200
        # the twin: the right secret from the attacker's address waits out the cool-down
        assert await call(attacker, running, path, basic(clientid, secret)) == 429
    peers = {r.peer.rsplit(":", 1)[0] for r in await running.records() if r.peer}
    assert peers <= {ATTACKER, "127.0.0.1"}


async def test_the_brake_tells_nobody_whether_a_clientid_exists(running: Running) -> None:
    oauth = issue_secret_key(running.root, "s4-basic")
    await running.reload()
    after: dict[str, list[int]] = {}
    for first, address in ((oauth["clientid"], ATTACKER), ("sb-nobody|it-rt-mytenant!b1", "127.0.0.3")):
        async with from_address(running, address) as attacker:
            braked = [await call(attacker, running, DEMO, basic(first, f"guess-{n}")) for n in range(6)]
            other = await call(attacker, running, DEMO, basic("sb-someone-else|it-rt-mytenant!b1", "guess"))
        after[first] = [*braked, other]
    # a known and an unknown clientid get the same answers, and neither brakes another clientid
    assert list(after.values()) == [[401] * 4 + [429] * 2 + [401]] * 2
