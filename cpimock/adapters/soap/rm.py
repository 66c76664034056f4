"""SOAP (SAP RM): the sender's message id, its normal form for duplicate detection, and the QoS.

SAP Reliable Messaging ("Plain SOAP" in ABAP) is one-way SOAP without WS-RM sequences. What
identifies a message on the wire [P = SAP's own code or documentation, I = inferred]:

- the SOAP header block ``messageId`` in ``http://www.sap.com/webas/640/soap/features/messageId/``
  holding ``uuid:`` and a GUID [P: SAP's Java web service runtime writes exactly this, and
  captures of S/4 proxy calls show ``uuid:00163ec1-abf4-1eeb-acbf-25ab61ffa285``];
- or the query parameter ``MessageId`` of the URL [P: CPI's SAP RM scenario documentation; the
  PI SOAP adapter's query string names];
- a WS-Addressing ``MessageID`` (``urn:uuid:...``) is taken when neither is there [I].

The quality of service comes from the query parameters ``QualityOfService``
(``ExactlyOnce`` or ``ExactlyOnceInOrder``) and ``QueueId`` [I: Plain SOAP's QoS extensions are
"aligned with the Plain SOAP adapter of PI", whose query string carries them]. CPI puts the id
into the headers ``SapMessageIdEx`` and ``SapMessageId`` and the QoS into ``SapPlainSoapQoS`` and
``SapPlainSoapQueueId`` [P]. Whether CPI keeps the ``uuid:`` prefix in those headers is
UNCONFIRMED; cpimock puts the normal form there (a GUID as lower-case ``8-4-4-4-12``, anything
else as sent without the prefix), which is also the key for duplicate detection, so that
``uuid:00163EC1ABF41EEBACBF25AB61FFA285`` and ``urn:uuid:00163ec1-abf4-1eeb-acbf-25ab61ffa285``
are the same message. Recording which ids were seen is the server's business.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from cpimock.adapters.soap.envelope import Envelope
from cpimock.adapters.soap.protocol import QName, SoapError
from cpimock.adapters.soap.wsdl import WsdlError
from cpimock.adapters.soap.wsdl_operations import Operation
from cpimock.xmlsafe import XmlError, parse

__all__ = ["SAP_MESSAGE_ID", "RmMessageId", "RmRequest", "check_one_way", "normalize_message_id", "read_rm"]

SAP_MESSAGE_ID = QName("http://www.sap.com/webas/640/soap/features/messageId/", "messageId")
QUALITIES = ("ExactlyOnce", "ExactlyOnceInOrder")
_PREFIX = re.compile(r"\A(?:(?:urn:)?uuid:)+", re.IGNORECASE)
_GUID = re.compile(r"\A\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?\Z")
_TOKEN = re.compile(r"\A[\x21-\x7e]{1,255}\Z")

Source = Literal["sap-header", "query", "ws-addressing"]


@dataclass(frozen=True, slots=True)
class RmMessageId:
    """A sender's message id: as sent (trimmed), in normal form, and where it was found."""

    sent: str
    normal: str
    source: Source


@dataclass(frozen=True, slots=True)
class RmRequest:
    """What SOAP (SAP RM) adds to a request: its message id and quality of service."""

    message_id: RmMessageId | None
    quality_of_service: str | None = None
    queue_id: str | None = None

    def adapter_headers(self) -> dict[str, str]:
        """The headers CPI's SOAP (SAP RM) sender adapter sets for the steps."""
        headers: dict[str, str] = {}
        if self.message_id is not None:
            headers["SapMessageIdEx"] = headers["SapMessageId"] = self.message_id.normal
        if self.quality_of_service is not None:
            headers["SapPlainSoapQoS"] = self.quality_of_service
        if self.queue_id is not None:
            headers["SapPlainSoapQueueId"] = self.queue_id
        return headers


