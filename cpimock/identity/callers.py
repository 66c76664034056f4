"""Who is calling an iFlow: the connection's certificate, Basic credentials, or a bearer token.

This is the one place that decides it. The handshake only establishes what the connection's
certificate is (:class:`Peer`); :func:`identify` takes that, the request's ``Authorization``
header and the channel the request was routed to, and gives the caller or the refusal.

An ``Authorization`` header wins over a certificate (as on CPI, where the load balancer passes
both on and the runtime's security layer looks at the credentials first). A channel in
client-certificate (DN) mode needs no service key: the certificate's subject and issuer are the
caller, and its DN list decides later. Every failure is a :class:`~cpimock.identity.model.Refusal`
with the status and the reason in plain words; repeated wrong secrets for one client from one
address are slowed down with 429 without touching anyone else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from cpimock import redaction
from cpimock.identity.basic import (
    BasicError,
    FailureLimiter,
    authenticate,
    authorization_scheme,
    limiter_key,
    not_accepted,
    parse_basic,
)
from cpimock.identity.directory import Directory
from cpimock.identity.jws import TokenError
from cpimock.identity.model import FinalRefusal, Identity, PeerCertificate, Refusal
from cpimock.identity.tokens import TokenAuthority, token_roles

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Peer:
    """What the TLS handshake established for one connection."""

    address: str
    certificate: PeerCertificate | None
    identity: Identity | Refusal | None  # None: no certificate presented
    generation: int = 0  # of the snapshot the identity was worked out against


@dataclass(frozen=True, slots=True)
class TooMany(Refusal):
    retry_after: int = 60


def identify(
    authorization: str | None,
    peer: Peer,
    directory: Directory,
    authority: TokenAuthority,
    limiter: FailureLimiter,
    *,
    dn_mode: bool = False,
) -> Identity | Refusal:
    """The caller of one request, or why they are not let in.

    *dn_mode*: the request was routed to a channel that authorizes by its list of certificate
    subjects and issuers, so a certificate that belongs to no service key is the caller all the
    same (unless it is refused for what it is: revoked, a CA).
    """
    if authorization:
        scheme, rest = authorization_scheme(authorization)
        if scheme == "basic":
            return _basic(authorization, peer, directory, limiter)
        if scheme == "bearer":
            return _bearer(rest, directory, authority)
        return Refusal(401, _unsupported(authorization))
    found = peer.identity
    if found is None:
        return Refusal(
            401,
            "the client sent no certificate and no credentials; call with the service key's certificate "
            "(curl --cert cert.pem --key key.key), Basic clientid:clientsecret, or a Bearer token. Java and "
            "browsers pick a certificate by the CA list the server sends and send none when their keystore "
            "holds none issued under those CAs (the workspace root or a [server] trust bundle)",
        )
    if isinstance(found, Identity):
        # roles come from the current configuration, so role changes apply to open connections too
        roles = directory.roles_of(found.instance)
        return found if roles is found.roles or roles == found.roles else replace(found, roles=roles)
    cert = peer.certificate
    if dn_mode and cert is not None and not isinstance(found, FinalRefusal):
        return Identity(
            "certificate", subject=cert.subject, issuer=cert.issuer, serial=cert.serial, fingerprint=cert.fingerprint
        )
    return found


def _unsupported(authorization: str) -> str:
    """Why an Authorization value is neither Basic nor Bearer, naming no more of it than a
    registered scheme: whatever else it holds may be the credential itself."""
    use = "use Basic with a service key's clientid and clientsecret, or Bearer with a token"
    scheme = redaction.scheme_of(authorization)
    if scheme in ("Basic", "Bearer"):
        return f"the Authorization header's scheme {scheme} is not followed by a space; {use}"
    if scheme is not None:
        return f"the Authorization scheme {scheme} is not supported; {use}"
    return f"the Authorization header does not start with a scheme; {use}"


def _basic(header: str, peer: Peer, directory: Directory, limiter: FailureLimiter) -> Identity | Refusal:
    host = peer.address.rsplit(":", 1)[0]
    try:
        credentials = parse_basic(header)
    except BasicError as exc:
        return _failed(limiter, limiter_key(host, None), f"malformed Basic credentials: {exc.reason}")
    key = limiter_key(host, credentials.userid)
    wait = limiter.retry_after(key)
    if wait is not None:
        return TooMany(429, f"too many failed attempts for this clientid from {host}; retry after {wait} s", wait)
    try:
        record = authenticate(credentials, directory.keys.values())
    except BasicError as exc:
        log.debug("Basic credentials from %s refused: %s", host, exc.reason)
        return _failed(limiter, key, not_accepted(credentials))
    limiter.success(key)
    return Identity(
        method="basic",
        key_name=record.name,
        instance=record.instance,
        roles=directory.roles_of(record.instance),
        clientid=record.clientid,
    )


def _failed(limiter: FailureLimiter, key: str, reason: str) -> Refusal:
    wait = limiter.failure(key)
    if wait is not None:
        return TooMany(429, f"{reason}; too many failed attempts, retry after {wait} s", wait)
    return Refusal(401, reason)


def _bearer(token: str, directory: Directory, authority: TokenAuthority) -> Identity | Refusal:
    try:
        claims = authority.verify_token(token.strip())
    except TokenError as exc:
        return Refusal(401, f"bearer token refused: {exc}")
    name = claims.get("cpimock_key")
    record = directory.keys.get(name) if isinstance(name, str) else None
    if record is None:
        return Refusal(401, f"bearer token of service key {name!r}, which no longer exists")
    if record.revoked:
        return Refusal(401, f"bearer token of service key {name!r}, which has been revoked")
    return Identity(
        method="oauth",
        key_name=record.name,
        instance=record.instance,
        roles=token_roles(claims, directory.tenant),
        clientid=record.clientid,
    )
