"""The WSDL a SOAP channel serves: a generic one for a *Manual* channel, or its configured file.

A CPI SOAP 1.x channel with *Service Definition* ``Manual`` offers a generic service
description ("generic message format"), which the monitor lets you download; one with
``WSDL`` offers the WSDL it was configured with. :func:`generic_wsdl` writes the generic one:
WSDL 1.1, document/literal, one operation (Request-Reply or One-Way) whose input and output
are elements that hold any content, a SOAP 1.1 and a SOAP 1.2 binding, and a service and
ports named after the channel, at the endpoint URL given. SoapUI, SOAMANAGER and zeep load
it. Its exact shape on CPI is UNCONFIRMED; what matters to a sender is that it loads and
points at the right address, since a *Manual* channel accepts any payload element.

:func:`serve_wsdl` gives a configured WSDL with every ``soap:address`` and ``soap12:address``
location rewritten to the tenant's URL, as CPI's download does. Like CPI's, it refuses a WSDL
that imports or includes other files, which a download cannot carry.
"""

from __future__ import annotations

import re

from lxml import etree

from cpimock.errors import CpimockError
from cpimock.xmlsafe import XmlError, parse

__all__ = [
    "MAX_WSDL_BYTES",
    "WSDL11",
    "WSDL_SOAP11",
    "WSDL_SOAP12",
    "WsdlError",
    "generic_wsdl",
    "ncname",
    "read_wsdl",
    "serve_wsdl",
]

WSDL11 = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP11 = "http://schemas.xmlsoap.org/wsdl/soap/"
WSDL_SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
_XSD = "http://www.w3.org/2001/XMLSchema"
_HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"
# WSDLs are configuration, read from an export; this is far above any real one
MAX_WSDL_BYTES = 16 * 1024 * 1024
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class WsdlError(CpimockError, ValueError):
    """A WSDL file cannot be served or read: not WSDL 1.1, RPC style, or with references cpimock cannot follow."""


def ncname(text: str) -> str:
    """*text* made into an XML name (letters, digits, ``_ . -``; not starting with a digit, dot or dash)."""
    name = _NOT_NAME.sub("_", text.strip().strip("/"))
    if not name:
        raise WsdlError(f"{text!r} gives no name for a WSDL service; name the channel")
    return name if name[0].isalpha() or name[0] == "_" else f"_{name}"


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def generic_wsdl(
    channel: str,
    endpoint_url: str,
    *,
    one_way: bool = False,
    namespace: str | None = None,
    operation: str = "Operation",
) -> bytes:
    """The generic WSDL of a *Manual* channel called *channel*, answering at *endpoint_url*.

    The service is named after the channel (made into an XML name), its ports
    ``<name>_Soap11`` and ``<name>_Soap12``; *one_way* leaves out the output. The target
    namespace is *namespace*, by default ``urn:cpimock:<name>``; the operation's SOAP action
    is ``<namespace>:<operation>``.
    """
    name = ncname(channel)
    operation = ncname(operation)
    tns = namespace or f"urn:cpimock:{name}"
    action = f"{tns}:{operation}"
    root = etree.Element(
        _q(WSDL11, "definitions"),
        nsmap={"wsdl": WSDL11, "soap": WSDL_SOAP11, "soap12": WSDL_SOAP12, "xsd": _XSD, "tns": tns},
        name=name,
        targetNamespace=tns,
    )
    doc = etree.SubElement(root, _q(WSDL11, "documentation"))
    doc.text = f"Generic service of the SOAP sender channel {channel!r}: any payload element is accepted."
    schema = etree.SubElement(etree.SubElement(root, _q(WSDL11, "types")), _q(_XSD, "schema"))
    schema.set("targetNamespace", tns)
    schema.set("elementFormDefault", "qualified")
    any_type = etree.SubElement(schema, _q(_XSD, "complexType"), name="AnyContent", mixed="true")
    etree.SubElement(
        etree.SubElement(any_type, _q(_XSD, "sequence")),
        _q(_XSD, "any"),
        namespace="##any",
        processContents="skip",
        minOccurs="0",
        maxOccurs="unbounded",
    )
    etree.SubElement(any_type, _q(_XSD, "anyAttribute"), namespace="##any", processContents="skip")
    messages = [("Request", "input")] + ([] if one_way else [("Response", "output")])
    for element, _ in messages:
        etree.SubElement(schema, _q(_XSD, "element"), name=element, type="tns:AnyContent")
    for element, _ in messages:
        message = etree.SubElement(root, _q(WSDL11, "message"), name=f"{element}Message")
        etree.SubElement(message, _q(WSDL11, "part"), name="parameters", element=f"tns:{element}")
    port_type = etree.SubElement(root, _q(WSDL11, "portType"), name=name)
    port_operation = etree.SubElement(port_type, _q(WSDL11, "operation"), name=operation)
    for element, direction in messages:
        etree.SubElement(port_operation, _q(WSDL11, direction), message=f"tns:{element}Message")
    service = etree.Element(_q(WSDL11, "service"), name=name)
    for soap_ns, suffix in ((WSDL_SOAP11, "Soap11"), (WSDL_SOAP12, "Soap12")):
        binding = etree.SubElement(root, _q(WSDL11, "binding"), name=f"{name}_{suffix}Binding", type=f"tns:{name}")
        etree.SubElement(binding, _q(soap_ns, "binding"), style="document", transport=_HTTP_TRANSPORT)
        bound = etree.SubElement(binding, _q(WSDL11, "operation"), name=operation)
        etree.SubElement(bound, _q(soap_ns, "operation"), soapAction=action, style="document")
        for _, direction in messages:
            etree.SubElement(etree.SubElement(bound, _q(WSDL11, direction)), _q(soap_ns, "body"), use="literal")
        port = etree.SubElement(
            service, _q(WSDL11, "port"), name=f"{name}_{suffix}", binding=f"tns:{name}_{suffix}Binding"
        )
        etree.SubElement(port, _q(soap_ns, "address"), location=endpoint_url)
    root.append(service)
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)