def normalize_message_id(text: str) -> str:
    """The duplicate-detection form of a message id: no ``uuid:``/``urn:uuid:``, GUIDs lower-case with dashes.

    Raises :class:`ValueError` for an id that is empty, longer than 255 characters, or holds
    spaces or control characters.
    """
    value = _PREFIX.sub("", text.strip(), count=1)
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"{text[:80]!r} is not a message id (1 to 255 visible ASCII characters, a GUID as a rule)")
    return str(uuid.UUID(value.strip("{}"))) if _GUID.fullmatch(value) else value


def _id(sent: str, source: Source, envelope: Envelope) -> RmMessageId:
    try:
        return RmMessageId(sent.strip(), normalize_message_id(sent), source)
    except ValueError as exc:
        raise SoapError(f"the SOAP (SAP RM) message id from the {source}: {exc}", version=envelope.version) from None


def _header_id(envelope: Envelope) -> RmMessageId | None:
    blocks = [block for block in envelope.headers if block.name == SAP_MESSAGE_ID]
    if not blocks:
        return None
    if len(blocks) > 1:
        raise SoapError("the request carries two SAP messageId headers; send one", version=envelope.version)
    try:
        element = parse(blocks[0].xml, what="the SAP messageId header")
    except XmlError as exc:  # the block came out of a parsed envelope; this is a safeguard
        raise SoapError(str(exc), version=envelope.version) from None
    if len(element):
        raise SoapError("the SAP messageId header holds elements; it holds uuid:<GUID>", version=envelope.version)
    return _id(element.text or "", "sap-header", envelope)


def read_rm(
    envelope: Envelope, query: Mapping[str, str] | None = None, *, require_message_id: bool = True
) -> RmRequest:
    """The SAP RM message id and QoS of *envelope*, sent to a URL with *query* parameters.

    *require_message_id* refuses a request without any id (CPI cannot do exactly-once for it;
    whether it refuses it is UNCONFIRMED, but a sender that sends none has a configuration
    error worth seeing). Raises :class:`SoapError` (a client fault) for ids or QoS values that
    cannot be read, and for a header and a query id that differ.
    """
    query = query or {}
    header = _header_id(envelope)
    from_query = _id(query["MessageId"], "query", envelope) if "MessageId" in query else None
    if header and from_query and header.normal != from_query.normal:
        raise SoapError(
            f"the SAP messageId header ({header.sent}) and the query's MessageId ({from_query.sent}) differ; "
            "send one message id",
            version=envelope.version,
        )
    message_id = header or from_query
    if message_id is None and envelope.addressing is not None and envelope.addressing.message_id:
        message_id = _id(envelope.addressing.message_id, "ws-addressing", envelope)
    if message_id is None and require_message_id:
        raise SoapError(
            "the SOAP (SAP RM) request has no message id: send the SAP messageId header "
            f"({{{SAP_MESSAGE_ID.namespace}}}messageId, uuid:<GUID>) or a MessageId query parameter",
            version=envelope.version,
        )
    quality = query.get("QualityOfService")
    if quality is not None and quality not in QUALITIES:
        raise SoapError(
            f"QualityOfService={quality!r} is not one SAP RM knows; use ExactlyOnce or ExactlyOnceInOrder",
            version=envelope.version,
        )
    queue = query.get("QueueId")
    if quality == "ExactlyOnceInOrder" and not queue:
        raise SoapError("QualityOfService=ExactlyOnceInOrder needs a QueueId query parameter", version=envelope.version)
    if queue is not None and not _TOKEN.fullmatch(queue):
        raise SoapError(f"QueueId={queue[:80]!r} is not a queue name", version=envelope.version)
    if quality is None and message_id is not None:
        quality = "ExactlyOnce"
    return RmRequest(message_id, quality, queue if quality == "ExactlyOnceInOrder" else None)


def check_one_way(operations: Sequence[Operation]) -> None:
    """Refuse a WSDL for a SOAP (SAP RM) channel unless all its operations are one-way, as CPI does."""
    two_way = [op.name for op in operations if not op.one_way]
    if two_way:
        raise WsdlError(
            f"a SOAP (SAP RM) channel takes one-way WSDLs only; operation {two_way[0]!r} has an output "
            "(use the SOAP 1.x adapter for request-reply)"
        )
