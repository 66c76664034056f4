"""WS-Addressing message information headers, read from a request when a channel asks for them.

CPI's SOAP 1.x channel has *Use WS-Addressing*: "accept addressing information from message
information headers". cpimock reads the headers of WS-Addressing 1.0 (the W3C recommendation,
what CXF writes) and of the 2004/08 member submission (what older SAP and .NET stacks send),
one or the other per message. A header that may appear once and appears twice, or an
``Action`` that contradicts the ``SOAPAction``, is refused as WS-Addressing requires.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from cpimock.adapters.soap.protocol import SoapError, SoapVersion

__all__ = ["WSA10", "WSA2004", "Addressing", "read_addressing"]

WSA10 = "http://www.w3.org/2005/08/addressing"
WSA2004 = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
_NAMESPACES = (WSA10, WSA2004)
_ONCE = ("MessageID", "Action", "To", "ReplyTo", "FaultTo", "From", "RelatesTo")
_TEXT_VALUED = ("MessageID", "Action", "To", "RelatesTo")
# an address or id is a URI; far longer ones are not addresses but an attack on the log
_MAX_VALUE = 2048


@dataclass(frozen=True, slots=True)
class Addressing:
    """The WS-Addressing headers of one message (values as sent, whitespace trimmed)."""

    namespace: str
    message_id: str | None = None
    action: str | None = None
    to: str | None = None
    reply_to: str | None = None
    fault_to: str | None = None
    relates_to: str | None = None
    relationship: str | None = None

    @property
    def anonymous_reply(self) -> bool:
        """True when the reply goes back on the same HTTP connection (no ReplyTo, or the anonymous address)."""
        return self.reply_to is None or self.reply_to.endswith("/anonymous")


def _text(element: etree._Element, version: SoapVersion) -> str:
    if len(element):
        raise SoapError(
            f"WS-Addressing header {etree.QName(element).localname} holds elements; it holds a URI",
            version=version,
        )
    value = (element.text or "").strip()
    if len(value) > _MAX_VALUE:
        raise SoapError(
            f"WS-Addressing header {etree.QName(element).localname} is {len(value)} characters long; "
            f"cpimock reads at most {_MAX_VALUE}",
            version=version,
        )
    return value


def _address(element: etree._Element, namespace: str, version: SoapVersion) -> str:
    found = element.findall(f"{{{namespace}}}Address")
    name = etree.QName(element).localname
    if len(found) != 1:
        raise SoapError(f"WS-Addressing header {name} needs exactly one Address, found {len(found)}", version=version)
    return _text(found[0], version)


def read_addressing(
    blocks: Sequence[etree._Element], *, version: SoapVersion, soap_action: str | None
) -> Addressing | None:
    """The WS-Addressing headers among the header *blocks*, or ``None`` if the message carries none."""
    used = {etree.QName(block).namespace for block in blocks} & set(_NAMESPACES)
    if not used:
        return None
    if len(used) > 1:
        raise SoapError(
            "the message mixes WS-Addressing 1.0 and the 2004/08 submission headers; use one of them",
            version=version,
        )
    namespace = used.pop()
    assert namespace is not None
    seen: dict[str, etree._Element] = {}
    for block in blocks:
        qname = etree.QName(block)
        if qname.namespace != namespace or qname.localname not in _ONCE:
            continue
        if qname.localname in seen:
            raise SoapError(f"WS-Addressing header {qname.localname} appears twice; send it once", version=version)
        seen[qname.localname] = block
    values = {name: _text(element, version) for name, element in seen.items() if name in _TEXT_VALUED}
    relates = seen.get("RelatesTo")
    addressing = Addressing(
        namespace=namespace,
        message_id=values.get("MessageID") or None,
        action=values.get("Action") or None,
        to=values.get("To") or None,
        reply_to=_address(seen["ReplyTo"], namespace, version) if "ReplyTo" in seen else None,
        fault_to=_address(seen["FaultTo"], namespace, version) if "FaultTo" in seen else None,
        relates_to=values.get("RelatesTo") or None,
        relationship=relates.get("RelationshipType") if relates is not None else None,
    )
    if addressing.action and soap_action and addressing.action != soap_action:
        raise SoapError(
            f"the WS-Addressing Action {addressing.action!r} differs from the SOAP action {soap_action!r}; "
            "WS-Addressing requires them to be equal",
            version=version,
        )
    return addressing
