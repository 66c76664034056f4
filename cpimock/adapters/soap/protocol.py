"""What SOAP 1.1 and 1.2 have in common and where they differ: namespaces, media types, fault codes.

The SOAP senders (SOAP 1.x, SOAP (SAP RM)) and the IDoc sender all speak SOAP over HTTP. A
message's version is read from its envelope's namespace; everything answered to it (replies,
faults) is in that same version, which is what CXF, CPI's SOAP stack, does.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from email.message import Message as _MimeHeader
from email.utils import collapse_rfc2231_value
from typing import Literal

from lxml import etree

from cpimock.errors import CpimockError

__all__ = [
    "SOAP11_ENCODING",
    "SOAP11_ENVELOPE",
    "SOAP12_ENCODING",
    "SOAP12_ENVELOPE",
    "ContentType",
    "FaultCode",
    "QName",
    "SoapError",
    "SoapVersion",
    "check_content_type",
    "parse_content_type",
]

SOAP11_ENVELOPE = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENVELOPE = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_ENCODING = "http://schemas.xmlsoap.org/soap/encoding/"
SOAP12_ENCODING = "http://www.w3.org/2003/05/soap-encoding"

# the short fault codes cpimock's own faults use; each version spells them its own way
FaultCode = Literal["client", "server", "version-mismatch", "must-understand"]


class SoapVersion(enum.Enum):
    """SOAP 1.1 or 1.2, with what each version calls things."""

    V11 = "1.1"
    V12 = "1.2"

    @property
    def envelope_ns(self) -> str:
        return SOAP11_ENVELOPE if self is SoapVersion.V11 else SOAP12_ENVELOPE

    @property
    def encoding_ns(self) -> str:
        return SOAP11_ENCODING if self is SoapVersion.V11 else SOAP12_ENCODING

    @property
    def media_type(self) -> str:
        """The Content-Type media type of this version's messages (SOAP 1.1 HTTP binding, RFC 3902)."""
        return "text/xml" if self is SoapVersion.V11 else "application/soap+xml"

    @property
    def actor_attribute(self) -> str:
        """The header block attribute naming who a block is for: ``actor`` in 1.1, ``role`` in 1.2."""
        return "actor" if self is SoapVersion.V11 else "role"

    def fault_code(self, code: FaultCode) -> str:
        """The local name of *code* in this version's envelope namespace (``Client`` vs ``Sender`` ...)."""
        names = _FAULT_CODES_11 if self is SoapVersion.V11 else _FAULT_CODES_12
        return names[code]

    @classmethod
    def of_namespace(cls, namespace: str | None) -> SoapVersion | None:
        return _BY_NAMESPACE.get(namespace or "")

    @classmethod
    def of_media_type(cls, content_type: ContentType | None) -> SoapVersion | None:
        """The version whose messages are sent as *content_type*, ``None`` for any other."""
        if content_type is None:
            return None
        return {"text/xml": cls.V11, "application/soap+xml": cls.V12}.get(content_type.media_type)


_FAULT_CODES_11: dict[FaultCode, str] = {
    "client": "Client",
    "server": "Server",
    "version-mismatch": "VersionMismatch",
    "must-understand": "MustUnderstand",
}
_FAULT_CODES_12: dict[FaultCode, str] = {
    "client": "Sender",
    "server": "Receiver",
    "version-mismatch": "VersionMismatch",
    "must-understand": "MustUnderstand",
}
_BY_NAMESPACE = {SOAP11_ENVELOPE: SoapVersion.V11, SOAP12_ENVELOPE: SoapVersion.V12}


@dataclass(frozen=True, slots=True)
class QName:
    """An XML qualified name; ``str()`` gives Clark notation (``{urn:x}Order``), as lxml uses."""

    namespace: str | None
    name: str

    def __str__(self) -> str:
        return f"{{{self.namespace}}}{self.name}" if self.namespace else self.name

    @classmethod
    def of(cls, element: etree._Element) -> QName:
        """The name of *element*."""
        name = etree.QName(element)
        return cls(name.namespace or None, name.localname)


class SoapError(CpimockError):
    """A SOAP message cpimock will not process, with the fault it should be answered with.

    *code* says whose fault it is (``client``: the sender must change the request; ``server``:
    the iFlow failed); *version* is the SOAP version to answer in, ``None`` when the request's
    version could not be told (answer in SOAP 1.1 then, as CXF does).
    """

    def __init__(self, message: str, *, code: FaultCode = "client", version: SoapVersion | None = None) -> None:
        super().__init__(message)
        self.code: FaultCode = code
        self.version = version


@dataclass(frozen=True, slots=True)
class ContentType:
    """A Content-Type header read into its media type (lower case) and parameters (names lower case)."""

    media_type: str
    params: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None

    @property
    def charset(self) -> str | None:
        return self.param("charset")


# a Content-Type is a short header; anything longer is not one a SOAP client sends
_MAX_CONTENT_TYPE = 4096


def parse_content_type(header: str | None) -> ContentType | None:
    """*header* read with the standard library's MIME header parser (quotes, escapes), or ``None`` if absent.

    A header that is present but has no ``type/subtype`` gives a :class:`ContentType` with an
    empty media type, so that the caller can name it in its refusal.
    """
    if header is None or not header.strip():
        return None
    if len(header) > _MAX_CONTENT_TYPE:
        return ContentType("")
    return _parse_content_type(header)


# senders repeat their few Content-Types on every call; the parser costs microseconds per header
@functools.lru_cache(maxsize=256)
def _parse_content_type(header: str) -> ContentType:
    parsed = _MimeHeader()
    parsed["Content-Type"] = header
    params = parsed.get_params(header="Content-Type", failobj=[]) or []
    media_type = header.split(";", 1)[0].strip().lower()
    if media_type.count("/") != 1 or " " in media_type:
        media_type = ""
    rest: list[tuple[str, str]] = []
    for key, value in params[1:]:
        rest.append((key.strip().lower(), collapse_rfc2231_value(value)))
    return ContentType(media_type, tuple(rest))


def check_content_type(content_type: ContentType | None, version: SoapVersion) -> None:
    """Refuse a request whose Content-Type is not the one SOAP *version* is sent with (a client fault)."""
    if content_type is None:
        raise SoapError(
            f"the request has no Content-Type; a SOAP {version.value} message is sent as {version.media_type}",
            version=version,
        )
    if content_type.media_type.startswith("multipart/"):
        raise SoapError(
            f"the request is {content_type.media_type} (SOAP with attachments or MTOM), which cpimock does not read "
            "yet; send the SOAP envelope alone",
            version=version,
        )
    if content_type.media_type != version.media_type:
        other = SoapVersion.V12 if version is SoapVersion.V11 else SoapVersion.V11
        raise SoapError(
            f"a SOAP {version.value} envelope came with Content-Type {content_type.media_type or '(unreadable)'}; "
            f"SOAP {version.value} is sent as {version.media_type}, SOAP {other.value} as {other.media_type}",
            version=version,
        )
