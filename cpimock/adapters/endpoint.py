"""The iFlow endpoint ``/http/<address>``: the way of one request after the handshake.

who is calling (callers) → which iFlow (routing) → may they (role or DN pair, CSRF, size)
→ run the steps (handlers, Message) → CPI-shaped answer (cpi) → record (journal).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from cpimock import redaction
from cpimock.adapters import answers as cpi
from cpimock.adapters import exchange
from cpimock.config import IFlowConfig
from cpimock.identity import csrf
from cpimock.identity.callers import Peer, TooMany, identify
from cpimock.identity.directory import FinalRefusal, Identity, Refusal, authorize
from cpimock.iflows.routing import unsafe_path
from cpimock.mpl.record import MplRecord, new_message_guid, utcnow
from cpimock.steps.pipeline import Pipeline, StepError

if TYPE_CHECKING:
    from cpimock.http.server import Server

log = logging.getLogger(__name__)

# request headers that never reach a step, whatever allowed_headers says
_NEVER_ALLOWED = frozenset({"authorization", "cookie", "proxy-authorization", "x-csrf-token"})
_MPL_ID_LOWER = cpi.MPL_ID_HEADER.lower()
_REGEX_CHARS = re.compile(r"[.*+?\[\]()|^$\\]")


@functools.lru_cache(maxsize=256)
def header_filter(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """CPI's *Allowed Header(s)*: names or regular expressions, ``*`` for all (case-insensitive)."""
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


def _charset(request: web.Request) -> str | None:
    """The Content-Type's charset, parsed only when named: most requests name none, and aiohttp's
    parsing of the header costs more than the rest of the request's header handling."""
    content_type = request.headers.get("Content-Type")
    if content_type is None or "charset" not in content_type.lower():
        return None
    return request.charset


def inbound_headers(request: web.Request, iflow: IFlowConfig) -> dict[str, str]:
    """Content-Type plus the allowed request headers and query parameters (CPI merges both)."""
    allowed = header_filter(iflow.allowed_headers)
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in _NEVER_ALLOWED or lower.startswith("camel"):
            continue
        if lower == "content-type" or allowed(name):
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if not request.query_string:
        return headers
    for name, value in request.query.items():
        if allowed(name) and not name.lower().startswith("camel"):
            # "if a header of the same name exists, the query value is appended"
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


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


