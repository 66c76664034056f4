"""The aiohttp application of a tenant: its routes, and the hot path past aiohttp's router.

``/http/...`` and ``/cxf/...`` requests go to the iFlow endpoint directly: aiohttp's router and
the application's set-up of each request cost about a twentieth of a request. Everything else
(the token endpoint, the MPL's OData API and monitor, the index page, and any request that
expects a ``100 Continue``, which the application's expect handler answers) goes through the
application. A path the application has no route for goes to the endpoint as well, which
answers it with a 404 that is logged and recorded, as for an unknown iFlow address. With
``[tenant] host`` set, a request whose ``Host`` is empty gets Cloud Foundry's router 400 and one
whose ``Host`` names no route of the tenant its 404, before any of this (recorded too).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from aiohttp import web

from cpimock.adapters import answers
from cpimock.adapters.endpoint import Endpoint
from cpimock.config.hosts import host_name
from cpimock.http.connection import peer_of
from cpimock.http.oauth import add_token_routes
from cpimock.identity.basic import FailureLimiter
from cpimock.identity.model import Identity
from cpimock.identity.tokens import TokenAuthority
from cpimock.mpl.journal import Journal
from cpimock.mpl.routes import add_mpl_routes
from cpimock.net import host_of, is_loopback
from cpimock.tenant.snapshot import Snapshot

__all__ = ["AppParts", "Dispatcher", "make_app"]

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class AppParts:
    """What the application's routes answer from."""

    snapshot: Callable[[], Snapshot]
    endpoint: Endpoint
    authority: TokenAuthority
    limiter: FailureLimiter
    journal: Journal | None
    url: Callable[[], str]


def make_app(parts: AppParts) -> web.Application:
    @web.middleware
    async def unrouted(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # only the router's own 404 (no route for the path); a route that answers 404 itself
        # (an unknown message id) keeps its answer
        if isinstance(request.match_info.http_exception, web.HTTPNotFound):
            return await parts.endpoint.handle(request)
        return await handler(request)

    app = web.Application(client_max_size=1 << 40, middlewares=[unrouted])
    for prefix in parts.endpoint.prefixes:
        app.router.add_route("*", prefix + "/{tail:.*}", parts.endpoint.handle)

    def instance_roles(name: str) -> frozenset[str] | None:
        instance = parts.snapshot().config.instances.get(name)
        return instance.roles if instance else None

    def peer_identity(request: web.Request) -> Identity | None:
        identity = peer_of(request, parts.snapshot()).identity
        return identity if isinstance(identity, Identity) else None

    async def may_monitor(request: web.Request) -> bool:
        snapshot = parts.snapshot()
        peer = peer_of(request, snapshot)
        if is_loopback(host_of(peer.address)):
            return True
        identity = peer.identity
        role = snapshot.config.journal.monitoring_role
        return isinstance(identity, Identity) and role in snapshot.directory.roles_of(identity.instance)

    async def index(request: web.Request) -> web.Response:
        snapshot, url = parts.snapshot(), parts.url()
        lines = [f"cpimock tenant {snapshot.config.tenant.name}", "", "Integration flows:"]
        for iflow in snapshot.iflows.values():
            for channel in iflow.channels:
                lines.append(f"  {url}{channel.url_path}  ({iflow.id}, {iflow.state})")
        lines += ["", f"Message monitor: {url}/monitor", f"MPL OData API: {url}/api/v1/MessageProcessingLogs"]
        return web.Response(text="\n".join(lines) + "\n")

    add_token_routes(
        app,
        authority=parts.authority,
        records=lambda: parts.snapshot().registry.records.values(),
        instance_roles=instance_roles,
        limiter=parts.limiter,
        peer_identity=peer_identity,
    )
    if parts.journal is not None:
        add_mpl_routes(app, parts.journal, may_monitor, tenant=parts.snapshot().config.tenant.name)
    app.router.add_get("/", index)
    return app


class Dispatcher:
    """The request handler of the server: iFlow requests to the endpoint, the rest to the app."""

    def __init__(
        self,
        endpoint: Endpoint,
        app_handler: Handler,
        routes: Callable[[], frozenset[str] | None] = lambda: None,
        bound: str = "",
    ) -> None:
        self._endpoint = endpoint
        self._app_handler = app_handler
        self._routes = routes  # the Host names served ([tenant] host set), else None: any
        self._bound = bound.strip("[]").lower()  # the address listened on, served as well

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        routes = self._routes()
        if routes is not None:
            name = host_name(request.headers.get("Host", ""))
            if not name:
                return self._endpoint.router_refusal(cast(web.Request, request), answers.empty_host(), "routing")
            if name not in routes and name != self._bound:
                return await self._endpoint.unknown_route(cast(web.Request, request))
        if self._endpoint.serves(request.path) and "Expect" not in request.headers:
            return await self._endpoint.handle(cast(web.Request, request))
        return await self._app_handler(request)
