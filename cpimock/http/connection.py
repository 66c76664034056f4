"""One client connection after its handshake: what its certificate is, as the current snapshot sees it.

The handshake task establishes the connection's :class:`~cpimock.identity.callers.Peer` once
(the certificate's facts and the identity the directory gives them). A request reads it with
:func:`peer_of`; the connection's first request may run before the handshake task resumes, so
the peer is worked out there when still missing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from cpimock.identity.callers import Peer
from cpimock.identity.model import PeerCertificate, Refusal
from cpimock.tenant.snapshot import Snapshot

__all__ = ["Connection", "address_of", "establish", "peer_of"]

_NO_PEER = Peer("unknown", None, None)


class Connection(RequestHandler):
    """aiohttp's HTTP protocol, carrying what the TLS handshake established."""

    peer: Peer | None = None


def establish(address: str, transport: asyncio.BaseTransport, snapshot: Snapshot) -> Peer:
    """The peer of a connection whose handshake just completed: its certificate and identity."""
    ssl_object = transport.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return Peer(address, None, None)
    try:
        cert = PeerCertificate.from_der(der)
    except ValueError as exc:  # verified by OpenSSL, yet not parseable here: refuse politely
        return Peer(address, None, Refusal(401, f"the client certificate cannot be read: {exc}"))
    return Peer(address, cert, snapshot.directory.identify_certificate(cert))


def peer_of(request: web.BaseRequest, snapshot: Snapshot) -> Peer:
    """What the handshake established for the request's connection."""
    protocol = request.protocol
    transport = request.transport
    if not isinstance(protocol, Connection) or transport is None:
        return _NO_PEER
    peer = protocol.peer
    if peer is None:
        peer = protocol.peer = establish(address_of(transport.get_extra_info("peername")), transport, snapshot)
    return peer


def address_of(peername: Any) -> str:
    """``host:port`` of a socket's peer name (``[v6]:port`` for IPv6), or ``unknown``."""
    if isinstance(peername, tuple) and len(peername) >= 2:
        host = str(peername[0])
        return f"[{host}]:{peername[1]}" if ":" in host else f"{host}:{peername[1]}"
    return "unknown"
