"""One client connection after its handshake: what its certificate is, as the current snapshot sees it.

The handshake task establishes the connection's :class:`~cpimock.identity.callers.Peer` once
(the certificate's facts and the identity the directory gives them). A request reads it with
:func:`peer_of`; the connection's first request may run before the handshake task resumes, so
the peer is worked out there when still missing.

A keep-alive connection outlives reloads. Its certificate was verified at the handshake against
the trust of that moment and mapped with the directory of that moment; a revocation, a renewal,
a removed ``subjects`` entry or a removed trust bundle since then must reach it as it reaches new
connections. So the peer carries the generation of the snapshot it was worked out against, and
a request on a connection whose generation is not the current one works it out again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from cryptography import x509

from cpimock.http.unreadable import reason_of
from cpimock.identity.callers import Peer
from cpimock.identity.model import Identity, PeerCertificate, Refusal, Untrusted
from cpimock.tenant.snapshot import Snapshot
from cpimock.tenant.tls import verified_root
from cpimock.tenant.unforwarded import unforwarded

__all__ = ["Connection", "address_of", "establish", "peer_of"]

log = logging.getLogger(__name__)

_NO_PEER = Peer("unknown", None, None)


class Connection(RequestHandler):
    """aiohttp's HTTP protocol, carrying what the TLS handshake established.

    A request its parser cannot read goes to *unreadable* (the endpoint's), which answers it and
    records it, where aiohttp would answer it alone and log it with a traceback.
    """

    peer: Peer | None = None
    generation = 0  # of the snapshot whose TLS context made the handshake
    unreadable: Callable[[web.BaseRequest, str], web.StreamResponse] | None = None

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if (
            status == 400
            and isinstance(exc, HttpProcessingError)
            and self.unreadable is not None
            and request.writer.output_size == 0  # else aiohttp's own: the answer has begun, the connection is lost
        ):
            return self.unreadable(request, reason_of(exc, message))
        return super().handle_error(request, status, exc, message)


def establish(address: str, transport: asyncio.BaseTransport, snapshot: Snapshot, generation: int) -> Peer:
    """The peer of a connection whose handshake just completed: its certificate and identity.

    *generation* is that of the snapshot whose TLS context verified the certificate.
    """
    ssl_object = transport.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return Peer(address, None, None, generation)
    dropped = unforwarded(ssl_object)
    if dropped is not None:  # as SAP's load balancer: the certificate is not passed on
        log.info("connection from %s: no client certificate passed on: %s", address, dropped)
        return Peer(address, None, Refusal(401, dropped), generation)
    try:
        cert = PeerCertificate.from_der(der)
    except ValueError as exc:  # verified by OpenSSL, yet not parseable here: refuse politely
        return Peer(address, None, Refusal(401, f"the client certificate cannot be read: {exc}"), generation)
    return Peer(address, cert, snapshot.directory.identify_certificate(cert), generation)


def peer_of(request: web.BaseRequest, snapshot: Snapshot) -> Peer:
    """What the handshake established for the request's connection, as *snapshot* sees it."""
    protocol = request.protocol
    transport = request.transport
    if not isinstance(protocol, Connection) or transport is None:
        return _NO_PEER
    peer = protocol.peer
    if peer is None:
        # tagged with the handshake's generation: a reload during the handshake is caught below
        address = address_of(transport.get_extra_info("peername"))
        peer = protocol.peer = establish(address, transport, snapshot, protocol.generation)
    if peer.generation != snapshot.generation:  # a reload since: the only cost without one
        peer = protocol.peer = _reidentify(peer, transport, snapshot)
    return peer


def _reidentify(peer: Peer, transport: asyncio.BaseTransport, snapshot: Snapshot) -> Peer:
    """*peer* as *snapshot* sees it: the certificate's identity worked out again, its root checked.

    The root is the one the handshake verified the chain to; when it cannot be read the
    connection is refused, as its trust cannot be checked.
    """
    cert = peer.certificate
    if cert is None:
        return Peer(peer.address, None, peer.identity, snapshot.generation)
    root = verified_root(transport.get_extra_info("ssl_object"))
    identity: Identity | Refusal
    if root is None or root not in snapshot.trusted_roots:
        identity = Untrusted(
            401,
            f"the certificate (subject {cert.subject}) was verified when this connection opened, but its root CA "
            f"{_name_of(root)} is no longer trusted here (a trust bundle was removed or changed); "
            "reconnect with a certificate of a trusted CA",
        )
    else:
        identity = snapshot.directory.identify_certificate(cert)
    if isinstance(identity, Refusal) and not isinstance(peer.identity, Refusal):
        log.info(
            "connection from %s: its certificate is no longer accepted after the reload (generation %d): %s",
            peer.address,
            snapshot.generation,
            identity.reason,
        )
    return Peer(peer.address, cert, identity, snapshot.generation)


def _name_of(der: bytes | None) -> str:
    if der is None:
        return "(unknown)"
    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return "(unreadable)"


def address_of(peername: Any) -> str:
    """``host:port`` of a socket's peer name (``[v6]:port`` for IPv6), or ``unknown``."""
    if isinstance(peername, tuple) and len(peername) >= 2:
        host = str(peername[0])
        return f"[{host}]:{peername[1]}" if ":" in host else f"{host}:{peername[1]}"
    return "unknown"
