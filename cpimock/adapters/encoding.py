"""Which character encoding an XML message from a sender is in, told before it is parsed.

An XML document names its encoding itself (a byte order mark, or ``encoding="..."`` in its
declaration); the HTTP Content-Type's ``charset`` can name it too. The document's own word
wins, as in libxml2, which parses it; the charset is used only for a document that says
nothing, where an XML parser would otherwise assume UTF-8.
"""

from __future__ import annotations

import codecs
import re

from cpimock.errors import CpimockError

__all__ = ["EncodingError", "declared_encoding", "document_encoding", "undeclared_to_utf8"]

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# the XML declaration as it reads in any ASCII-compatible encoding; a document in UTF-16 or
# UTF-32 carries a byte order mark instead (what S/4, CXF and Java's XML writers do)
_DECLARATION = re.compile(
    rb"\A[ \t\r\n]*<\?xml[ \t\r\n][^>]{0,200}?encoding[ \t\r\n]*=[ \t\r\n]*([\"'])([A-Za-z][A-Za-z0-9._-]{0,39})\1"
)


class EncodingError(CpimockError, ValueError):
    """A message names an encoding Python does not know, or is not valid in the encoding it names."""


def _bom(data: bytes) -> str | None:
    for mark, name in _BOMS:
        if data.startswith(mark):
            return name
    return None


def declared_encoding(data: bytes) -> str | None:
    """The encoding *data* names itself, by a byte order mark or its XML declaration; ``None`` if it names none."""
    bom = _bom(data)
    if bom is not None:
        return bom
    match = _DECLARATION.match(data)
    return match.group(2).decode("ascii") if match else None


def _codec(name: str, what: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise EncodingError(f"{what} is declared as {name!r}, an encoding cpimock does not know; send UTF-8") from None


def document_encoding(data: bytes, charset: str | None, *, what: str) -> str:
    """The Python codec name *data* is to be read in: its own declaration, else *charset*, else UTF-8."""
    declared = declared_encoding(data)
    if declared is not None:
        return _codec(declared, what)
    if charset:
        return _codec(charset, what)
    return "utf-8"


def undeclared_to_utf8(data: bytes, charset: str | None, *, what: str) -> bytes:
    """*data* re-encoded to UTF-8 when only the HTTP *charset* says what it is in; otherwise *data* unchanged.

    A document that declares its encoding, or that is UTF-8 anyway, is left as it is for the
    XML parser to decode.
    """
    if declared_encoding(data) is not None or not charset:
        return data
    codec = _codec(charset, what)
    if codec == "utf-8":
        return data
    try:
        return data.decode(codec).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncodingError(
            f"{what} is not valid {charset} as its Content-Type says (byte 0x{data[exc.start : exc.start + 1].hex()} "
            f"at offset {exc.start}); send it in the charset the Content-Type names"
        ) from None
