"""CPI's SOAP 1.x sender adapter: ``/cxf/<address>``, SOAP 1.1 and 1.2, Request-Reply and One-Way.

The steps get the Body's payload element as the message body (UTF-8) and the header blocks as
:class:`~cpimock.message.SoapHeader` values in ``message.soap_headers`` (``getSoapHeaders()``),
plus the ``SOAPAction`` header (and, for a WSDL-based channel, ``operationName`` and
``operationNamespace``, as Camel's CXF binding sets them). A Request-Reply channel answers with
the steps' body in an envelope of the request's version (and ``CamelHttpResponseCode`` as the
status, as CPI documents); a One-Way channel acknowledges with ``one_way_status``: before the
steps run (*WS Standard*: errors reach the MPL only) or after them (*Robust*: a failure is a
fault). A WSDL-based channel accepts only its operations' payload elements. ``GET ?wsdl`` gives
the channel's WSDL with its address pointing here, or a generic one for a *Manual* channel.
"""

from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass

from cpimock.adapters.cxf import (
    VERSION,
    CxfAdapter,
    adapter_message,
    check_body,
    server_problem,
    too_large,
    unreadable,
)
from cpimock.adapters.encoding import EncodingError, undeclared_to_utf8
from cpimock.adapters.exchange import ResponseError, response_status
from cpimock.adapters.seam import SYNCHRONOUS, Call, Delivery, Reply
from cpimock.adapters.soap.addressing import WSA10, WSA2004
from cpimock.adapters.soap.attachments import Related, TooLarge, is_related, read_related
from cpimock.adapters.soap.envelope import Envelope, HeaderBlock, check_must_understand, read_envelope
from cpimock.adapters.soap.protocol import QName, SoapError, parse_content_type
from cpimock.adapters.soap.reply import ReplyError, addressing_headers, build_reply
from cpimock.adapters.soap.wsdl import WsdlError, generic_wsdl, serve_wsdl
from cpimock.adapters.soap.wsdl_operations import Operation, match_operation, operations_of
from cpimock.config import SoapChannel
from cpimock.iflows.model import Channel
from cpimock.message import Attachment, Message, SoapHeader
from cpimock.wire import MPL_ID_HEADER

log = logging.getLogger(__name__)

__all__ = ["ADDRESSING", "SoapAdapter", "SoapCall"]

STATE = "soap.call"
_WSDL_QUERIES = ("wsdl", "singlewsdl")
ADDRESSING = frozenset(
    QName(ns, name)
    for ns in (WSA10, WSA2004)
    for name in ("MessageID", "Action", "To", "ReplyTo", "FaultTo", "From", "RelatesTo")
)


@dataclass(frozen=True, slots=True)
class SoapCall:
    """What the adapter read from the request, for its answer."""

    envelope: Envelope
    operation: Operation | None
    one_way: bool


@functools.lru_cache(maxsize=64)
def _operations(wsdl: bytes, service: str | None, port: str | None) -> tuple[Operation, ...]:
    """A WSDL-based channel's operations, read once per WSDL (its bytes keep their hash)."""
    return operations_of(wsdl, service=service, port=port)


