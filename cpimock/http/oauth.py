"""The tenant's OAuth token endpoint, shaped like XSUAA's: ``POST /oauth/token`` and the key set.

``grant_type=client_credentials`` (query or form body) with the client authenticated by one of:
``Authorization: Basic clientid:secret``; ``client_id`` and ``client_secret`` in the body; or, for
certificate keys, the TLS client certificate plus ``client_id`` in the body. The answer is
XSUAA's JSON, the token an RS256 JWT of :mod:`cpimock.jwt`. The public key is served at
``/token_keys`` (XSUAA's path) and ``/.well-known/jwks.json``.

Error bodies follow the UAA under XSUAA: a bad client gets ``401`` with
``{"error": "unauthorized", "error_description": "Bad credentials"}`` and
``WWW-Authenticate: Basic realm="UAA/client", ...`` (cloudfoundry/uaa issues #2545 and #976);
a missing or unknown grant type gets ``400`` ``invalid_request`` / ``unsupported_grant_type``
(RFC 6749 section 5.2). Repeated failures get ``429`` with ``Retry-After``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, Protocol

from aiohttp import web

from cpimock.identity.basic import BasicCredentials, BasicError, FailureLimiter, authenticate, limiter_key, parse_basic
from cpimock.identity.tokens import TokenAuthority
from cpimock.workspace.registry import KeyRecord

TOKEN_PATH = "/oauth/token"
JWKS_PATHS = ("/token_keys", "/.well-known/jwks.json")
GRANT_TYPE = "client_credentials"

log = logging.getLogger(__name__)


class PeerIdentity(Protocol):
    """What the token endpoint needs of the identity the TLS layer found for a client certificate."""

    @property
    def method(self) -> str: ...

    @property
    def key_name(self) -> str | None: ...

    @property
    def clientid(self) -> str | None: ...


PeerLookup = Callable[[web.Request], PeerIdentity | None]
RecordsLookup = Callable[[], Iterable[KeyRecord]]
RolesLookup = Callable[[str], frozenset[str] | None]


class _Refusal(Exception):
    def __init__(self, response: web.Response, reason: str) -> None:
        super().__init__(reason)
        self.response = response
        self.reason = reason


def _json_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> web.Response:
    all_headers = {"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})}
    return web.json_response({"error": error, "error_description": description}, status=status, headers=all_headers)


def _unauthorized(reason: str, description: str = "Bad credentials") -> _Refusal:
    challenge = f'Basic realm="UAA/client", error="unauthorized", error_description="{description}"'
    return _Refusal(_json_error(401, "unauthorized", description, {"WWW-Authenticate": challenge}), reason)


def _too_many(retry_after: int, reason: str) -> _Refusal:
    response = _json_error(
        429,
        "too_many_requests",
        f"Too many failed authentication attempts; retry after {retry_after} s",
        {"Retry-After": str(retry_after)},
    )
    return _Refusal(response, reason)


class _TokenEndpoint:
    def __init__(
        self,
        authority: TokenAuthority,
        records: RecordsLookup,
        instance_roles: RolesLookup,
        limiter: FailureLimiter,
        peer_identity: PeerLookup | None,
    ) -> None:
        self.authority = authority
        self.records = records
        self.instance_roles = instance_roles
        self.limiter = limiter
        self.peer_identity = peer_identity

    async def token(self, request: web.Request) -> web.Response:
        host = request.remote or "unknown"
        try:
            params = await _params(request)
            record = self._client(request, params, host)
            grant = params.get("grant_type")
            if not grant:
                raise _Refusal(_json_error(400, "invalid_request", "Missing grant type"), "no grant_type")
            if grant != GRANT_TYPE:
                raise _Refusal(
                    _json_error(400, "unsupported_grant_type", f"Unsupported grant type: {grant}"),
                    f"grant_type {grant!r}",
                )
        except _Refusal as refusal:
            status = refusal.response.status
            log.warning("token request from %s refused (%s): %s", request.remote, status, refusal.reason)
            return refusal.response
        roles = self.instance_roles(record.instance)
        if roles is None:
            log.warning(
                "service key %r names instance %r, which cpimock.toml lacks: no roles", record.name, record.instance
            )
            roles = frozenset()
        token, claims = self.authority.issue_token(
            clientid=record.clientid,
            roles=roles,
            instance=record.instance,
            key_name=record.name,
            issuer=self.authority.issuer_for(request.host),
        )
        log.info("token %s issued to service key %r (scopes %s)", claims["jti"], record.name, " ".join(claims["scope"]))
        body: dict[str, Any] = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": claims["exp"] - claims["iat"],
            "scope": " ".join(claims["scope"]),
            "jti": claims["jti"],
        }
        return web.json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _client(self, request: web.Request, params: dict[str, str], host: str) -> KeyRecord:
        header = request.headers.get("Authorization")
        body_id, body_secret = params.get("client_id"), params.get("client_secret")
        if header is not None and body_secret is not None:
            raise _Refusal(
                _json_error(400, "invalid_request", "Client credentials given both as Basic and in the body"),
                "two client authentication methods",
            )
        if header is not None:
            try:
                credentials = parse_basic(header)
            except BasicError as exc:
                self._failed(limiter_key(host, None), exc.reason)
            return self._secret(credentials, host)
        if body_id and body_secret is not None:
            return self._secret(BasicCredentials(body_id, body_secret), host)
        identity = self.peer_identity(request) if self.peer_identity is not None else None
        if body_id and identity is not None:
            if identity.clientid != body_id:
                raise _unauthorized(
                    f"client certificate belongs to {identity.key_name!r}, not to client_id {body_id!r}"
                )
            found = [r for r in self.records() if r.clientid == body_id and not r.revoked]
            named = [r for r in found if r.name == identity.key_name] or found
            if not named:
                raise _unauthorized(f"no live service key has client_id {body_id!r}")
            return named[0]
        if body_id:
            raise _unauthorized(f"client_id {body_id!r} without secret or client certificate")
        raise _unauthorized("no client authentication", "Full authentication is required to access this resource")

    def _secret(self, credentials: BasicCredentials, host: str) -> KeyRecord:
        records = list(self.records())
        key = limiter_key(host, credentials.userid)
        wait = self.limiter.retry_after(key)
        if wait is not None:
            raise _too_many(wait, f"{key} is cooling down after repeated failures")
        try:
            record = authenticate(credentials, records)
        except BasicError as exc:
            self._failed(key, exc.reason)
        self.limiter.success(key)
        return record

    def _failed(self, key: str, reason: str) -> NoReturn:
        wait = self.limiter.failure(key)
        if wait is not None:
            raise _too_many(wait, f"{reason}; {key} now cools down for {wait} s")
        raise _unauthorized(reason)

    async def keys(self, request: web.Request) -> web.Response:
        return web.json_response(self.authority.jwks(), headers={"Cache-Control": "max-age=300"})


async def _params(request: web.Request) -> dict[str, str]:
    """Query and form parameters; a name given twice with different values is an invalid request."""
    merged: dict[str, str] = {}
    sources: list[Iterable[tuple[str, Any]]] = [request.query.items()]
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        sources.append((await request.post()).items())
    for source in sources:
        for name, value in source:
            if not isinstance(value, str):
                continue
            if merged.get(name, value) != value:
                raise _Refusal(
                    _json_error(400, "invalid_request", f"Parameter {name} given more than once"),
                    f"conflicting {name} values",
                )
            merged[name] = value
    return merged


def add_token_routes(
    app: web.Application,
    *,
    authority: TokenAuthority,
    records: RecordsLookup,
    instance_roles: RolesLookup,
    limiter: FailureLimiter,
    peer_identity: PeerLookup | None = None,
) -> None:
    """Mount ``POST /oauth/token``, ``GET /token_keys`` and ``GET /.well-known/jwks.json`` on *app*.

    *records* returns the registry's current key records; *instance_roles* the roles of a service
    instance by name (None when the instance is unknown); *peer_identity* the identity the TLS
    layer mapped the request's client certificate to, or None when there is none.
    """
    endpoint = _TokenEndpoint(authority, records, instance_roles, limiter, peer_identity)
    app.router.add_post(TOKEN_PATH, endpoint.token)
    for path in JWKS_PATHS:
        app.router.add_get(path, endpoint.keys)
