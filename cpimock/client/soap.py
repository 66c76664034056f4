"""SOAP and IDoc bodies for ``cpimock call``: a file as a SOAP sender or an S/4 XML-HTTP port sends
it, and a SOAP fault read back in plain words.

The sender side keeps its own small reading of SOAP (it imports nothing of the server): the
two envelope namespaces, their media types, and where a fault keeps its code and text.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from cpimock import xmlsafe
from cpimock.errors import CpimockError

__all__ = ["Prepared", "fault_of", "prepare_idoc", "prepare_soap"]

_ENVELOPES = {
    "1.1": "http://schemas.xmlsoap.org/soap/envelope/",
    "1.2": "http://www.w3.org/2003/05/soap-envelope",
}
_MEDIA_TYPES = {"1.1": "text/xml; charset=utf-8", "1.2": "application/soap+xml; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class Prepared:
    """A body to post and the headers it goes with."""

    body: bytes
    headers: tuple[tuple[str, str], ...]


def _read(data: bytes, what: str) -> etree._Element:
    try:
        return xmlsafe.parse(data, what=what)
    except xmlsafe.XmlError as exc:
        raise CpimockError(f"{exc}; give a file with one XML document") from None


def _version_of(root: etree._Element) -> str | None:
    tag = etree.QName(root)
    if tag.localname != "Envelope":
        return None
    return next((version for version, ns in _ENVELOPES.items() if ns == tag.namespace), None)


def prepare_soap(data: bytes, *, version: str | None, action: str | None, what: str) -> Prepared:
    """*data* as a SOAP request: an envelope as it is, any other element wrapped in one.

    The version is the envelope's own, else *version* (SOAP 1.1 by default); SOAP 1.1 sends
    ``SOAPAction`` (empty unless *action*), SOAP 1.2 the ``action`` parameter of its
    Content-Type.
    """
    root = _read(data, what)
    own = _version_of(root)
    if own is not None and version is not None and own != version:
        raise CpimockError(f"{what} is a SOAP {own} envelope; leave out --soap-version {version} or change the file")
    chosen = own or version or "1.1"
    body = data
    if own is None:
        ns = _ENVELOPES[chosen]
        envelope = etree.Element(f"{{{ns}}}Envelope", nsmap={"soap": ns})
        etree.SubElement(envelope, f"{{{ns}}}Body").append(root)
        body = etree.tostring(envelope, encoding="UTF-8", xml_declaration=True)
    if chosen == "1.1":
        quoted = (action or "").replace('"', "")
        return Prepared(body, (("Content-Type", _MEDIA_TYPES["1.1"]), ("SOAPAction", f'"{quoted}"')))
    content_type = _MEDIA_TYPES["1.2"] + (f'; action="{action}"' if action else "")
    return Prepared(body, (("Content-Type", content_type),))


def prepare_idoc(data: bytes, *, what: str) -> Prepared:
    """*data* as an S/4 XML-HTTP port posts it: IDoc-XML, SOAP-wrapped or plain, as ``text/xml``."""
    root = _read(data, what)
    version = _version_of(root)
    if version == "1.2":
        return Prepared(data, (("Content-Type", _MEDIA_TYPES["1.2"]),))
    # no charset: the document's own declaration says it (S/4 sends UTF-8, older systems ISO-8859-1)
    headers = [("Content-Type", "text/xml")]
    if version == "1.1":
        headers.append(("SOAPAction", '"http://sap.com/xi/WebService/soap1.1"'))
    return Prepared(data, tuple(headers))


def fault_of(body: bytes) -> tuple[str, str] | None:
    """The code and text of the SOAP fault in *body*, or ``None`` when it holds none."""
    if b"Fault" not in body:
        return None
    try:
        root = xmlsafe.parse(body, what="the answer")
    except xmlsafe.XmlError:
        return None
    version = _version_of(root)
    if version is None:
        return None
    ns = {"s": _ENVELOPES[version]}
    fault = root.find("s:Body/s:Fault", ns)
    if fault is None:
        return None
    if version == "1.1":
        return fault.findtext("faultcode") or "", fault.findtext("faultstring") or ""
    return fault.findtext("s:Code/s:Value", namespaces=ns) or "", fault.findtext("s:Reason/s:Text", namespaces=ns) or ""
