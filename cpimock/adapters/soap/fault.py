"""SOAP faults in the version the sender spoke: cpimock's own, and the ones a step raises.

A SOAP 1.1 fault is ``faultcode`` (``soap:Client`` / ``soap:Server``), ``faultstring`` and an
optional ``detail``; a SOAP 1.2 fault is ``Code/Value`` (``soap:Sender`` / ``soap:Receiver``),
``Reason/Text xml:lang="en"`` and an optional ``Detail``. The envelope uses the prefix
``soap`` in both versions, as CXF writes it.

What CPI's generic fault says is UNCONFIRMED; cpimock's own faults carry the message
processing log id in the detail as
``<MessageProcessingLogID xmlns="urn:cpimock:soap:fault">...</MessageProcessingLogID>`` (and
the caller sends it in the ``SAP_MessageProcessingLogID`` HTTP header too). A fault a step
raises (:class:`cpimock.message.SoapFault`, CPI's ``SoapFaultFactory``) has exactly the detail
the step gave, as on CPI. Every fault is answered with HTTP 500 by default, as CXF does for
SOAP 1.1 (INFERRED for 1.2, where the HTTP binding suggests 400 for ``Sender`` faults:
*sender_status* chooses).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

from cpimock.adapters.soap.protocol import FaultCode, SoapError, SoapVersion
from cpimock.message import SoapFault
from cpimock.xmlsafe import XmlError, parse

__all__ = [
    "MPL_NAMESPACE",
    "FaultResponse",
    "build_fault",
    "fault_for_error",
    "fault_from_step",
    "mpl_detail",
    "xml_text",
]

MPL_NAMESPACE = "urn:cpimock:soap:fault"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# every character XML 1.0 cannot carry, not even as a character reference
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# the envelope's own fault codes of both versions: Client and Sender, Server and Receiver are
# the same code, so a step's "soap:Server" answers a SOAP 1.2 sender with soap:Receiver
_STANDARD: dict[str, FaultCode] = {
    "Client": "client",
    "Sender": "client",
    "Server": "server",
    "Receiver": "server",
    "VersionMismatch": "version-mismatch",
    "MustUnderstand": "must-understand",
}
_NCNAME = re.compile(r"[A-Za-z_][\w.-]*")
# prefixes step authors write for the envelope namespace without declaring it
_ENVELOPE_PREFIXES = ("soap", "soapenv", "soap-env", "env", "s", "SOAP-ENV")


@dataclass(frozen=True, slots=True)
class FaultResponse:
    """A fault as the HTTP answer: status, body and Content-Type."""

    status: int
    content: bytes
    content_type: str
    version: SoapVersion


def xml_text(text: str) -> str:
    """*text* with the characters XML 1.0 cannot carry replaced by U+FFFD, so that it can be serialized."""
    return _NOT_XML.sub("\ufffd", text)


def mpl_detail(mpl_id: str) -> bytes:
    """The detail element cpimock's own faults carry: the message processing log id of the failed message."""
    element = etree.Element(f"{{{MPL_NAMESPACE}}}MessageProcessingLogID", nsmap={None: MPL_NAMESPACE})
    element.text = xml_text(mpl_id)
    return etree.tostring(element, encoding="UTF-8")


def _detail_children(detail_xml: str, namespaces: Mapping[str, str]) -> etree._Element:
    for prefix in namespaces:
        if prefix and not _NCNAME.fullmatch(prefix):
            raise ValueError(f"namespace prefix {prefix!r} is not an XML name")
    declarations = "".join(
        f' xmlns:{prefix}="{_attr(uri)}"' if prefix else f' xmlns="{_attr(uri)}"' for prefix, uri in namespaces.items()
    )
    wrapper = f"<detail{declarations}>{detail_xml}</detail>".encode("utf-8", "surrogatepass")
    return parse(wrapper, what="the fault detail")


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _envelope(version: SoapVersion) -> tuple[etree._Element, etree._Element]:
    ns = version.envelope_ns
    envelope = etree.Element(f"{{{ns}}}Envelope", nsmap={"soap": ns})
    return envelope, etree.SubElement(envelope, f"{{{ns}}}Body")


