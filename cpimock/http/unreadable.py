"""Requests aiohttp's HTTP parser refuses, in plain words that carry none of the sender's bytes.

The parser's own messages quote what it could not read (a header value, the request line), and
that may be a credential or a token in a query. The MPL and the log get a description chosen by
the kind of error instead, and a parser's message only when it is one of its fixed texts.
"""

from __future__ import annotations

import re

from aiohttp.http_exceptions import (
    BadHttpMessage,
    BadHttpMethod,
    BadStatusLine,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
    PayloadEncodingError,
)

__all__ = ["reason_of"]

# most specific first: BadHttpMethod is a BadStatusLine, all of them BadHttpMessages
_BY_KIND: tuple[tuple[type[HttpProcessingError], str], ...] = (
    (LineTooLong, "a request line or header is longer than [server] max_header_size allows"),
    (BadHttpMethod, "it does not start with an HTTP method (something else than HTTP was sent over TLS?)"),
    (BadStatusLine, "its request line is not METHOD /path HTTP/1.1"),
    (InvalidURLError, "its request target is not a valid path"),
    (InvalidHeader, "a header is malformed (a name with spaces or separators, or a control character in a value)"),
    (PayloadEncodingError, "its body does not match its Content-Length or Transfer-Encoding"),
)
# llhttp's messages: its fixed description, then a colon and a quote of the bytes it stopped at
_LLHTTP = re.compile(r"([A-Za-z][A-Za-z0-9 ,.`()'-]{0,99}):\n")
# the pure-Python parser's fixed texts (it runs where aiohttp's C extension is not built)
_KNOWN = {
    "Missing 'Host' header in request.": "HTTP/1.1 requires a Host header",
    "Too many headers received": "it has more headers than [server] max_headers allows",
    "Too many trailers received": "it has more trailers than the server accepts",
    "Bad line ending, expected CRLF": "a line does not end with CRLF",
    "Data after `Connection: close`": "it sends data after Connection: close",
    "Request has invalid `Transfer-Encoding`": "its Transfer-Encoding is not chunked",
}
# a header that may occur once, sent twice: the parsers quote its name as sent, so it is named
# here only when it is one of those headers (aiohttp's SINGLETON_HEADERS), in their usual spelling
_DUPLICATE = re.compile(r"Duplicate '([A-Za-z-]{1,40})' header found\.")
_SINGLETONS = {
    name.lower(): name
    for name in (
        "Content-Length",
        "Content-Location",
        "Content-Range",
        "Content-Type",
        "ETag",
        "Host",
        "Max-Forwards",
        "Server",
        "Transfer-Encoding",
        "User-Agent",
    )
}


def reason_of(exc: BaseException | None, message: str | None) -> str:
    """Why the parser refused the request, for the sender: no byte of the request in it.

    By the kind of error first; then a fixed text of either parser; anything else is named only
    in general words (failing closed: a message of a shape not known here may quote the request).
    """
    for kind, reason in _BY_KIND:
        if isinstance(exc, kind):
            return reason
    text = message or ""
    if text in _KNOWN:
        return _KNOWN[text]
    duplicate = _DUPLICATE.fullmatch(text)
    if duplicate:
        name = _SINGLETONS.get(duplicate.group(1).lower())
        return f"it has two {name} headers" if name else "a header that may occur once occurs twice"
    described = _LLHTTP.match(text)
    if isinstance(exc, BadHttpMessage) and described:
        desc = described.group(1)
        return desc[0].lower() + desc[1:]
    return "the HTTP parser could not read it"
