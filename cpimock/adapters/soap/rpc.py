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
_ENCODINGS = frozenset(version.encoding_ns for version in SoapVersion)


def _candidates(version: SoapVersion) -> etree.XPath:
    """The elements of a Body (itself included) that may give RPC/encoded away, in document order.

    A superset of what :func:`_check_style` and :func:`_check_encoding` refuse, found by
    libxml2 without a Python call per element: an ``encodingStyle`` of *version*, an element
    or an attribute in a SOAP encoding namespace, an ``xsi:type`` where a SOAP encoding
    namespace is in scope (without one, its value cannot name an encoding type). A union of
    plain paths rather than one predicate per element, which libxml2 evaluates many times
    slower.
    """
    encodings = sorted(_ENCODINGS)
    prefixes = {f"enc{number}": ns for number, ns in enumerate(encodings)}
    in_scope = " or ".join(f". = '{ns}'" for ns in encodings)
    paths = [
        "descendant-or-self::*/@env:encodingStyle/..",
        *(f"descendant-or-self::{prefix}:*" for prefix in prefixes),
        *(f"descendant-or-self::*/@{prefix}:*/.." for prefix in prefixes),
        f"descendant-or-self::*/@xsi:type/parent::*[namespace::*[{in_scope}]]",
    ]
    return etree.XPath(" | ".join(paths), namespaces={"env": version.envelope_ns, "xsi": _XSI, **prefixes})


_CANDIDATES = {version: _candidates(version) for version in SoapVersion}


def refuse_rpc(envelope: etree._Element, body: etree._Element, version: SoapVersion) -> None:
    """Raise a client :class:`SoapError` if *envelope* or its *body* is RPC/encoded.

    The first offending element in document order (the envelope first) is named, as a walk of
    every element would; only the Body's candidates are looked at in Python.
    """
    _check_style(envelope, version)
    for element in _CANDIDATES[version](body):
        _check_style(element, version)
        _check_encoding(element, version)


def _check_style(element: etree._Element, version: SoapVersion) -> None:
    style = element.get(f"{{{version.envelope_ns}}}encodingStyle")
    if style is not None and style.strip() not in _NO_ENCODING:
        raise SoapError(
            f"the message declares encodingStyle {style.strip()!r} (RPC/encoded); CPI's SOAP sender accepts "
            "document/literal messages only",
            version=version,
        )


def _check_encoding(element: etree._Element, version: SoapVersion) -> None:
    if etree.QName(element).namespace in _ENCODINGS:
        raise SoapError(
            f"the payload uses SOAP encoding ({etree.QName(element).localname}); CPI's SOAP sender accepts "
            "document/literal messages only",
            version=version,
        )
    for name, value in element.attrib.items():
        if etree.QName(name).namespace in _ENCODINGS or (
            name == f"{{{_XSI}}}type" and _names_encoding_type(element, value)
        ):
            raise SoapError(
                f"the payload uses SOAP encoding ({etree.QName(name).localname}={value!r}); CPI's SOAP sender "
                "accepts document/literal messages only",
                version=version,
            )


def _names_encoding_type(element: etree._Element, value: str) -> bool:
    prefix = value.split(":", 1)[0] if ":" in value else None
    return element.nsmap.get(prefix) in _ENCODINGS
