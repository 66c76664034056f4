"""SOAP with attachments and MTOM: a ``multipart/related`` request cut into its envelope and attachments.

A SOAP sender with attachments (SwA, ``type="text/xml"``) or MTOM (``type="application/xop+xml"``)
posts one MIME part holding the envelope (the ``start`` part, else the first) and one part per
attachment. CPI's SOAP sender hands the attachments to the iFlow by their Content-ID; a
duplicate Content-ID gets ``_<GUID>`` appended and a missing one becomes a GUID [P]. The channel
limits the envelope to its *Body Size* and the attachments together to its *Attachment Size*;
over either, the request is refused (:class:`TooLarge`). MTOM's ``xop:Include`` references stay
in the payload as they are: the steps find the data among the attachments by its Content-ID.

The parts are cut at their delimiter lines here, and only each part's header block goes to the
standard library's header parser: its whole-message parser recurses into nested multiparts,
which a hostile request can nest a thousand deep, while the parts of SwA and MTOM are flat (a
nested multipart is an attachment like any other).
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
import uuid
from dataclasses import dataclass
from email.parser import BytesHeaderParser

from cpimock.adapters.soap.protocol import ContentType, SoapError, SoapVersion, parse_content_type

__all__ = ["Part", "Related", "TooLarge", "is_related", "read_related"]

# more parts than this are not attachments a sender builds, but an attack on the parser
MAX_PARTS = 1000
# a part's header block is a few lines; longer is not one
_MAX_HEADER_BYTES = 16 * 1024
_BOUNDARY = re.compile(r"\A[0-9A-Za-z'()+_,\-./:=? ]{1,70}\Z")
_DECODINGS = ("7bit", "8bit", "binary", "base64", "quoted-printable")


class TooLarge(SoapError):
    """The envelope or the attachments exceed the channel's limit (answered with 413)."""

    def __init__(self, message: str, *, limit_mb: float, attachments: bool, version: SoapVersion | None) -> None:
        super().__init__(message, version=version)
        self.limit_mb = limit_mb
        self.attachments = attachments  # True: the attachments are too large; False: the envelope


