"""The shared way of every request after the handshake, whichever sender adapter serves it.

who is calling (identity.callers) → which channel (iflows.routing) → may they (role or DN
pair, the adapter's own checks such as CSRF, the body size) → the request as a Message
(adapter) → run the steps (steps.pipeline) → the answer in the adapter's shape → record (mpl).

A refusal at any point is answered in the adapter's shape, logged at INFO with its reason and
recorded in the message processing log. Running the steps, answering and recording the
message is :mod:`cpimock.adapters.processing`'s: whatever the steps leave that cannot be
answered is a failure like a step's exception (CPI's 500, and a FAILED record).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from multidict import CIMultiDictProxy

from cpimock import redaction
from cpimock.adapters import answers
from cpimock.adapters.processing import Processor, response
from cpimock.adapters.request import read_arrived, read_limited
from cpimock.adapters.seam import SYNCHRONOUS, Call, Refused, Reply, SenderAdapter
from cpimock.errors import CpimockError
from cpimock.identity.authorize import authorize
from cpimock.identity.basic import FailureLimiter
from cpimock.identity.callers import Peer, TooMany, identify
from cpimock.identity.model import Identity, Refusal
from cpimock.identity.tokens import TokenAuthority
from cpimock.iflows.model import Route
from cpimock.iflows.routing import unsafe_path
from cpimock.mpl import record as mpl_record
from cpimock.mpl import sender_ids
from cpimock.mpl.record import MplRecord, new_message_guid, utcnow
from cpimock.tenant.snapshot import Snapshot

log = logging.getLogger(__name__)

__all__ = ["AdapterSource", "Endpoint", "EndpointContext"]


class AdapterSource(Protocol):
    """The sender adapters by kind (``"https"``); ``None`` for a kind cpimock does not serve."""

    def get(self, kind: str, /) -> SenderAdapter | None: ...


@dataclass(frozen=True, slots=True)
class EndpointContext:
    """What the endpoint needs of the running server, and no more."""

    snapshot: Callable[[], Snapshot]
    peer_of: Callable[[web.BaseRequest, Snapshot], Peer]
    authority: TokenAuthority
    limiter: FailureLimiter
    record: Callable[[MplRecord], None]
    arecord: Callable[[MplRecord], Awaitable[None]]
    loop: asyncio.AbstractEventLoop
    # whether the MPL has a message with this id (a sender's SAP_PregeneratedMplId)
    logged: Callable[[str], bool] = lambda guid: False


class Endpoint:
    """The iFlow endpoint of one server process, for every prefix an adapter serves."""

    def __init__(
        self,
        context: EndpointContext,
        adapters: AdapterSource,
        prefixes: Mapping[str, str],
        *,
        default: str = "https",
    ):
        """*adapters* by kind (``"https"``), asked for one when a request or a channel needs it;
        *prefixes* maps each served prefix (``"/http"``) to the kind that answers a request no
        channel serves there; *default* is the kind that answers a path under no prefix at all."""
        self._context = context
        self._adapters = adapters
        self._fallback = dict(prefixes)
        self._default = self._adapter(default)
        self._processor = Processor(context.loop, context.record, context.arecord)
        self._used_ids = sender_ids.UsedIds(context.logged)

    @property
    def prefixes(self) -> tuple[str, ...]:
        """The path prefixes this endpoint answers (``/http``)."""
        return tuple(self._fallback)

    def serves(self, path: str) -> bool:
        """Whether *path* lies under a prefix this endpoint answers (``/http/...``)."""
        cut = path.find("/", 1)
        return cut > 0 and path[:cut] in self._fallback

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer *request*, whatever its path: one no channel serves gets a recorded 404."""
        context = self._context
        snapshot = context.snapshot()
        peer = context.peer_of(request, snapshot)
        rec = _record_of(request, peer)
        path = request.path
        cut = path.find("/", 1)
        prefix, address = (path[:cut], path[cut:]) if cut > 0 else (path, "/")
        fallback = self._fallback.get(prefix)
        if fallback is None:  # a path no adapter serves: a 404 like an unknown address, and recorded
            adapter, prefix = self._default, ""
        else:
            adapter = self._adapter(fallback)
        unsafe = unsafe_path(request.raw_path)
        if unsafe is not None:
            reason = f"the request path holds {unsafe}, which would change its meaning once decoded; leave it out"
            return self._refuse(rec, None, adapter, "http", answers.refused(400, reason))
        route = snapshot.routes.match(prefix, address) if prefix else None
        if route is not None:
            adapter = self._adapter(route.channel.adapter)
        authorization = request.headers.get("Authorization")
        if authorization is not None and len(request.headers.getall("Authorization")) > 1:
            # which one would count is a guess (the first, the last, a list of both): guess nothing
            reason = "the request carries more than one Authorization header; send exactly one"
            return self._refuse(rec, route, adapter, "http", answers.refused(400, reason))
        dn_mode = route is not None and route.channel.authorization == "client-certificate"
        who = identify(authorization, peer, snapshot.directory, context.authority, context.limiter, dn_mode=dn_mode)
        if isinstance(who, Refusal):
            if isinstance(who, TooMany):
                answer = answers.refused(429, who.reason, headers={"Retry-After": str(who.retry_after)})
            else:
                basic = route is None or "basic" in route.iflow.auth_methods
                answer = answers.unauthorized(who.reason, basic=basic)
            return self._refuse(rec, route, adapter, "auth", answer)
        rec.auth_method, rec.service_key, rec.instance = who.method, who.key_name, who.instance
        if route is None:
            return self._refuse(rec, None, adapter, "routing", answers.not_found(rec.request_path or ""))
        iflow, channel = route.iflow, route.channel
        if who.method not in iflow.auth_methods:
            reason = (
                f"integration flow {iflow.id} does not accept {who.method} callers "
                f"(auth_methods = {sorted(iflow.auth_methods)})"
            )
            answer = answers.unauthorized(reason, basic="basic" in iflow.auth_methods)
            return self._refuse(rec, route, adapter, "auth", answer)
        if iflow.state == "stopped":
            return self._refuse(rec, route, adapter, "routing", answers.stopped(iflow.id))
        cert = peer.certificate if who.method == "certificate" else None
        denied = authorize(who, channel, cert.subject_key if cert else None, cert.issuer_key if cert else None)
        if denied is not None:
            return self._refuse(rec, route, adapter, "authorization", answers.refused(403, denied.reason))
        call = Call(request, snapshot, peer, rec, route, who)
        try:
            early = adapter.admit(call)
        except Refused as refused:
            return self._refuse(rec, route, adapter, refused.stage, refused.answer)
        if early is not None:
            return response(early)
        body = read_arrived(request, channel.max_request_bytes)
        if body is False:
            body = await read_limited(request, channel.max_request_bytes)
        if body is None:
            if channel.max_attachment_mb:
                limit = channel.max_body_mb + channel.max_attachment_mb
                answer = answers.too_large(limit, iflow.id, "max_body_mb + max_attachment_mb", "the request")
            else:
                answer = answers.too_large(channel.max_body_mb, iflow.id)
            return self._refuse(rec, route, adapter, "http", answer)
        # the steps run here rather than in a coroutine of their own: one coroutine less per request
        rec.integration_flow_name = iflow.id
        if iflow.name:
            rec.integration_artifact_name = iflow.name
        rec.request_body = body
        headers = request.headers
        level = headers.get("SAP_MessageProcessingLogLevel")
        if level is None:  # without it, the message logs at the iFlow's level
            rec.log_level = iflow.log_level
        else:
            rec.log_level, ignored = mpl_record.requested_log_level(level, iflow.log_level)
            if ignored:
                log.warning("message %s of integration flow %s: %s", rec.message_guid, iflow.id, ignored)
        try:
            if sender_ids.PREGENERATED_HEADER in headers or sender_ids.CORRELATION_HEADER in headers:
                await self._sender_ids(rec, headers)
            message = adapter.message(call, body)
            delivery = adapter.delivery(call, message)
            if delivery is SYNCHRONOUS:
                return await self._processor.run(call, adapter, message)
            return await self._processor.deliver(call, adapter, message, delivery)
        except Refused as refused:
            return self._refuse(rec, route, adapter, refused.stage, refused.answer, refused.reply)

    async def unknown_route(self, request: web.Request) -> web.StreamResponse:
        """A request whose ``Host`` names no route of the tenant: the router's 404, recorded."""
        return self.router_refusal(request, answers.no_route(request.headers.get("Host", "")), "routing")

    def router_refusal(self, request: web.Request, answer: answers.Answer, stage: str) -> web.Response:
        """*answer* of the router in front of the tenant (no route for the ``Host``, an empty
        ``Host``), as the router writes it, logged and recorded as refused at *stage*."""
        snapshot = self._context.snapshot()
        rec = _record_of(request, self._context.peer_of(request, snapshot))
        reply = Reply.of(answer)
        return self._refuse(rec, None, self._default, stage, answer, reply)

    def unreadable(self, request: web.BaseRequest, reason: str) -> web.Response:
        """400 for a request the HTTP parser could not read (*reason* says why, without the
        sender's bytes), logged and recorded: what the request said is unknown, its caller is not."""
        snapshot = self._context.snapshot()
        rec = MplRecord(message_guid=new_message_guid(), log_start=utcnow(), peer=None)
        peer = self._context.peer_of(request, snapshot)
        _caller_of(rec, peer)
        who = peer.identity
        if isinstance(who, Identity):  # the certificate's key: no header can say otherwise here
            rec.auth_method, rec.service_key, rec.instance = who.method, who.key_name, who.instance
        answer = answers.refused(400, f"the request is not valid HTTP/1.1: {reason}")
        reply = Reply.of(answer)
        refused = self._refuse(rec, None, self._default, "http", answer, reply)
        refused.force_close()
        return refused

    async def _sender_ids(self, rec: MplRecord, headers: CIMultiDictProxy[str]) -> None:
        """The MPL id and correlation id the sender chose; :class:`Refused` for ones that cannot be."""
        try:
            guid, correlation = sender_ids.chosen(lambda name: headers.getall(name, ()))
        except sender_ids.SenderIdError as exc:
            raise Refused("http", answers.refused(400, str(exc))) from None
        if correlation is not None:
            rec.correlation_id = correlation
        if guid is None:
            return
        claim = await self._used_ids.claim(guid)
        if claim == "used":
            reason = (
                f"{sender_ids.PREGENERATED_HEADER} {guid} is the id of a message the tenant has already; send a new one"
            )
            raise Refused("http", answers.refused(409, reason))
        if claim == "unknown":
            reason = f"the message processing log cannot say whether {guid} is taken; send the message again later"
            raise Refused("processing", answers.refused(503, reason))
        rec.message_guid = guid

    def _adapter(self, kind: str) -> SenderAdapter:
        adapter = self._adapters.get(kind)
        if adapter is None:  # a channel's kind is checked when its configuration is read
            raise KeyError(f"no sender adapter of kind {kind!r}")
        return adapter

    def check(self, snapshot: Snapshot) -> None:
        """Raise :class:`CpimockError` naming every channel of *snapshot* its adapter cannot serve."""
        problems = []
        for iflow in snapshot.iflows.values():
            for channel in iflow.channels:
                adapter = self._adapters.get(channel.adapter)
                problem = (
                    f"cpimock does not serve adapter {channel.adapter!r} yet"
                    if adapter is None
                    else adapter.check(channel)
                )
                if problem is not None:
                    problems.append(f"integration flow {iflow.id}: {problem}")
        if problems:
            raise CpimockError("; ".join(problems))

    @property
    def busy(self) -> bool:
        """Whether steps of a call that was answered before they ended are still running."""
        return self._processor.busy

    async def settle(self) -> None:
        """Wait until the steps of every call answered so far have ended and their messages are recorded."""
        await self._processor.settle()

    async def drain(self, timeout: float) -> None:
        """At stop: let steps still running end within *timeout* seconds, then cut them short."""
        await self._processor.drain(timeout)
        self._processor.close()

    def forget_deliveries(self) -> None:
        """Forget the message ids delivered exactly once so far (for test fixtures)."""
        self._processor.forget_deliveries()

    def _refuse(
        self,
        rec: MplRecord,
        route: Route | None,
        adapter: SenderAdapter,
        stage: str,
        answer: answers.Answer,
        reply: Reply | None = None,
    ) -> web.Response:
        """Answer a refusal before the steps ran, and log and record it with its stage and reason."""
        reply = reply or adapter.refusal(rec, answer)
        rec.status, rec.refusal_stage, rec.refusal_reason = "FAILED", stage, answer.reason
        rec.integration_flow_name = route.iflow.id if route else None
        if route and route.iflow.name:
            rec.integration_artifact_name = route.iflow.name
        rec.response_status, rec.response_headers, rec.response_body = reply.status, reply.headers, reply.body
        rec.log_end = utcnow()
        self._context.record(rec)
        log.info(
            "%s %s from %s refused with %d: %s",
            rec.request_method or "a request",
            rec.request_path or "(unreadable)",
            rec.peer,
            reply.status,
            answer.reason,
        )
        return response(reply)


def _record_of(request: web.Request, peer: Peer) -> MplRecord:
    rec = MplRecord(
        message_guid=new_message_guid(),
        log_start=utcnow(),
        request_method=request.method,
        # a token in the query (or in a path whose %3F was decoded) is masked before anything is logged
        request_path=redaction.path(request.path),
        request_query=redaction.query(request.query_string) or None,
        request_headers=list(request.headers.items()),
    )
    _caller_of(rec, peer)
    return rec


def _caller_of(rec: MplRecord, peer: Peer) -> None:
    """The connection's address and certificate into *rec*."""
    rec.peer = peer.address
    cert = peer.certificate
    if cert is not None:
        rec.cert_subject, rec.cert_issuer = cert.subject, cert.issuer
        rec.cert_serial, rec.cert_fingerprint = cert.serial, cert.fingerprint
