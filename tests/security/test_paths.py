"""Request paths that would change their meaning once decoded are refused before routing.

``/http/a/..%2fab`` reached the ``/a/*`` iFlow with ``CamelHttpPath`` ``../ab``. Real requests
over mTLS to a test tenant with paths sent exactly as written (aiohttp with an encoded URL, curl
--path-as-is).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import unquote

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from cpimock.iflows.routing import unsafe_path
from cpimock.message import Message
from cpimock.testing import Tenant

REFUSED = {
    "/http/a/..%2fab": "an encoded slash (%2F)",
    "/http/a%2Fab": "an encoded slash (%2F)",
    "/http/a/%2e%2e/ab": "a dot segment",
    "/http/a/%2E%2e%2Fab": "an encoded slash (%2F)",
    "/http/a/.%2e/ab": "a dot segment",
    "/http/a/../ab": "a dot segment",
    "/http/a/./ab": "a dot segment",
    "/http/a/..;x=1/ab": "a dot segment",
    "/http/a/b%5c..%5cc": "a backslash",
    "/http/a/b%00c": "an encoded control character",
    "/http/a/b%0d%0ac": "an encoded control character",
}
# the twins: encoded characters that change nothing, and dots that are no dot segment
SERVED = {
    "/http/a/ab": "'ab'",
    "/http/a/%61b": "'ab'",
    "/http/a/b.c..d": "'b.c..d'",
    "/http/a/...": "'...'",
    "/http/a/b%20c": "'b c'",
    "/http/a/b?next=..%2Fx": "'b'",
}


@dataclass
class Wild:
    """A test tenant with an iFlow at ``/a/*`` whose step notes the ``CamelHttpPath`` it sees."""

    tenant: Tenant
    seen: list[str] = field(default_factory=list)

    def process(self, message: Message) -> Message:
        self.seen.append(repr(message.headers.get("CamelHttpPath")))
        return message

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.tenant.demo_key.ssl_context()))


@pytest.fixture
async def wild() -> AsyncIterator[Wild]:
    async with Tenant() as tenant:
        wild = Wild(tenant)
        tenant.iflow("/a/*", [wild.process])
        yield wild


@pytest.mark.parametrize(("path", "what"), REFUSED.items())
async def test_a_path_that_decodes_to_another_meaning_gets_400(
    wild: Wild, path: str, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cpimock.adapters.endpoint")
    async with wild.session() as http:
        async with http.post(URL(wild.tenant.url + path, encoded=True), data=b"x") as answer:
            assert answer.status == 400
            text = await answer.text()
    assert text.startswith(f"400 Bad Request: the request path holds {what}")
    assert wild.seen == []
    [rec] = wild.tenant.messages()
    assert (rec.refusal_stage, rec.response_status, rec.integration_flow_name) == ("http", 400, None)
    assert rec.refusal_reason is not None
    assert what in rec.refusal_reason
    assert any("refused with 400" in r.getMessage() and what in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("path", "camel_path"), SERVED.items())
async def test_a_path_whose_encoding_changes_nothing_is_served(wild: Wild, path: str, camel_path: str) -> None:
    async with wild.session() as http:
        async with http.post(URL(wild.tenant.url + path, encoded=True), data=b"x") as answer:
            assert answer.status == 200
    assert wild.seen == [camel_path]


@pytest.mark.clients
async def test_curl_path_as_is_with_an_encoded_dot_dot_slash_gets_400(wild: Wild) -> None:
    key = wild.tenant.demo_key
    curl = [
        "curl",
        "-s",
        "--path-as-is",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--cert",
        str(key.cert_path),
        "--key",
        str(key.key_path),
        "--cacert",
        str(wild.tenant.ca_path),
        "--data-binary",
        "x",
    ]

    async def status(path: str) -> str:
        done = await asyncio.to_thread(
            subprocess.run, [*curl, wild.tenant.url + path], capture_output=True, text=True, timeout=60, check=True
        )
        return done.stdout

    assert await status("/http/a/..%2fab") == "400"
    assert await status("/http/a/../ab") == "400"
    assert wild.seen == []
    assert await status("/http/a/ab") == "200"  # the twin
    assert wild.seen == ["'ab'"]


PIECES = [
    "/",
    ".",
    "..",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "%5C",
    "\\",
    "%00",
    "%0a",
    "%1F",
    "%7f",
    "%7E",
    ";",
    "a",
    "%61",
    "%25",
    "%",
    "%zz",
    "%c0%af",
    "?",
    "=",
    "%3F",
]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join))
def test_a_path_let_through_decodes_to_the_same_segments_and_no_dot_segment(tail: str) -> None:
    raw = "/http/" + tail
    if unsafe_path(raw) is not None:
        return
    path = raw.partition("?")[0]
    decoded = unquote(path)
    assert decoded.count("/") == path.count("/")  # no segment split or joined by decoding
    assert not any(unquote(segment.split(";", 1)[0]) in (".", "..") for segment in path.split("/"))
    assert "\\" not in decoded
    assert all(ord(c) >= 0x20 and c != "\x7f" for c in decoded)


@given(st.text(max_size=200))
def test_the_path_check_takes_any_text(text: str) -> None:
    assert unsafe_path(text) is None or isinstance(unsafe_path(text), str)
