"""The IDoc channel's *Invalid XML Character Handling*, applied to the raw request before it is parsed.

IDoc data comes from SAP tables where a control character (a stray ``0x01`` in a text
field) is legal, while XML 1.0 allows only ``#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] |
[#x10000-#x10FFFF]``. CPI's IDoc sender lets the channel choose [P]: *Throw Error* (the
default, also for channels that predate the option), *Remove*, or *Substitute* with ``#``.
cpimock applies the choice to both forms such a character can take in the request: the raw
character in the document's encoding (UTF-8, UTF-16 with its byte order mark, ISO-8859-1,
windows-1252, ... as the document or the Content-Type declares it) and a character reference
(``&#x1;``, ``&#1;``), which XML 1.0 forbids just the same. References inside CDATA sections,
comments and processing instructions are text, not references, and are left alone.

CPI checks an XML 1.1 document against XML 1.1's wider range; cpimock's parser (libxml2)
reads XML 1.0 only, so it applies XML 1.0's range to every document (a difference only for
the C0/C1 control characters that XML 1.1 allows as references).
"""

from __future__ import annotations

import codecs
import enum
import re
from collections.abc import Iterator

from cpimock.adapters.encoding import EncodingError, document_encoding
from cpimock.errors import CpimockError

__all__ = ["CharacterHandling", "InvalidCharacterError", "clean_characters"]

_RAW = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# where a reference or a stretch of text that holds none (CDATA, comment, PI) begins; the end
# of such a stretch is found with str.find, so that unterminated ones cost linear time
_MARK = re.compile(r"<!\[CDATA\[|<!--|<\?|&#(x[0-9A-Fa-f]+|[0-9]+);")
_ENDS = {"<![CDATA[": "]]>", "<!--": "-->", "<?": "?>"}
# the bytes that stand for a character XML 1.0 does not allow wherever they occur in UTF-8: the C0
# controls but tab, line feed and carriage return; U+FFFE and U+FFFF are EF BF BE and EF BF BF
_C0 = bytes(byte for byte in range(0x20) if byte not in b"\t\n\r")
# a reference longer than this cannot name a character (U+10FFFF is 7 digits), and int() of
# thousands of digits would be slow and is refused by Python anyway
_MAX_DIGITS = 8


class CharacterHandling(enum.Enum):
    """What an IDoc channel does with characters XML 1.0 does not allow."""

    THROW = "throw"
    REMOVE = "remove"
    SUBSTITUTE = "substitute"

    @classmethod
    def parse(cls, value: str | None) -> CharacterHandling:
        """The handling an iFlow's ``xmlCharacterHandling`` names (``throwException`` as in real exports).

        Empty or absent means *Throw Error*, CPI's default. Accepts the UI's words too (``Throw
        Error``, ``Remove``, ``Substitute``), in any case; raises :class:`ValueError` otherwise.
        """
        word = (value or "throw").strip().lower().replace(" ", "")
        for prefix, handling in (("throw", cls.THROW), ("remove", cls.REMOVE), ("substitute", cls.SUBSTITUTE)):
            if word.startswith(prefix):
                return handling
        if word.startswith("replace"):
            return cls.SUBSTITUTE
        raise ValueError(
            f"xmlCharacterHandling {value!r} is not a handling CPI offers; use throwException, remove or substitute"
        )


class InvalidCharacterError(CpimockError, ValueError):
    """The request holds a character XML 1.0 does not allow, and the channel's handling is *Throw Error*."""

    def __init__(self, message: str, *, code_point: int, line: int, column: int) -> None:
        super().__init__(message)
        self.code_point = code_point
        self.line = line
        self.column = column


def _allowed(code_point: int) -> bool:
    return (
        code_point in (0x9, 0xA, 0xD)
        or 0x20 <= code_point <= 0xD7FF
        or 0xE000 <= code_point <= 0xFFFD
        or (0x10000 <= code_point <= 0x10FFFF)
    )


