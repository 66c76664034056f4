"""The iFlow's result wrapped as the SOAP reply of a Request-Reply channel.

On CPI the last step's body is the response payload, and the SOAP adapter puts it into the
Body of an envelope of the request's version, with the SOAP headers the steps set
(``message.setSoapHeaders``) in its Header. :func:`build_reply` does that. Decisions where CPI
is not documented (UNCONFIRMED):

- an empty body (no bytes, or only whitespace) is answered with an empty ``<soap:Body/>``,
  which is what a document/literal operation without output looks like;
- a body that is not one XML element (plain text, JSON, two elements, a DTD) cannot go into a
  SOAP Body: :class:`ReplyError`, a server fault, so that the caller answers with a fault and
  records the message as failed, rather than sending the sender something it cannot parse;
- the body's own XML declaration is dropped, its encoding honoured, and the reply written in
  UTF-8; a body that is itself a SOAP envelope is put into the Body like any element, as
  CXF's payload mode does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from cpimock.adapters.soap.addressing import WSA10, Addressing
from cpimock.adapters.soap.envelope import HeaderBlock
from cpimock.adapters.soap.protocol import QName, SoapError, SoapVersion
from cpimock.xmlsafe import DEFAULT_MAX_BYTES, XmlError, parse

__all__ = ["Reply", "ReplyError", "addressing_headers", "build_reply"]


class ReplyError(SoapError):
    """The iFlow's result cannot be sent as a SOAP reply (a server fault)."""

    def __init__(self, message: str, *, version: SoapVersion) -> None:
        super().__init__(message, code="server", version=version)


@dataclass(frozen=True, slots=True)
class Reply:
    """A SOAP reply as the HTTP answer's body and Content-Type."""

    content: bytes
    content_type: str
    version: SoapVersion


def _header_element(block: HeaderBlock | bytes | str, version: SoapVersion) -> etree._Element:
    if isinstance(block, HeaderBlock):
        xml, actor, must_understand = block.xml, block.actor, block.must_understand
    else:
        xml, actor, must_understand = (block.encode() if isinstance(block, str) else bytes(block)), None, False
    try:
        element = parse(xml, what="a SOAP header the iFlow set")
    except XmlError as exc:
        raise ReplyError(str(exc), version=version) from None
    if not etree.QName(element).namespace:
        raise ReplyError(
            f"the SOAP header {etree.QName(element).localname} the iFlow set has no namespace; SOAP header blocks "
            "are namespace-qualified",
            version=version,
        )
    ns = version.envelope_ns
    if must_understand:
        element.set(f"{{{ns}}}mustUnderstand", "1" if version is SoapVersion.V11 else "true")
    if actor is not None:
        element.set(f"{{{ns}}}{version.actor_attribute}", actor)
    return element


def _payload(body: bytes, version: SoapVersion, max_bytes: int) -> etree._Element | None:
    if not body.strip():
        return None
    try:
        return parse(body, what="the iFlow's reply body", max_bytes=max_bytes)
    except XmlError as exc:
        raise ReplyError(
            f"{exc}; a SOAP channel answers with one XML element: set the body to XML, or raise SoapFault to answer "
            "with a fault",
            version=version,
        ) from None


def build_reply(
    body: bytes,
    version: SoapVersion,
    *,
    headers: Sequence[HeaderBlock | bytes | str] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Reply:
    """*body* (the iFlow's result: bytes of one XML element, or empty) as a SOAP *version* reply.

    *headers* are the SOAP header blocks to send: :class:`HeaderBlock` values (their
    ``must_understand`` and ``actor`` are written as the version's attributes) or the XML of
    one namespace-qualified element each. Raises :class:`ReplyError` for a body or header that
    cannot be sent.
    """
    ns = version.envelope_ns
    envelope = etree.Element(f"{{{ns}}}Envelope", nsmap={"soap": ns})
    blocks = [_header_element(block, version) for block in headers]
    if blocks:
        header = etree.SubElement(envelope, f"{{{ns}}}Header")
        header.extend(blocks)
    soap_body = etree.SubElement(envelope, f"{{{ns}}}Body")
    payload = _payload(bytes(body), version, max_bytes)
    if payload is not None:
        soap_body.append(payload)
    return Reply(etree.tostring(envelope, encoding="UTF-8"), f"{version.media_type}; charset=utf-8", version)


def addressing_headers(request: Addressing, *, message_id: str, action: str | None) -> tuple[HeaderBlock, ...]:
    """The WS-Addressing headers of the reply to a request that carried *request*'s.

    The reply gets its own *message_id* (``urn:uuid:...``), the *action* of the operation's
    output if known, ``To`` anonymous (it goes back on the same connection) and ``RelatesTo``
    the request's MessageID, in the request's WS-Addressing namespace.
    """
    ns = request.namespace
    anonymous = f"{ns}/anonymous" if ns == WSA10 else f"{ns}/role/anonymous"
    values = [("MessageID", message_id), ("To", anonymous)]
    if action:
        values.insert(0, ("Action", action))
    if request.message_id:
        values.append(("RelatesTo", request.message_id))
    blocks = []
    for name, value in values:
        element = etree.Element(f"{{{ns}}}{name}", nsmap={"wsa": ns})
        element.text = value
        blocks.append(HeaderBlock(QName(ns, name), etree.tostring(element, encoding="UTF-8")))
    return tuple(blocks)
