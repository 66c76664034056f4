"""CSRF on every method: only GET and HEAD (and OPTIONS as a token fetch) pass without a token.

Real requests over mTLS against a ``csrf = true`` iFlow of a test tenant whose step notes each
method it runs for, so that "the steps did not run" is checked where it matters, not only in
the answer.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest

from cpimock.message import Message
from cpimock.testing import Tenant

# what a sender might send that changes state: the usual four, OData's MERGE, WebDAV's, and the
# ones that are safe by name but run the iFlow all the same
UNSAFE = [
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "MERGE",
    "PROPPATCH",
    "PROPFIND",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "REPORT",
    "PURGE",
    "OPTIONS",
    "TRACE",
]


@dataclass
class Guarded:
    """The tenant, the URL of its ``csrf = true`` iFlow, and the methods its step ran for."""

    tenant: Tenant
    url: str = ""
    ran: list[str] = field(default_factory=list)

    def process(self, message: Message) -> Message:
        self.ran.append(message.headers.get("CamelHttpMethod", "?"))
        message.body = "ran"
        return message


@pytest.fixture
async def guarded() -> AsyncIterator[Guarded]:
    async with Tenant() as tenant:
        guarded = Guarded(tenant)
        guarded.url = tenant.iflow("/guarded", [guarded.process], csrf=True).url
        yield guarded


def session(guarded: Guarded) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(ssl=guarded.tenant.demo_key.ssl_context())
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def fetch_token(http: aiohttp.ClientSession, url: str, method: str = "GET") -> str:
    async with http.request(method, url, headers={"X-CSRF-Token": "Fetch"}) as fetched:
        assert fetched.status == 200
        return fetched.headers["X-CSRF-Token"]


@pytest.mark.parametrize("method", UNSAFE)
async def test_a_method_other_than_get_or_head_needs_a_token(guarded: Guarded, method: str) -> None:
    url = guarded.url
    async with session(guarded) as http:
        async with http.request(method, url, data=b"<order/>") as refused:
            assert refused.status == 403
            assert refused.headers["X-CSRF-Token"] == "Required"
        assert guarded.ran == []
        # the twin: with a fetched token and its session cookie the same request runs the steps
        token = await fetch_token(http, url)
        async with http.request(method, url, data=b"<order/>", headers={"X-CSRF-Token": token}) as served:
            assert served.status == 200
            if method != "HEAD":
                assert await served.text() == "ran"
    assert guarded.ran == [method]
    records = guarded.tenant.messages()
    assert [(r.request_method, r.response_status, r.refusal_stage) for r in records] == [
        (method, 403, "authorization"),
        (method, 200, None),
    ]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_get_and_head_run_without_a_token(guarded: Guarded, method: str) -> None:
    async with session(guarded) as http, http.request(method, guarded.url) as served:
        assert served.status == 200
    assert guarded.ran == [method]


async def test_options_with_fetch_is_a_token_fetch_and_runs_nothing(guarded: Guarded) -> None:
    url = guarded.url
    async with session(guarded) as http:
        token = await fetch_token(http, url, "OPTIONS")
        assert guarded.ran == []
        async with http.post(url, data=b"x", headers={"X-CSRF-Token": token}) as served:
            assert served.status == 200
    assert guarded.ran == ["POST"]


@pytest.mark.clients
@pytest.mark.parametrize("method", ["MERGE", "TRACE"])
async def test_curl_with_an_odd_method_and_no_token_gets_403(guarded: Guarded, method: str) -> None:
    key = guarded.tenant.demo_key
    url = guarded.url
    jar = guarded.tenant.root / "jar.txt"
    curl = [
        "curl",
        "-s",
        "--cert",
        str(key.cert_path),
        "--key",
        str(key.key_path),
        "--cacert",
        str(guarded.tenant.ca_path),
        "-b",
        str(jar),
        "-c",
        str(jar),
    ]
    status = ["-o", "/dev/null", "-w", "%{http_code}"]
    send = ["-X", method, "--data-binary", "<order/>", url]
    assert (await _run([*curl, *status, *send])).stdout == "403"
    assert guarded.ran == []
    # the twin: curl fetches a token (and the session cookie into its jar) and sends it back
    fetched = await _run([*curl, "-o", "/dev/null", "-D", "-", "-H", "X-CSRF-Token: Fetch", url])
    token = next(
        line.split(":", 1)[1].strip()
        for line in fetched.stdout.splitlines()
        if line.lower().startswith("x-csrf-token:")
    )
    assert (await _run([*curl, *status, "-H", f"X-CSRF-Token: {token}", *send])).stdout == "200"
    assert guarded.ran == [method]


async def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60, check=True)