def _reference_value(digits: str) -> int | None:
    """The code point a reference's digits name, or ``None`` when they name none at all."""
    number = digits[1:] if digits[0] == "x" else digits
    if len(number.lstrip("0")) > _MAX_DIGITS:
        return None
    return int(number, 16 if digits[0] == "x" else 10)


def _references(text: str) -> Iterator[re.Match[str]]:
    """The character references in *text*, outside CDATA sections, comments and processing instructions."""
    if "&#" not in text:
        return
    position = 0
    while (match := _MARK.search(text, position)) is not None:
        if match.group(1) is not None:
            yield match
            position = match.end()
            continue
        end = text.find(_ENDS[match.group()], match.end())
        if end < 0:
            return  # unterminated: the parser refuses the document anyway
        position = end + len(_ENDS[match.group()])


def _raw_free(data: bytes, encoding: str) -> bool:
    """Whether *data*, valid in *encoding*, certainly holds no raw character XML 1.0 does not allow.

    Told from the bytes for UTF-8 (a C0 control is its own byte there; U+FFFE and U+FFFF
    begin with EF, which the BMP's last 4,096 characters and the byte order mark share),
    without looking at each character in Python; ``False`` means "look closer", not "there
    is one".
    """
    if encoding != "utf-8" or len(data.translate(None, _C0)) != len(data):
        return False
    return data.find(b"\xef", len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0) < 0


def _first_problem(text: str, *, raw_free: bool = False) -> tuple[int, int, str] | None:
    """The earliest invalid character: (index, code point or -1, how it was written).

    *raw_free* says that *text* is known to hold no raw invalid character (:func:`_raw_free`).
    """
    found: list[tuple[int, int, str]] = []
    raw = None if raw_free else _RAW.search(text)
    if raw:
        found.append((raw.start(), ord(raw.group()), "as a raw character"))
    for match in _references(text):
        value = _reference_value(match.group(1))
        if value is None or not _allowed(value):
            found.append((match.start(), -1 if value is None else value, f"as the reference {match.group()[:16]}"))
            break
    return min(found) if found else None


def clean_characters(
    data: bytes,
    handling: CharacterHandling,
    *,
    charset: str | None = None,
    what: str = "the IDoc",
) -> bytes:
    """*data* with the characters XML 1.0 does not allow handled as *handling* says.

    The result is in the document's own encoding, its declaration still true; *data* itself
    is returned when there is nothing to handle. Raises :class:`InvalidCharacterError` under
    *Throw Error*, and :class:`EncodingError` for a document that is not valid in its
    encoding (malformed bytes are not characters, so no handling applies to them).
    """
    encoding = document_encoding(data, charset, what=what)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise EncodingError(
            f"{what} is not valid {encoding} (byte 0x{data[exc.start : exc.start + 1].hex()} at offset {exc.start}); "
            "send it in the encoding it declares"
        ) from None
    problem = _first_problem(text, raw_free=_raw_free(data, encoding))
    if problem is None:
        return data
    if handling is CharacterHandling.THROW:
        index, code_point, form = problem
        line = text.count("\n", 0, index) + 1
        column = index - (text.rfind("\n", 0, index) + 1) + 1
        name = f"U+{code_point:04X}" if code_point >= 0 else "a code point beyond Unicode"
        raise InvalidCharacterError(
            f"{what} holds {name}, which XML 1.0 does not allow, {form} at line {line}, column {column}; the "
            "channel's Invalid XML Character Handling is Throw Error: clean the field in the sender, or set the "
            "handling to Remove or Substitute",
            code_point=code_point,
            line=line,
            column=column,
        )
    replacement = "" if handling is CharacterHandling.REMOVE else "#"
    pieces: list[str] = []
    position = 0
    for match in _references(text):
        value = _reference_value(match.group(1))
        if value is None or not _allowed(value):
            pieces += [text[position : match.start()], replacement]
            position = match.end()
    pieces.append(text[position:])
    return _RAW.sub(replacement, "".join(pieces)).encode(encoding)
