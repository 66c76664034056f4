"""Requests the HTTP parser cannot read: a 400 in plain words, the connection closed, a record in
the MPL and one log line, and never a byte of the request in any of them (it may hold a secret)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from aiohttp.http_exceptions import (
    BadHttpMessage,
    BadHttpMethod,
    BadStatusLine,
    ContentLengthError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
)
from hypothesis import given
from hypothesis import strategies as st

from cpimock.http.unreadable import reason_of
from cpimock.message import Message
from cpimock.testing import ThreadedTenant
from tests.e2e_support import raw_exchange

SECRET = "dXNlcjpzM2NyM3Q"  # what a credential in a header or a query looks like


def echo(message: Message) -> Message:
    return message


@pytest.fixture(scope="module")
def tenant() -> Iterator[ThreadedTenant]:
    with ThreadedTenant() as running:
        yield running


UNREADABLE = {
    "no Host": (
        b"POST /http/echo HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 requires a Host header",
    ),
    "a credential in a malformed header": (
        f"POST /http/echo HTTP/1.1\r\nHost: localhost\r\nAuthorization Basic {SECRET}\r\n\r\n".encode(),
        "invalid header token",
    ),
    "a token in a malformed request line": (
        f"POST /http/echo?access_token={SECRET} HTTP/9.9\r\nHost: localhost\r\n\r\n".encode(),
        "its request line is not METHOD /path HTTP/1.1",
    ),
    "two Host headers (which one routes?)": (
        b"POST /http/echo HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n",
        "it has two Host headers",
    ),
    "not HTTP at all": (
        f"{SECRET} {SECRET}\r\n\r\n".encode(),
        "it does not start with an HTTP method",
    ),
    "a header past max_header_size": (
        b"POST /http/echo HTTP/1.1\r\nHost: localhost\r\nX-Big: " + SECRET.encode() * 2000 + b"\r\n\r\n",
        "longer than [server] max_header_size",
    ),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_an_unreadable_request_gets_400_is_recorded_and_quotes_nothing(
    tenant: ThreadedTenant, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    request, reason = UNREADABLE[case]
    tenant.clear()
    tenant.iflow("/echo", steps=[echo])
    with caplog.at_level(logging.INFO):
        answer = raw_exchange(tenant, request)
    head, _, body = answer.partition("\r\n\r\n")
    assert head.split("\r\n", 1)[0].endswith(" 400 Bad Request"), answer[:300]
    assert body.startswith("400 Bad Request: the request is not valid HTTP/1.1: ")
    assert reason in body
    assert "x-correlationid:" in head.lower()
    [record] = tenant.messages()
    assert record.refusal_stage == "http"
    assert reason in (record.refusal_reason or "")
    assert (record.auth_method, record.service_key) == ("certificate", "demo-sender")
    assert record.request_method is None  # what the request said is not known
    assert SECRET not in answer
    assert SECRET not in repr(record.details())
    refused = [r.getMessage() for r in caplog.records if "refused with 400" in r.getMessage()]
    assert len(refused) == 1, refused
    assert SECRET not in caplog.text
    assert "Traceback" not in caplog.text


def test_the_twin_a_readable_request_is_answered(tenant: ThreadedTenant) -> None:
    tenant.clear()
    tenant.iflow("/echo", steps=[echo])
    request = b"POST /http/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
    answer = raw_exchange(tenant, request)
    assert answer.startswith("HTTP/1.1 200"), answer[:300]
    assert answer.endswith("\r\n\r\nhi")
    [record] = tenant.messages()
    assert record.refusal_stage is None


# the shapes in which aiohttp's parsers quote what they read (http_exceptions.py, _http_parser.pyx)
_QUOTING = [
    lambda s: InvalidHeader(s),
    lambda s: InvalidHeader(s.encode()),
    lambda s: BadStatusLine(f"GET /x?token={s} HTTP/1.1"),
    lambda s: BadStatusLine(error=f"Bad status line:\n  Invalid method:\n\n  b'{s}'\n  ^"),
    lambda s: BadHttpMethod(s),
    lambda s: LineTooLong(s.encode()[:100] + b"...", 8190),
    lambda s: InvalidURLError(f"Invalid URL: {s!r}"),
    lambda s: ContentLengthError(f"Not enough data to satisfy content length header: {s}"),
    lambda s: BadHttpMessage(f"Invalid header value char:\n\n  b'Authorization: Basic {s}'\n      ^"),
    lambda s: BadHttpMessage(f"Duplicate '{s}' header found."),
    lambda s: BadHttpMessage(s),
    lambda s: BadHttpMessage(f"Invalid character in chunk size:\n\n  b'{s}\\r\\n'\n ^"),
]


@given(
    st.integers(0, len(_QUOTING) - 1),
    st.text(alphabet=st.characters(categories=("L", "N")), min_size=8, max_size=60),
)
def test_no_reason_quotes_what_the_parser_read(shape: int, secret: str) -> None:
    """Fails closed: whatever the parser's message quotes, the reason holds none of it."""
    exc = _QUOTING[shape](secret)
    reason = reason_of(exc, exc.message)
    assert secret not in reason
    assert secret.lower() not in reason.lower()
    assert reason.isprintable()
    assert 0 < len(reason) <= 120


def test_known_texts_are_named_in_plain_words() -> None:
    missing = BadHttpMessage("Missing 'Host' header in request.")
    assert reason_of(missing, missing.message) == "HTTP/1.1 requires a Host header"
    twice = BadHttpMessage("Duplicate 'content-LENGTH' header found.")
    assert reason_of(twice, twice.message) == "it has two Content-Length headers"
    llhttp = BadHttpMessage("Invalid header token:\n\n  b'Authorization Basic x'\n              ^")
    assert reason_of(llhttp, llhttp.message) == "invalid header token"