def build_fault(
    version: SoapVersion | None,
    string: str,
    *,
    code: FaultCode | tuple[str, str] = "server",
    detail_xml: str | None = None,
    detail_text: str | None = None,
    namespaces: Mapping[str, str] | None = None,
    mpl_id: str | None = None,
    sender_status: int = 500,
) -> FaultResponse:
    """A SOAP fault in *version* (SOAP 1.1 when ``None``) saying *string*.

    *code* is a short code or, for SOAP 1.1 only, a ``(namespace, local name)`` pair of the
    sender's own. The detail holds *detail_xml* (XML text whose prefixes *namespaces*
    declares), then *detail_text*, then the MPL id element when *mpl_id* is given; there is no
    detail when all three are absent. Raises :class:`XmlError` if *detail_xml* is not XML.
    """
    version = version or SoapVersion.V11
    namespaces = dict(namespaces or {})
    ns = version.envelope_ns
    envelope, body = _envelope(version)
    fault = etree.SubElement(body, f"{{{ns}}}Fault")
    if isinstance(code, tuple):
        if version is SoapVersion.V12:
            raise ValueError("SOAP 1.2 fault codes are Sender, Receiver, MustUnderstand, VersionMismatch")
        fault_ns, local = code
        prefix = next((p for p, uri in namespaces.items() if uri == fault_ns and p), "fc")
        etree.SubElement(fault, "faultcode", nsmap={prefix: fault_ns}).text = f"{prefix}:{local}"
    elif version is SoapVersion.V11:
        etree.SubElement(fault, "faultcode").text = f"soap:{version.fault_code(code)}"
    else:
        value = etree.SubElement(etree.SubElement(fault, f"{{{ns}}}Code"), f"{{{ns}}}Value")
        value.text = f"soap:{version.fault_code(code)}"
    if version is SoapVersion.V11:
        etree.SubElement(fault, "faultstring").text = xml_text(string)
    else:
        text = etree.SubElement(etree.SubElement(fault, f"{{{ns}}}Reason"), f"{{{ns}}}Text")
        text.set(_XML_LANG, "en")
        text.text = xml_text(string)
    if detail_xml is not None or detail_text is not None or mpl_id is not None:
        detail = etree.SubElement(fault, "detail" if version is SoapVersion.V11 else f"{{{ns}}}Detail")
        if detail_xml is not None:
            wrapper = _detail_children(detail_xml, namespaces)
            detail.text = wrapper.text
            for child in list(wrapper):
                detail.append(child)
        if detail_text is not None:
            _append_text(detail, xml_text(detail_text))
        if mpl_id is not None:
            detail.append(etree.fromstring(mpl_detail(mpl_id)))
    if code == "version-mismatch" and version is SoapVersion.V12:
        _add_upgrade(envelope, body)
    status = sender_status if code == "client" else 500
    return FaultResponse(status, etree.tostring(envelope, encoding="UTF-8"), _content_type(version), version)


def _append_text(parent: etree._Element, text: str) -> None:
    if len(parent):
        last = parent[-1]
        last.tail = (last.tail or "") + text
    else:
        parent.text = (parent.text or "") + text


def _add_upgrade(envelope: etree._Element, body: etree._Element) -> None:
    ns = SoapVersion.V12.envelope_ns
    header = etree.Element(f"{{{ns}}}Header")
    upgrade = etree.SubElement(header, f"{{{ns}}}Upgrade")
    for version, prefix in ((SoapVersion.V12, "soap"), (SoapVersion.V11, "soap11")):
        supported = etree.SubElement(upgrade, f"{{{ns}}}SupportedEnvelope", nsmap={prefix: version.envelope_ns})
        supported.set("qname", f"{prefix}:Envelope")
    body.addprevious(header)


def _content_type(version: SoapVersion) -> str:
    return f"{version.media_type}; charset=utf-8"


def fault_for_error(error: SoapError, *, mpl_id: str | None = None, sender_status: int = 500) -> FaultResponse:
    """The fault answering a request that :mod:`cpimock.adapters.soap` refused with *error*."""
    return build_fault(error.version, str(error), code=error.code, mpl_id=mpl_id, sender_status=sender_status)


def _step_code(fault: SoapFault, version: SoapVersion) -> FaultCode | tuple[str, str]:
    text = fault.faultcode.strip()
    if text.lower() in ("client", "server"):
        return "client" if text.lower() == "client" else "server"
    prefix, _, local = text.rpartition(":")
    namespace = fault.namespaces.get(prefix) if prefix else None
    envelope_ns = {v.envelope_ns for v in SoapVersion}
    is_envelope = not prefix or namespace in envelope_ns or (namespace is None and prefix in _ENVELOPE_PREFIXES)
    if is_envelope and local in _STANDARD:
        return _STANDARD[local]
    if version is SoapVersion.V12:
        raise ValueError(
            f"faultcode {text!r} is not a SOAP 1.2 fault code; SOAP 1.2 allows only Sender, Receiver, MustUnderstand "
            "and VersionMismatch (CPI refuses others too): use faultcode='client' or 'server' and put your own code "
            "in the detail"
        )
    if not prefix or namespace is None or not _NCNAME.fullmatch(local):
        raise ValueError(
            f"faultcode {text!r} is neither 'client', 'server' nor a qualified name whose prefix the SoapFault's "
            "namespaces declare (faultcode='app:Locked', namespaces={'app': 'urn:my-app'})"
        )
    return (namespace, local)


def fault_from_step(
    fault: SoapFault,
    *,
    request_version: SoapVersion | None,
    mpl_id: str | None = None,
    sender_status: int = 500,
) -> FaultResponse:
    """The fault a step asked for by raising *fault*, in its preferred version or the request's.

    A fault the step described wrongly (a code the version does not allow, a detail that is not
    XML) becomes cpimock's own server fault saying what is wrong, with the MPL id: the sender
    would get an error on CPI as well, and the step's author learns why.
    """
    version = SoapVersion(fault.soap_version) if fault.soap_version else (request_version or SoapVersion.V11)
    try:
        code = _step_code(fault, version)
        return build_fault(
            version,
            fault.faultstring,
            code=code,
            detail_xml=fault.detail,
            namespaces=fault.namespaces,
            sender_status=sender_status,
        )
    except (ValueError, XmlError) as exc:
        return build_fault(
            version, f"the step raised a SoapFault that cannot be sent: {exc}", code="server", mpl_id=mpl_id
        )
