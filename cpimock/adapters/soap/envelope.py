"""A SOAP 1.1 or 1.2 request read into what a sender adapter hands to the iFlow.

CPI's SOAP sender (CXF underneath) gives the steps the Body's one child element as the
message body, the SOAP header blocks beside it, and answers a request it cannot read with a
SOAP fault. :func:`read_envelope` does the reading: the version comes from the envelope's
namespace and must agree with the Content-Type (``text/xml`` for SOAP 1.1,
``application/soap+xml`` for SOAP 1.2), the SOAP action comes from the ``SOAPAction`` header
(1.1) or the ``action`` parameter (1.2), and everything it refuses is a :class:`SoapError`
naming the fault to answer with. The payload keeps every namespace declaration in scope where
it stood (the envelope's among them), so that prefixes used in values, such as ``xsi:type``,
still resolve in the steps.

CPI supports document/literal messages only; :mod:`cpimock.adapters.soap.rpc` says what counts
as RPC style and is refused, and so is more than one element in the Body (RPC/encoded
multi-reference values, or two documents).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from lxml import etree

from cpimock.adapters.encoding import EncodingError, undeclared_to_utf8
from cpimock.adapters.soap.addressing import Addressing, read_addressing
from cpimock.adapters.soap.protocol import (
    ContentType,
    QName,
    SoapError,
    SoapVersion,
    check_content_type,
    parse_content_type,
)
from cpimock.adapters.soap.rpc import refuse_rpc
from cpimock.xmlsafe import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, XmlError, parse

__all__ = [
    "Envelope",
    "HeaderBlock",
    "check_must_understand",
    "envelope_of",
    "parse_request",
    "read_envelope",
    "unquote_action",
]

_TRUE = {"1": True, "true": True, "0": False, "false": False}
# the actors/roles that address the receiving node itself (SOAP 1.1 4.2.2, SOAP 1.2 part 1 2.2)
_OURS = (
    None,
    "http://schemas.xmlsoap.org/soap/actor/next",
    "http://www.w3.org/2003/05/soap-envelope/role/next",
    "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver",
)


@dataclass(frozen=True, slots=True)
class HeaderBlock:
    """One SOAP header block: its name, its XML as sent, who it is for, and whether it must be understood.

    *actor* is the ``actor`` (SOAP 1.1) or ``role`` (SOAP 1.2) attribute; ``None`` means the
    ultimate receiver, that is the iFlow.
    """

    name: QName
    xml: bytes
    actor: str | None = None
    must_understand: bool = False


@dataclass(frozen=True, slots=True)
class Envelope:
    """A SOAP request as the steps see it: the payload element as bytes, the header blocks, the action."""

    version: SoapVersion
    payload: bytes
    payload_name: QName | None
    headers: tuple[HeaderBlock, ...] = ()
    action: str | None = None
    addressing: Addressing | None = None

    def header(self, name: QName) -> HeaderBlock | None:
        """The first header block called *name*, or ``None``."""
        return next((block for block in self.headers if block.name == name), None)


def check_must_understand(envelope: Envelope, understood: Collection[QName]) -> None:
    """Refuse *envelope* with a MustUnderstand fault for a block meant for the iFlow that it does not understand.

    CXF does this check; whether a CPI channel understands a block depends on its settings
    (WS-Addressing, WS-Security), so the caller names the blocks it *understood*. Blocks
    addressed to another actor or role are an intermediary's and are not checked.
    """
    for block in envelope.headers:
        if block.must_understand and block.actor in _OURS and block.name not in understood:
            raise SoapError(
                f"header block {block.name} is marked mustUnderstand and this channel does not process it; "
                "remove the mustUnderstand mark or the header",
                code="must-understand",
                version=envelope.version,
            )


def unquote_action(value: str | None) -> str | None:
    """A ``SOAPAction`` header value without its quotes (``"urn:a"`` → ``urn:a``); ``None`` stays ``None``."""
    if value is None:
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value


def _elements(parent: etree._Element, version: SoapVersion, where: str) -> list[etree._Element]:
    """The element children of *parent*; text other than whitespace between them is refused."""
    if (parent.text or "").strip():
        raise SoapError(
            f"the SOAP {where} holds text outside any element; put it in the payload element", version=version
        )
    children: list[etree._Element] = []
    for child in parent:
        if (child.tail or "").strip():
            raise SoapError(
                f"the SOAP {where} holds text outside any element; put it in the payload element", version=version
            )
        if isinstance(child.tag, str):
            children.append(child)
    return children


def _structure(root: etree._Element, version: SoapVersion) -> tuple[etree._Element | None, etree._Element]:
    children = _elements(root, version, "Envelope")
    names = [etree.QName(child) for child in children]
    ns = version.envelope_ns
    header = children[0] if names and names[0] == etree.QName(ns, "Header") else None
    rest = children[1:] if header is not None else children
    if len(rest) != 1 or etree.QName(rest[0]) != etree.QName(ns, "Body"):
        found = ", ".join(f"{name.localname} ({name.namespace or 'no namespace'})" for name in names) or "nothing"
        raise SoapError(
            f"a SOAP {version.value} Envelope holds an optional Header and one Body in {ns}; found {found}",
            version=version,
        )
    return header, rest[0]


def _flag(element: etree._Element, version: SoapVersion) -> bool:
    value = element.get(f"{{{version.envelope_ns}}}mustUnderstand")
    if value is None:
        return False
    flag = _TRUE.get(value.strip())
    if flag is None:
        raise SoapError(
            f"header block {etree.QName(element).localname} has mustUnderstand={value!r}; use 1 or 0 (true or false)",
            version=version,
        )
    return flag


def _header_blocks(header: etree._Element | None, version: SoapVersion) -> list[etree._Element]:
    if header is None:
        return []
    blocks = _elements(header, version, "Header")
    for block in blocks:
        if not etree.QName(block).namespace:
            raise SoapError(
                f"header block {etree.QName(block).localname} has no namespace; SOAP header blocks are "
                "namespace-qualified",
                version=version,
            )
    return blocks


def _payload(body: etree._Element, version: SoapVersion, allow_empty: bool) -> etree._Element | None:
    children = _elements(body, version, "Body")
    if len(children) > 1:
        names = ", ".join(etree.QName(child).localname for child in children[:5])
        raise SoapError(
            f"the SOAP Body holds {len(children)} elements ({names}); a document/literal message holds one payload "
            "element (several are RPC/encoded multi-references or two documents)",
            version=version,
        )
    if not children:
        if allow_empty:
            return None
        raise SoapError("the SOAP Body is empty; put the payload element inside it", version=version)
    payload = children[0]
    if etree.QName(payload) == etree.QName(version.envelope_ns, "Fault"):
        raise SoapError("the request's Body is a SOAP Fault; a request carries a payload element", version=version)
    return payload


def parse_request(
    data: bytes,
    content_type: ContentType | None,
    *,
    what: str = "the SOAP request",
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> etree._Element:
    """The root element of a request body, read in the Content-Type's charset if it declares none itself.

    Raises :class:`SoapError` (a client fault, in the version the Content-Type suggests) for a
    body that is not XML cpimock reads.
    """
    try:
        data = undeclared_to_utf8(bytes(data), content_type.charset if content_type else None, what=what)
        return parse(data, what=what, max_bytes=max_bytes, max_depth=max_depth)
    except (XmlError, EncodingError) as exc:
        raise SoapError(str(exc), version=SoapVersion.of_media_type(content_type)) from None


def read_envelope(
    data: bytes,
    content_type: str | None,
    soap_action: str | None = None,
    *,
    addressing: bool = False,
    allow_empty_body: bool = False,
    require_soap_action: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Envelope:
    """The SOAP request in *data*, sent with the HTTP *content_type* and *soap_action* headers.

    *addressing* reads the WS-Addressing headers (CPI's *Use WS-Addressing*). *allow_empty_body*
    accepts a Body without a payload element (CXF does, for operations without input; cpimock
    refuses it by default, as a sender that sends nothing usually lost its payload).
    *require_soap_action* refuses a SOAP 1.1 request without a ``SOAPAction`` header, as the SOAP
    1.1 HTTP binding demands; CXF, and so CPI, accept one without (assumption, the default).
    Raises :class:`SoapError` for anything else it will not process.
    """
    parsed_type = parse_content_type(content_type)
    root = parse_request(data, parsed_type, max_bytes=max_bytes, max_depth=max_depth)
    envelope, _ = envelope_of(
        root,
        parsed_type,
        soap_action,
        addressing=addressing,
        allow_empty_body=allow_empty_body,
        require_soap_action=require_soap_action,
    )
    return envelope


def envelope_of(
    root: etree._Element,
    parsed_type: ContentType | None,
    soap_action: str | None = None,
    *,
    addressing: bool = False,
    allow_empty_body: bool = False,
    require_soap_action: bool = False,
) -> tuple[Envelope, etree._Element | None]:
    """The envelope :func:`read_envelope` reads, from an already parsed *root*, with its payload element."""
    expected = SoapVersion.of_media_type(parsed_type)
    tag = etree.QName(root)
    version = SoapVersion.of_namespace(tag.namespace)
    if tag.localname != "Envelope":
        raise SoapError(
            f"the request is not a SOAP envelope: its root element is {tag.localname}; wrap the payload in "
            "<soap:Envelope><soap:Body>...</soap:Body></soap:Envelope>",
            version=version or expected,
        )
    if version is None:
        raise SoapError(
            f"the envelope's namespace {tag.namespace or '(none)'} is neither SOAP 1.1's "
            f"({SoapVersion.V11.envelope_ns}) nor SOAP 1.2's ({SoapVersion.V12.envelope_ns})",
            code="version-mismatch",
            version=expected,
        )
    check_content_type(parsed_type, version)
    if any(True for _ in root.iter(etree.ProcessingInstruction)):
        raise SoapError("the SOAP envelope holds a processing instruction, which SOAP forbids", version=version)
    if version is SoapVersion.V11:
        action = unquote_action(soap_action)
        if action is None and require_soap_action:
            raise SoapError('the SOAP 1.1 request has no SOAPAction header; send one (it may be "")', version=version)
    else:
        action = parsed_type.param("action") if parsed_type else None
    header, body = _structure(root, version)
    blocks = _header_blocks(header, version)
    refuse_rpc(root, body, version)
    payload = _payload(body, version, allow_empty_body)
    actor_attr = f"{{{version.envelope_ns}}}{version.actor_attribute}"
    envelope = Envelope(
        version=version,
        payload=b"" if payload is None else etree.tostring(payload, encoding="UTF-8", with_tail=False),
        payload_name=None if payload is None else QName.of(payload),
        headers=tuple(
            HeaderBlock(
                name=QName.of(block),
                xml=etree.tostring(block, encoding="UTF-8", with_tail=False),
                actor=block.get(actor_attr),
                must_understand=_flag(block, version),
            )
            for block in blocks
        ),
        action=action,
        addressing=read_addressing(blocks, version=version, soap_action=action) if addressing else None,
    )
    return envelope, payload