def _log_value(value: object) -> str:
    """A message-log property as text: dates in ISO form, booleans as CPI writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class Inbound:
    """The ``/http/{tail}`` handler of one server process."""

    def __init__(self, tenant: Server) -> None:
        self.tenant = tenant

    async def handle(self, request: web.Request) -> web.StreamResponse:
        snapshot = self.tenant.reloader.current
        peer: Peer = self.tenant.peer_of(request)
        address = request.path[5:]  # "/http/a/b" -> "/a/b"
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
        if peer.certificate is not None:
            c = peer.certificate
            rec.cert_subject, rec.cert_issuer, rec.cert_serial, rec.cert_fingerprint = (
                c.subject,
                c.issuer,
                c.serial,
                c.fingerprint,
            )
        unsafe = unsafe_path(request.raw_path)
        if unsafe is not None:
            reason = f"the request path holds {unsafe}, which would change its meaning once decoded; leave it out"
            return self._refuse(rec, "http", cpi.refused(400, reason), None)
        match = snapshot.router.match(address)
        iflow = match[0] if match else None
        authorization = request.headers.get("Authorization")
        if authorization is not None and len(request.headers.getall("Authorization")) > 1:
            # which one would count is a guess (the first, the last, a list of both): guess nothing
            reason = "the request carries more than one Authorization header; send exactly one"
            return self._refuse(rec, "http", cpi.refused(400, reason), iflow)
        who = identify(authorization, peer, snapshot, self.tenant.authority, self.tenant.limiter)
        if (
            isinstance(who, Refusal)
            and not isinstance(who, FinalRefusal)
            and iflow is not None
            and iflow.authorization == "client-certificate"
            and not authorization
            and peer.certificate is not None
        ):
            # DN mode needs no service key: the channel's subject/issuer list decides alone
            c = peer.certificate
            who = Identity(
                "certificate", subject=c.subject, issuer=c.issuer, serial=c.serial, fingerprint=c.fingerprint
            )
        if isinstance(who, Refusal):
            if isinstance(who, TooMany):
                answer = cpi.refused(429, who.reason, headers={"Retry-After": str(who.retry_after)})
            else:
                answer = cpi.unauthorized(who.reason, basic=iflow is None or "basic" in iflow.auth_methods)
            return self._refuse(rec, "auth", answer, iflow)
        rec.auth_method, rec.service_key, rec.instance = who.method, who.key_name, who.instance
        if iflow is None:
            return self._refuse(rec, "routing", cpi.not_found(rec.request_path or ""), None)
        if who.method not in iflow.auth_methods:
            reason = (
                f"integration flow {iflow.id} does not accept {who.method} callers "
                f"(auth_methods = {sorted(iflow.auth_methods)})"
            )
            return self._refuse(rec, "auth", cpi.unauthorized(reason, basic="basic" in iflow.auth_methods), iflow)
        if iflow.state == "stopped":
            return self._refuse(rec, "routing", cpi.stopped(iflow.id), iflow)
        cert = peer.certificate if who.method == "certificate" else None
        denied = authorize(who, iflow, cert.subject_key if cert else None, cert.issuer_key if cert else None)
        if denied is not None:
            return self._refuse(rec, "authorization", cpi.refused(403, denied.reason), iflow)
        if iflow.csrf:
            early = self._csrf(request, who, rec, iflow)
            if early is not None:
                return early
        limit = int(iflow.max_body_mb * 1024 * 1024)
        body = await read_limited(request, limit)
        if body is None:
            return self._refuse(rec, "http", cpi.too_large(iflow.max_body_mb, iflow.id), iflow)
        return await self._run(request, snapshot.pipelines[iflow.id], iflow, who, match[1] if match else "", body, rec)

    def _csrf(self, request: web.Request, who: Identity, rec: MplRecord, iflow: IFlowConfig) -> web.Response | None:
        guard = self.tenant.csrf
        key = who.key_name or who.clientid or who.fingerprint or who.label
        session = request.cookies.get(csrf.SESSION_COOKIE)
        presented = request.headers.get(csrf.HEADER)
        if csrf.is_fetch(request.method, presented):
            fetched = guard.fetch(key, session)
            response = web.Response(status=200, headers={csrf.HEADER: fetched.token})
            if fetched.new_session:
                response.set_cookie(csrf.SESSION_COOKIE, fetched.session, path="/", secure=True, httponly=True)
            log.debug("CSRF token fetched by %s for %s", who.label, iflow.id)
            return response
        verdict = guard.check(request.method, key, session, presented)
        if verdict.ok:
            return None
        reason = f"CSRF token validation failed ({verdict.reason}); fetch one with a GET and X-CSRF-Token: Fetch first"
        return self._refuse(rec, "authorization", cpi.refused(403, reason, headers={csrf.HEADER: csrf.REQUIRED}), iflow)

    async def _run(
        self,
        request: web.Request,
        pipeline: Pipeline,
        iflow: IFlowConfig,
        who: Identity,
        dynamic_path: str,
        body: bytes,
        rec: MplRecord,
    ) -> web.Response:
        snapshot = self.tenant.reloader.current
        dn_mode = iflow.authorization == "client-certificate"
        user = None
        if not dn_mode and snapshot.config.oauth.sap_authenticated_user_name == "clientid":
            user = who.clientid
        rec.integration_flow_name = iflow.id
        rec.request_body = body
        rec.log_level = request.headers.get("SAP_MessageProcessingLogLevel", "INFO").upper()
        message = exchange.build_message(
            body=body,
            headers=inbound_headers(request, iflow),
            method=request.method,
            url=f"{request.scheme}://{request.host}{request.path}",
            query=request.query_string or None,
            context_path=iflow.address,
            path=dynamic_path,
            mpl_id=rec.message_guid,
            identity=who,
            authenticated_user=user,
            correlation_id=rec.correlation_id,
            charset=_charset(request),
        )
        result = message
        try:
            result = await pipeline.run(message, iflow.timeout_s, self.tenant.loop)
            status, headers, out = exchange.response_parts(result)
            rec.status = "COMPLETED"
        except StepError as exc:
            # the step's own exception text, as CPI returns it; a timeout (or an exception without
            # text) is described by the StepError itself
            error = (str(exc.__cause__) if exc.__cause__ is not None else "") or str(exc)
            rec.status, rec.error, rec.error_step = "FAILED", str(exc), exc.step
            log.error(
                "integration flow %s failed (message %s): %s",
                iflow.id,
                rec.message_guid,
                exc,
                exc_info=exc.__cause__ if exc.__cause__ is not None else None,
            )
            answer = cpi.failed(rec.message_guid, error, iflow.return_exception_to_sender)
            status, headers, out = answer.status, list(answer.headers.items()), answer.body.encode()
        fields = exchange.mpl_fields(result)
        if fields is not exchange.NO_MPL_FIELDS:
            rec.application_message_id = fields.application_message_id
            rec.application_message_type = fields.application_message_type
            rec.sender, rec.receiver = fields.sender, fields.receiver
            rec.custom_status = fields.custom_status
            rec.custom_header_properties = list(fields.custom_header_properties)
            rec.log_properties = [(name, _log_value(value)) for name, value in fields.log_properties.items()]
            rec.attachments = [self.tenant.attachment(a) for a in fields.attachments]
        # the log id is the server's to set: a step's own value (in any case) gives way to it
        mpl_id = cpi.MPL_ID_HEADER
        response_headers = [(n, v) for n, v in headers if len(n) != len(mpl_id) or n.lower() != _MPL_ID_LOWER]
        response_headers.append((mpl_id, rec.message_guid))
        rec.response_status, rec.response_headers, rec.response_body = status, response_headers, out
        rec.log_end = utcnow()
        await self.tenant.arecord(rec)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s → %d (%s, %s)", rec.request_method, rec.request_path, status, iflow.id, who.label)
        return web.Response(status=status, body=out, headers=response_headers)

    def _refuse(self, rec: MplRecord, stage: str, answer: cpi.Answer, iflow: IFlowConfig | None) -> web.Response:
        """Answer a refusal before the steps ran, and log and record it with its stage and reason."""
        reason = answer.reason
        headers = {**answer.headers, cpi.LOG_ID_HEADER: rec.message_guid}
        body = answer.body.encode()
        rec.status, rec.refusal_stage, rec.refusal_reason = "FAILED", stage, reason
        rec.integration_flow_name = iflow.id if iflow else None
        rec.response_status, rec.response_headers, rec.response_body = answer.status, list(headers.items()), body
        rec.log_end = utcnow()
        self.tenant.record(rec)
        log.info(
            "%s %s from %s refused with %d: %s", rec.request_method, rec.request_path, rec.peer, answer.status, reason
        )
        return web.Response(status=answer.status, body=body, headers=headers)
