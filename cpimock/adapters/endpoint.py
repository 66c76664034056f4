"""The shared way of every request after the handshake, whichever sender adapter serves it.

who is calling (identity.callers) → which channel (iflows.routing) → may they (role or DN
pair, the adapter's own checks such as CSRF, the body size) → the request as a Message
(adapter) → run the steps (steps.pipeline) → the answer in the adapter's shape → record (mpl).

A refusal at any point is answered in the adapter's shape, logged at INFO with its reason and
recorded in the message processing log. Whatever the steps leave that cannot be answered is a
failure like a step's exception: CPI's 500, and a FAILED record.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from cpimock import redaction
from cpimock.adapters import answers
from cpimock.adapters.exchange import NO_MPL_FIELDS, mpl_fields
from cpimock.adapters.request import read_limited
from cpimock.adapters.seam import Call, Refused, Reply, SenderAdapter
from cpimock.identity.authorize import authorize
from cpimock.identity.basic import FailureLimiter
from cpimock.identity.callers import Peer, TooMany, identify
from cpimock.identity.model import Refusal
from cpimock.identity.tokens import TokenAuthority
from cpimock.iflows.model import Route
from cpimock.iflows.routing import unsafe_path
from cpimock.message import LogAttachment, Message
from cpimock.mpl import record as mpl_record
from cpimock.mpl.record import MplRecord, StoredAttachment, new_message_guid, utcnow
from cpimock.steps.pipeline import StepError
from cpimock.tenant.snapshot import Snapshot

log = logging.getLogger(__name__)

__all__ = ["Endpoint", "EndpointContext"]


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


class _Unanswerable(StepError):
    """The steps left something the adapter cannot turn into an answer."""


class Endpoint:
    """The iFlow endpoint of one server process, for every prefix an adapter serves."""

    def __init__(self, context: EndpointContext, adapters: Mapping[str, SenderAdapter], prefixes: Mapping[str, str]):
        """*adapters* by kind (``"https"``); *prefixes* maps each served prefix (``"/http"``) to the
        kind that answers a request no channel serves there."""
        self._context = context
        self._adapters = dict(adapters)
        self._fallback = {prefix: self._adapters[kind] for prefix, kind in prefixes.items()}

    @property
    def prefixes(self) -> tuple[str, ...]:
        """The path prefixes this endpoint answers (``/http``)."""
        return tuple(self._fallback)

    def serves(self, path: str) -> bool:
        """Whether *path* lies under a prefix this endpoint answers (``/http/...``)."""
        cut = path.find("/", 1)
        return cut > 0 and path[:cut] in self._fallback

    async def handle(self, request: web.Request) -> web.StreamResponse:
        context = self._context
        snapshot = context.snapshot()
        peer = context.peer_of(request, snapshot)
        rec = _record_of(request, peer)
        path = request.path
        cut = path.find("/", 1)
        prefix, address = path[:cut], path[cut:]
        adapter = self._fallback[prefix]
        unsafe = unsafe_path(request.raw_path)
        if unsafe is not None:
            reason = f"the request path holds {unsafe}, which would change its meaning once decoded; leave it out"
            return self._refuse(rec, None, adapter, "http", answers.refused(400, reason))
        route = snapshot.routes.match(prefix, address)
        if route is not None:
            adapter = self._adapters[route.channel.adapter]
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
            return _response(early)
        body = await read_limited(request, channel.max_body_bytes)
        if body is None:
            return self._refuse(rec, route, adapter, "http", answers.too_large(channel.max_body_mb, iflow.id))
        return await self._run(call, adapter, body)

    async def _run(self, call: Call, adapter: SenderAdapter, body: bytes) -> web.StreamResponse:
        route, rec = call.route, call.record
        iflow = route.iflow
        rec.integration_flow_name = iflow.id
        rec.request_body = body
        level = call.request.headers.get("SAP_MessageProcessingLogLevel")
        rec.log_level, ignored = mpl_record.requested_log_level(level)
        if ignored:
            log.warning("message %s of integration flow %s: %s", rec.message_guid, iflow.id, ignored)
        try:
            message = adapter.message(call, body)
        except Refused as refused:
            return self._refuse(rec, route, adapter, refused.stage, refused.answer)
        result = message
        try:
            pipeline = call.snapshot.pipelines[iflow.id]
            result = await pipeline.run(message, iflow.timeout_s, self._context.loop)
            try:
                reply = adapter.reply(call, result)
                response = _response(reply)
            except StepError:
                raise
            except Exception as exc:  # a header whose str() raises, a body aiohttp refuses, ...
                raise _Unanswerable("response", f"the answer the steps left cannot be sent: {exc}") from exc
            rec.status = "COMPLETED"
        except StepError as exc:
            rec.status, rec.error, rec.error_step = "FAILED", str(exc), exc.step
            log.error(
                "integration flow %s failed (message %s): %s",
                iflow.id,
                rec.message_guid,
                exc,
                exc_info=exc.__cause__ if exc.__cause__ is not None else None,
            )
            reply = adapter.failure(call, exc)
            response = _response(reply)
        _fill_from_message(rec, result)
        rec.response_status, rec.response_headers, rec.response_body = reply.status, reply.headers, reply.body
        rec.log_end = utcnow()
        await self._context.arecord(rec)
        if log.isEnabledFor(logging.DEBUG):
            label = call.identity.label
            log.debug("%s %s → %d (%s, %s)", rec.request_method, rec.request_path, reply.status, iflow.id, label)
        return response

    def _refuse(
        self, rec: MplRecord, route: Route | None, adapter: SenderAdapter, stage: str, answer: answers.Answer
    ) -> web.Response:
        """Answer a refusal before the steps ran, and log and record it with its stage and reason."""
        reply = adapter.refusal(rec, answer)
        rec.status, rec.refusal_stage, rec.refusal_reason = "FAILED", stage, answer.reason
        rec.integration_flow_name = route.iflow.id if route else None
        rec.response_status, rec.response_headers, rec.response_body = reply.status, reply.headers, reply.body
        rec.log_end = utcnow()
        self._context.record(rec)
        log.info(
            "%s %s from %s refused with %d: %s",
            rec.request_method,
            rec.request_path,
            rec.peer,
            reply.status,
            answer.reason,
        )
        return _response(reply)


def _record_of(request: web.Request, peer: Peer) -> MplRecord:
    rec = MplRecord(
        message_guid=new_message_guid(),
        log_start=utcnow(),
        peer=peer.address,
        request_method=request.method,
        # a token in the query (or in a path whose %3F was decoded) is masked before anything is logged
        request_path=redaction.path(request.path),
        request_query=redaction.query(request.query_string) or None,
        request_headers=list(request.headers.items()),
    )
    cert = peer.certificate
    if cert is not None:
        rec.cert_subject, rec.cert_issuer = cert.subject, cert.issuer
        rec.cert_serial, rec.cert_fingerprint = cert.serial, cert.fingerprint
    return rec


def _response(reply: Reply) -> web.Response:
    return web.Response(status=reply.status, body=reply.body, headers=reply.headers)


def _fill_from_message(rec: MplRecord, message: Message) -> None:
    """What the steps put into the MPL entry (``SAP_ApplicationID``, the message log, ...)."""
    fields = mpl_fields(message)
    if fields is NO_MPL_FIELDS:
        return
    rec.application_message_id = fields.application_message_id
    rec.application_message_type = fields.application_message_type
    rec.sender, rec.receiver = fields.sender, fields.receiver
    rec.custom_status = fields.custom_status
    rec.custom_header_properties = list(fields.custom_header_properties)
    if rec.log_level in mpl_record.PROPERTY_LOG_LEVELS:
        rec.log_properties = [(name, _log_value(value)) for name, value in fields.log_properties.items()]
    rec.attachments = [_attachment(item) for item in fields.attachments]


def _log_value(value: object) -> str:
    """A message-log property as text: dates in ISO form, booleans as CPI writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _attachment(item: LogAttachment) -> StoredAttachment:
    data = item.text.encode() if isinstance(item.text, str) else bytes(item.text)
    return StoredAttachment(item.name, item.media_type, data)