class SoapAdapter(CxfAdapter):
    kind = "soap"

    def check(self, channel: Channel) -> str | None:
        soap = channel.soap
        if soap is None or soap.wsdl is None:
            return None
        try:
            self.operations(soap)
        except WsdlError as exc:
            return f"the WSDL {soap.wsdl_file or ''} cannot be served: {exc}"
        return None

    def operations(self, soap: SoapChannel) -> tuple[Operation, ...]:
        """The operations of the channel's WSDL (raises :class:`WsdlError`)."""
        assert soap.wsdl is not None
        return _operations(soap.wsdl, soap.service, soap.port)

    def understood(self, soap: SoapChannel) -> frozenset[QName]:
        """The header blocks the channel processes, which may carry mustUnderstand."""
        return ADDRESSING if soap.ws_addressing else frozenset()

    def reads_addressing(self, soap: SoapChannel) -> bool:
        """Whether the channel reads WS-Addressing headers (CPI's *Use WS-Addressing*)."""
        return soap.ws_addressing

    # -- GET ?wsdl -------------------------------------------------------------------------------

    def get(self, call: Call) -> Reply | None:
        request = call.request
        if request.method not in ("GET", "HEAD") or not any(k.lower() in _WSDL_QUERIES for k in request.query):
            return None
        channel = call.route.channel
        soap = channel.soap
        assert soap is not None
        url = f"{request.scheme}://{request.host}{channel.url_path}"
        try:
            if soap.wsdl is None:
                wsdl = generic_wsdl(call.route.iflow.id, url, one_way=soap.pattern == "one-way")
            else:
                wsdl = serve_wsdl(soap.wsdl, url, what=f"the WSDL of {call.route.iflow.id}")
        except WsdlError as exc:
            raise server_problem(str(exc), call) from None
        return Reply(200, [("Content-Type", "text/xml; charset=utf-8")], wsdl)

    # -- the request -----------------------------------------------------------------------------

    def related(self, call: Call, body: bytes) -> Related | None:
        """The envelope and attachments of a multipart request (SwA, MTOM); ``None`` for a plain one."""
        channel = call.route.channel
        content_type = parse_content_type(call.request.headers.get("Content-Type"))
        if content_type is None or not is_related(content_type):
            check_body(call, body)
            return None
        try:
            return read_related(
                body,
                content_type,
                max_envelope=channel.max_body_bytes,
                max_attachments=channel.max_attachment_bytes,
                body_mb=channel.max_body_mb,
                attachment_mb=channel.max_attachment_mb,
            )
        except TooLarge as exc:
            if exc.attachments:
                raise too_large(call, exc.limit_mb, "max_attachment_mb", "the size of the attachments") from None
            raise too_large(call, exc.limit_mb, "max_body_mb", "the SOAP envelope") from None
        except SoapError as exc:
            raise unreadable(exc, call) from None

    def envelope(self, call: Call, body: bytes, related: Related | None = None) -> Envelope:
        """The request's envelope, checked as the channel's settings say (raises :class:`Refused`)."""
        soap = call.route.channel.soap
        assert soap is not None
        headers = call.request.headers
        content_type = headers.get("Content-Type")
        if related is not None:
            body, content_type = related.envelope, related.envelope_type
        try:
            envelope = read_envelope(
                body,
                content_type,
                headers.get("SOAPAction"),
                addressing=self.reads_addressing(soap),
                max_bytes=max(call.route.channel.max_body_bytes, 1),
            )
            call.state[VERSION] = envelope.version
            check_must_understand(envelope, self.understood(soap))
        except SoapError as exc:
            raise unreadable(exc, call) from None
        return envelope

    def operation(self, call: Call, envelope: Envelope) -> Operation | None:
        """The WSDL operation the request is for (``None`` for a *Manual* channel)."""
        soap = call.route.channel.soap
        assert soap is not None
        if soap.wsdl is None:
            return None
        try:
            operations = self.operations(soap)
        except WsdlError as exc:
            raise server_problem(f"the channel's WSDL cannot be used: {exc}", call) from None
        try:
            return match_operation(operations, envelope.payload_name, envelope.action, envelope.version)
        except SoapError as exc:
            raise unreadable(exc, call) from None

    def message(self, call: Call, body: bytes) -> Message:
        related = self.related(call, body)
        envelope = self.envelope(call, body, related)
        operation = self.operation(call, envelope)
        soap = call.route.channel.soap
        assert soap is not None
        one_way = operation.one_way if operation is not None else soap.pattern == "one-way"
        call.state[STATE] = SoapCall(envelope, operation, one_way)
        headers: dict[str, str] = {}
        if envelope.action is not None:
            headers["SOAPAction"] = envelope.action
        if operation is not None:
            headers["operationName"] = operation.name
            if operation.input is not None and operation.input.namespace:
                headers["operationNamespace"] = operation.input.namespace
        content_type = f"{envelope.version.media_type}; charset=utf-8"
        message = adapter_message(call, envelope.payload, content_type, headers)
        message.soap_headers = [_soap_header(block) for block in envelope.headers]
        for name, part in related.named() if related is not None else ():
            message.attachments[name] = Attachment(name, part.data, part.content_type, dict(part.headers))
        return message

    def delivery(self, call: Call, message: Message) -> Delivery:
        state: SoapCall = call.state[STATE]
        soap = call.route.channel.soap
        assert soap is not None
        if state.one_way and soap.processing == "ws-standard":
            return Delivery(early=self.acknowledgement(call))
        return SYNCHRONOUS

    # -- the answer ------------------------------------------------------------------------------

    def acknowledgement(self, call: Call) -> Reply:
        """A one-way message's answer: 202 without a body, or 200 with an empty envelope."""
        soap = call.route.channel.soap
        assert soap is not None
        mpl_id = call.record.message_guid
        if soap.one_way_status == 202:
            return Reply(202, [(MPL_ID_HEADER, mpl_id)], b"")
        empty = build_reply(b"", call.state[VERSION])
        return Reply(200, [("Content-Type", empty.content_type), (MPL_ID_HEADER, mpl_id)], empty.content)

    def reply(self, call: Call, result: Message) -> Reply:
        state: SoapCall = call.state[STATE]
        if state.one_way:
            return self.acknowledgement(call)
        version = state.envelope.version
        try:
            status = response_status(result, 200)
            body = undeclared_to_utf8(result.body, result.charset, what="the iFlow's reply body")
            blocks: list[HeaderBlock | bytes | str] = [_block(header) for header in result.soap_headers]
            addressing = state.envelope.addressing
            if addressing is not None:
                # CXF's default output action: the input's with "Response" (INFERRED from its WS-A defaults)
                asked = addressing.action or state.envelope.action
                action = f"{asked}Response" if asked else None
                blocks += addressing_headers(addressing, message_id=f"urn:uuid:{uuid.uuid4()}", action=action)
            reply = build_reply(body, version, headers=blocks)
        except (ReplyError, EncodingError, ResponseError, TypeError) as exc:
            raise ResponseError(str(exc)) from exc
        headers = [("Content-Type", reply.content_type), (MPL_ID_HEADER, call.record.message_guid)]
        return Reply(status, headers, reply.content)


def _soap_header(block: HeaderBlock) -> SoapHeader:
    return SoapHeader(
        block.name.namespace or "",
        block.name.name,
        block.xml.decode("utf-8"),
        block.must_understand,
        block.actor,
    )


def _block(header: object) -> HeaderBlock | bytes | str:
    """A header a step left in ``message.soap_headers``, as the reply builder takes it."""
    if isinstance(header, SoapHeader):
        return HeaderBlock(
            QName(header.namespace or None, header.local), header.xml.encode(), header.actor, header.must_understand
        )
    if isinstance(header, bytes | str):
        return header
    raise TypeError(f"a SOAP header is a SoapHeader or the XML of one element, not {type(header).__name__}")