def _references(root: etree._Element) -> list[str]:
    found = []
    for element in root.iter(_q(WSDL11, "import"), _q(_XSD, "import"), _q(_XSD, "include"), _q(_XSD, "redefine")):
        location = element.get("location") or element.get("schemaLocation")
        if location:
            found.append(location)
    return found


def read_wsdl(data: bytes, *, what: str = "the WSDL") -> etree._Element:
    """The root of a WSDL 1.1 document, or :class:`WsdlError` saying why *data* is not one."""
    try:
        root = parse(data, what=what, max_bytes=MAX_WSDL_BYTES)
    except XmlError as exc:
        raise WsdlError(str(exc)) from None
    tag = etree.QName(root)
    if tag.namespace == "http://www.w3.org/ns/wsdl":
        raise WsdlError(f"{what} is WSDL 2.0; CPI's SOAP adapter and cpimock read WSDL 1.1")
    if tag != etree.QName(WSDL11, "definitions"):
        raise WsdlError(f"{what} is not a WSDL 1.1 document: its root element is {tag.localname}")
    return root


def serve_wsdl(data: bytes, endpoint_url: str, *, what: str = "the WSDL") -> bytes:
    """The configured WSDL *data* with every SOAP port's address set to *endpoint_url*.

    Raises :class:`WsdlError` for a document that is not WSDL 1.1, that imports or includes
    other files (CPI's download fails on those too), or that has no SOAP port to rewrite.
    """
    root = read_wsdl(data, what=what)
    references = _references(root)
    if references:
        raise WsdlError(
            f"{what} refers to other files ({', '.join(references[:3])}); serve a WSDL with its schemas inline, "
            "as CPI's WSDL download cannot follow external references either"
        )
    addresses = list(root.iterfind(f"{{{WSDL11}}}service/{{{WSDL11}}}port/*"))
    rewritten = 0
    for address in addresses:
        if address.tag in (_q(WSDL_SOAP11, "address"), _q(WSDL_SOAP12, "address")):
            address.set("location", endpoint_url)
            rewritten += 1
    if not rewritten:
        raise WsdlError(f"{what} has no SOAP port (soap:address or soap12:address) to point at the tenant")
    return etree.tostring(root.getroottree(), encoding="UTF-8", xml_declaration=True)