@dataclass(frozen=True, slots=True)
class Part:
    """One MIME part: its Content-ID (without ``<>``), Content-Type, headers and decoded content."""

    content_id: str | None
    content_type: str
    headers: tuple[tuple[str, str], ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class Related:
    """A ``multipart/related`` request: the envelope, the Content-Type to read it with, the attachments."""

    envelope: bytes
    envelope_type: str
    attachments: tuple[Part, ...]

    def named(self) -> list[tuple[str, Part]]:
        """The attachments under the names CPI gives them: Content-IDs made unique with ``_<GUID>``."""
        seen: set[str] = set()
        named = []
        for part in self.attachments:
            name = part.content_id or str(uuid.uuid4())
            if name in seen:
                name = f"{name}_{uuid.uuid4()}"
            seen.add(name)
            named.append((name, part))
        return named


def is_related(content_type: ContentType | None) -> bool:
    return content_type is not None and content_type.media_type == "multipart/related"


def _cid(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    if value.lower().startswith("cid:"):
        value = value[4:]
    return value.strip() or None


def _split(data: bytes, boundary: str, version: SoapVersion | None) -> list[bytes]:
    """The bodies of the parts between the delimiter lines (RFC 2046 5.1.1), with their headers."""
    delimiter = b"--" + boundary.encode("ascii")
    # the first delimiter may open the body; every later one follows a line break
    if data.startswith(delimiter):
        data = b"\r\n" + data
    pieces = data.split(b"\r\n" + delimiter)
    if len(pieces) < 3:
        raise SoapError(
            "the multipart request has no parts between its boundaries (or no closing boundary); send the "
            "envelope as the first part",
            version=version,
        )
    parts = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):  # the close delimiter: the rest is the epilogue
            break
        line_end = piece.find(b"\r\n")
        if line_end < 0 or piece[:line_end].strip(b" \t"):
            raise SoapError("a multipart boundary line carries text after the boundary", version=version)
        parts.append(piece[line_end + 2 :])
        if len(parts) > MAX_PARTS:
            raise SoapError(f"the multipart request has more than {MAX_PARTS} parts", version=version)
    else:
        raise SoapError("the multipart request ends without its closing boundary (--boundary--)", version=version)
    if not parts:
        raise SoapError("the multipart request closes before its first part; send the envelope in one", version=version)
    return parts


def _part(raw: bytes, version: SoapVersion | None) -> Part:
    head_end = raw.find(b"\r\n\r\n")
    if raw.startswith(b"\r\n"):  # a part without headers
        head, body = b"", raw[2:]
    elif head_end < 0:
        raise SoapError("a multipart part has no blank line after its headers", version=version)
    else:
        head, body = raw[:head_end], raw[head_end + 4 :]
    if len(head) > _MAX_HEADER_BYTES:
        raise SoapError("a multipart part's headers are too long", version=version)
    # the default (compat32) policy: values as sent, no refolding or requoting
    headers = BytesHeaderParser().parsebytes(head + b"\r\n\r\n")
    pairs = tuple((str(name), str(value)) for name, value in headers.items())
    encoding = str(headers.get("Content-Transfer-Encoding", "binary")).strip().lower()
    if encoding not in _DECODINGS:
        raise SoapError(f"a multipart part has Content-Transfer-Encoding {encoding!r}", version=version)
    try:
        if encoding == "base64":
            body = base64.b64decode(body, validate=False)
        elif encoding == "quoted-printable":
            body = quopri.decodestring(body)
    except (binascii.Error, ValueError) as exc:
        raise SoapError(f"a multipart part is not valid {encoding}: {exc}", version=version) from None
    content_type = str(headers.get("Content-Type", "application/octet-stream"))
    return Part(_cid(headers.get("Content-ID")), content_type, pairs, body)


def _envelope_type(root: Part, related: ContentType, version: SoapVersion | None) -> str:
    """The Content-Type to read the envelope with: MTOM's root says it in its ``type`` parameter."""
    own = parse_content_type(root.content_type)
    if own is not None and own.media_type == "application/xop+xml":
        inner = own.param("type") or related.param("start-info")
        if not inner:
            raise SoapError("an MTOM root part names no type (text/xml or application/soap+xml)", version=version)
        charset = own.charset
        return f"{inner}; charset={charset}" if charset else inner
    return root.content_type


def read_related(
    data: bytes,
    content_type: ContentType,
    *,
    max_envelope: int,
    max_attachments: int,
    body_mb: float,
    attachment_mb: float,
) -> Related:
    """The envelope and attachments of a ``multipart/related`` request.

    Raises :class:`SoapError` for a request that is not one, and :class:`TooLarge` when the
    envelope exceeds *max_envelope* bytes or the attachments together *max_attachments*.
    """
    outer = SoapVersion.of_media_type(parse_content_type(content_type.param("type") or ""))
    boundary = content_type.param("boundary")
    if not boundary or not _BOUNDARY.match(boundary) or boundary.endswith(" "):
        raise SoapError("the multipart/related request has no usable boundary parameter", version=outer)
    parts = [_part(raw, outer) for raw in _split(bytes(data), boundary, outer)]
    start = _cid(content_type.param("start"))
    root = next((part for part in parts if start and part.content_id == start), None) if start else parts[0]
    if root is None:
        raise SoapError(f"the multipart/related request has no part with the start Content-ID <{start}>", version=outer)
    if len(root.data) > max_envelope:
        raise TooLarge(
            f"the SOAP envelope part exceeds the {body_mb:g} MB limit (max_body_mb)",
            limit_mb=body_mb,
            attachments=False,
            version=outer,
        )
    attachments = tuple(part for part in parts if part is not root)
    if sum(len(part.data) for part in attachments) > max_attachments:
        raise TooLarge(
            f"the attachments exceed the {attachment_mb:g} MB limit (max_attachment_mb)",
            limit_mb=attachment_mb,
            attachments=True,
            version=outer,
        )
    return Related(root.data, _envelope_type(root, content_type, outer), attachments)
