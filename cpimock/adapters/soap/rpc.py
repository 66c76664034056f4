"""What counts as an RPC-style SOAP message, which CPI's SOAP sender refuses.

CPI supports document/literal messages only [P]. On the wire, RPC/encoded messages give
themselves away, and are refused: an ``encodingStyle`` attribute naming an encoding (on the
Envelope, the Body or anything in it), elements or attributes of the SOAP 1.1 or 1.2 encoding
namespace (``SOAP-ENC:Array``, ``arrayType``, ``itemType``, ``arraySize``, ``ref``, ``id``), and
``xsi:type`` values naming SOAP encoding types. Several elements in the Body (multi-reference
values) are refused by the envelope reader. RPC/literal with one wrapper element looks like
document/literal; only a WSDL-based channel can tell it, by the operation's payload element
(:mod:`cpimock.adapters.soap.wsdl_operations`).
"""

from __future__ import annotations

from lxml import etree

from cpimock.adapters.soap.protocol import SoapError, SoapVersion

__all__ = ["refuse_rpc"]

_XSI = "http://www.w3.org/2001/XMLSchema-instance"
# encodingStyle values that name no encoding at all (SOAP 1.2 part 1, 5.1.1)
_NO_ENCODING = ("", "http://www.w3.org/2003/05/soap-envelope/encoding/none")


def refuse_rpc(envelope: etree._Element, body: etree._Element, version: SoapVersion) -> None:
    """Raise a client :class:`SoapError` if *envelope* or its *body* is RPC/encoded."""
    style_attr = f"{{{version.envelope_ns}}}encodingStyle"
    encodings = {v.encoding_ns for v in SoapVersion}
    for element in (envelope, *body.iter()):
        if not isinstance(element.tag, str):
            continue
        style = element.get(style_attr)
        if style is not None and style.strip() not in _NO_ENCODING:
            raise SoapError(
                f"the message declares encodingStyle {style.strip()!r} (RPC/encoded); CPI's SOAP sender accepts "
                "document/literal messages only",
                version=version,
            )
        if element is envelope:
            continue
        if etree.QName(element).namespace in encodings:
            raise SoapError(
                f"the payload uses SOAP encoding ({etree.QName(element).localname}); CPI's SOAP sender accepts "
                "document/literal messages only",
                version=version,
            )
        for name, value in element.attrib.items():
            if etree.QName(name).namespace in encodings or (
                name == f"{{{_XSI}}}type" and _names_encoding_type(element, value, encodings)
            ):
                raise SoapError(
                    f"the payload uses SOAP encoding ({etree.QName(name).localname}={value!r}); CPI's SOAP sender "
                    "accepts document/literal messages only",
                    version=version,
                )


def _names_encoding_type(element: etree._Element, value: str, encodings: set[str]) -> bool:
    prefix = value.split(":", 1)[0] if ":" in value else None
    return element.nsmap.get(prefix) in encodings
