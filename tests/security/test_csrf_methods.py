"""CSRF on every method: only GET and HEAD (and OPTIONS as a token fetch) pass without a token.

Real requests over mTLS against a ``csrf = true`` iFlow whose step writes a marker file when it
runs, so that "the steps did not run" is checked where it matters, not only in the answer.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.e2e_support import add_iflow, write_step
from tests.serving import Running, serving

STEP = """
from pathlib import Path

def process(message):
    marker = Path(__file__).with_name("ran.txt")
    with marker.open("a") as out:
        out.write(message.headers.get("CamelHttpMethod", "?") + "\\n")
    message.body = "ran"
    return message
"""

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


@pytest.fixture
async def running(workspace: Path) -> AsyncIterator[Running]:
    add_iflow(workspace, "guarded", "/guarded", [write_step(workspace, "marker.py", STEP) + ":process"], csrf=True)
    async with serving(workspace) as r:
        yield r


def ran(running: Running) -> list[str]:
    marker = running.root / "iflows" / "ran.txt"
    return marker.read_text().split() if marker.exists() else []


def session(running: Running) -> aiohttp.ClientSession:
    files = running.extract("demo-sender")
    return running.session(files, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def fetch_token(http: aiohttp.ClientSession, url: str, method: str = "GET") -> str:
    async with http.request(method, url, headers={"X-CSRF-Token": "Fetch"}) as fetched:
        assert fetched.status == 200
        return fetched.headers["X-CSRF-Token"]


@pytest.mark.parametrize("method", UNSAFE)
async def test_a_method_other_than_get_or_head_needs_a_token(running: Running, method: str) -> None:
    url = f"{running.url}/http/guarded"
    async with session(running) as http:
        async with http.request(method, url, data=b"<order/>") as refused:
            assert refused.status == 403
            assert refused.headers["X-CSRF-Token"] == "Required"
        assert ran(running) == []
        # the twin: with a fetched token and its session cookie the same request runs the steps
        token = await fetch_token(http, url)
        async with http.request(method, url, data=b"<order/>", headers={"X-CSRF-Token": token}) as served:
            assert served.status == 200
            if method != "HEAD":
                assert await served.text() == "ran"
    assert ran(running) == [method]
    records = await running.records()
    assert [(r.request_method, r.response_status, r.refusal_stage) for r in records] == [
        (method, 403, "authorization"),
        (method, 200, None),
    ]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_get_and_head_run_without_a_token(running: Running, method: str) -> None:
    async with session(running) as http, http.request(method, f"{running.url}/http/guarded") as served:
        assert served.status == 200
    assert ran(running) == [method]


async def test_options_with_fetch_is_a_token_fetch_and_runs_nothing(running: Running) -> None:
    url = f"{running.url}/http/guarded"
    async with session(running) as http:
        token = await fetch_token(http, url, "OPTIONS")
        assert ran(running) == []
        async with http.post(url, data=b"x", headers={"X-CSRF-Token": token}) as served:
            assert served.status == 200
    assert ran(running) == ["POST"]


@pytest.mark.clients
@pytest.mark.parametrize("method", ["MERGE", "TRACE"])
async def test_curl_with_an_odd_method_and_no_token_gets_403(running: Running, method: str) -> None:
    files = running.extract("demo-sender")
    url = f"{running.url}/http/guarded"
    jar = running.root / "jar.txt"
    curl = [
        "curl",
        "-s",
        "--cert",
        str(files.cert),
        "--key",
        str(files.key),
        "--cacert",
        str(running.ca_path),
        "-b",
        str(jar),
        "-c",
        str(jar),
    ]
    status = ["-o", "/dev/null", "-w", "%{http_code}"]
    send = ["-X", method, "--data-binary", "<order/>", url]
    assert (await _run([*curl, *status, *send])).stdout == "403"
    assert ran(running) == []
    # the twin: curl fetches a token (and the session cookie into its jar) and sends it back
    fetched = await _run([*curl, "-o", "/dev/null", "-D", "-", "-H", "X-CSRF-Token: Fetch", url])
    token = next(
        line.split(":", 1)[1].strip()
        for line in fetched.stdout.splitlines()
        if line.lower().startswith("x-csrf-token:")
    )
    assert (await _run([*curl, *status, "-H", f"X-CSRF-Token: {token}", *send])).stdout == "200"
    assert ran(running) == [method]


async def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60, check=True)
