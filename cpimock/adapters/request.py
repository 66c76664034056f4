"""What every adapter reads from an HTTP request: the headers a step may see, the charset, the body,
and the Message the steps get from them."""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable
from typing import Literal

from aiohttp import web
from cryptography.hazmat.primitives.serialization import Encoding

from cpimock.adapters.exchange import build_message
from cpimock.adapters.seam import Call
from cpimock.identity.model import PeerCertificate
from cpimock.message import Message

# CPI's load balancer sets these for the iFlow; a sender's own (header or query parameter) would
# pass for the load balancer's in a step that reads them, so they never come from the sender
CLIENT_CERT = "SSL_CLIENT_CERT"
_LOAD_BALANCER = frozenset({"ssl_client_cert", "ssl_client_user"})
# request headers that never reach a step, whatever allowed_headers says
_NEVER_ALLOWED = frozenset({"authorization", "cookie", "proxy-authorization", "x-csrf-token", *_LOAD_BALANCER})
_REGEX_CHARS = re.compile(r"[.*+?\[\]()|^$\\]")


# header names whose verdict a filter remembers: a sender may send any names, the memory stays bounded
_REMEMBERED_NAMES = 1024


class HeaderFilter:
    """CPI's *Allowed Header(s)* of one iFlow, prepared once: names or regular expressions, ``*`` for
    all (case-insensitive). Calling it says whether a name is allowed; :meth:`inbound` whether a
    request header of that name reaches the steps, remembered per name as spelled."""

    __slots__ = ("_allowed", "_inbound")

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self._allowed = _matcher(patterns)
        self._inbound: dict[str, bool] = {}

    def __call__(self, name: str) -> bool:
        return self._allowed(name)

    def inbound(self, name: str) -> bool:
        """Whether a request header *name* reaches the steps: Content-Type and the allowed ones,
        never credentials, cookies, CSRF tokens or ``camel*``."""
        verdict = self._inbound.get(name)
        if verdict is None:
            lower = name.lower()
            verdict = not (lower in _NEVER_ALLOWED or lower.startswith("camel")) and (
                lower == "content-type" or self._allowed(name)
            )
            if len(self._inbound) < _REMEMBERED_NAMES:
                self._inbound[name] = verdict
        return verdict


@functools.lru_cache(maxsize=256)
def header_filter(patterns: tuple[str, ...]) -> HeaderFilter:
    """The :class:`HeaderFilter` of *patterns*, one per iFlow's *Allowed Header(s)*."""
    return HeaderFilter(patterns)


def _matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    if "*" in patterns:
        return lambda name: True
    exact = {p.lower() for p in patterns}
    regexes = []
    for pattern in patterns:
        if _REGEX_CHARS.search(pattern):
            try:
                regexes.append(re.compile(pattern, re.IGNORECASE))
            except re.error:
                pass  # not a regex after all: the exact name still applies
    if not regexes:
        return lambda name: name.lower() in exact
    return lambda name: name.lower() in exact or any(r.fullmatch(name) for r in regexes)


def charset_of(request: web.Request) -> str | None:
    """The Content-Type's charset, parsed only when named: most requests name none, and aiohttp's
    parsing of the header costs more than the rest of the request's header handling."""
    content_type = request.headers.get("Content-Type")
    if content_type is None or "charset" not in content_type.lower():
        return None
    return request.charset


def inbound_headers(
    request: web.Request, allowed_headers: tuple[str, ...], client_cert: PeerCertificate | None = None
) -> dict[str, str]:
    """Content-Type plus the allowed request headers and query parameters (CPI merges both).

    *client_cert* is the certificate a caller authenticated with: the load balancer passes it on
    as ``SSL_CLIENT_CERT`` (Base64 of its DER), which reaches the step when the allowed headers
    let that name through. A sender's own ``SSL_CLIENT_CERT`` or ``SSL_CLIENT_USER`` never does.
    """
    allowed = header_filter(allowed_headers)
    inbound = allowed.inbound
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        if inbound(name):
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if client_cert is not None and allowed(CLIENT_CERT):
        headers[CLIENT_CERT] = base64.b64encode(client_cert.certificate.public_bytes(Encoding.DER)).decode("ascii")
    if not request.query_string:
        return headers
    for name, value in request.query.items():
        lower = name.lower()
        if allowed(name) and not lower.startswith("camel") and lower not in _LOAD_BALANCER:
            # "if a header of the same name exists, the query value is appended"
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def read_arrived(request: web.Request, limit: int) -> bytes | Literal[False] | None:
    """The body if all of it has arrived already (nearly always, for small ones), without waiting:
    None when it exceeds *limit*, False when more is to come (then :func:`read_limited` waits)."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    content = request.content
    if not content.is_eof():
        return False
    body = content.read_nowait()
    return body if len(body) <= limit else None


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it exceeds *limit* bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    content = request.content
    first = await content.readany()
    if content.at_eof():  # the whole body came in one piece (nearly always, for small ones)
        return first if len(first) <= limit else None
    chunks = bytearray(first)
    while len(chunks) <= limit:
        chunk = await content.readany()
        if not chunk:
            return bytes(chunks)
        chunks += chunk
    return None


def call_message(call: Call, body: bytes) -> Message:
    """The Message of *call* with *body*, as the HTTPS adapter and Camel's CXF binding make it: the
    allowed request headers, ``CamelHttp*`` from the request line, the log id and the caller
    (``SapAuthenticatedUserName`` is the clientid where ``[oauth]`` says so and the channel is
    not in client-certificate mode)."""
    request, route, who = call.request, call.route, call.identity
    by_clientid = call.snapshot.config.oauth.sap_authenticated_user_name == "clientid"
    user = who.clientid if route.channel.authorization != "client-certificate" and by_clientid else None
    return build_message(
        body=body,
        headers=inbound_headers(request, route.iflow.allowed_headers, call.client_certificate),
        method=request.method,
        url=f"{request.scheme}://{request.host}{request.path}",
        query=request.query_string or None,
        context_path=route.channel.address,
        path=route.path,
        mpl_id=call.record.message_guid,
        identity=who,
        authenticated_user=user,
        correlation_id=call.record.correlation_id,
        charset=charset_of(request),
    )
