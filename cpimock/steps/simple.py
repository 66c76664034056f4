"""The subset of Camel's Simple language that content modifiers in SAP's published content use.

A Simple expression is text with ``${...}`` functions in it (``$simple{...}`` is the same);
text outside the functions is kept as it is. cpimock compiles an expression once, when the
iFlow is loaded, so that an expression outside the subset is a load-time report line and not a
failure of the first call. The subset, chosen by how often SAP's own content uses each form:

===========================================  ====================================================
``${body}``, ``${in.body}``,                 the body (bytes when the expression is only this,
``${bodyAs(String)}``                        text otherwise)
``${header.NAME}``, ``${headers.NAME}``,     a header (names compare case-insensitively and may
``${in.header.NAME}``, ``${in.headers.NAME}``  hold spaces and dots)
``${property.NAME}``,                        an exchange property (names are case-sensitive)
``${exchangeProperty.NAME}``
``... .toUpperCase()``, ``.toLowerCase()``,  methods on a header, property or body value;
``.trim()``, ``.length()``, ``.toString()``,  a missing value stays missing (null)
``.substring(a[, b])``, ``.replace('x', 'y')``
``${date:now:PATTERN}``,                     the time now in UTC (the tenant's zone) or in a
``${date-with-timezone:now:ZONE:PATTERN}``   named zone, with a Java ``SimpleDateFormat`` pattern
``${exchangeId}``, ``${camelId}``            the message's exchange id; the iFlow's id
``${null}``, ``${exception.message}``,       null (the main path has no caught exception)
``${exception.stacktrace}``
===========================================  ====================================================

Predicates (``==``, ``contains``, ``in``), nested functions and other Camel functions are
refused with :class:`SimpleError` naming the function and the subset.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cpimock.errors import CpimockError
from cpimock.message import Message
from cpimock.steps.java_dates import compile_pattern

__all__ = ["MAX_EXPRESSION", "SimpleContext", "SimpleError", "SimpleExpression", "compile_simple", "text_of"]

# SAP's editor refuses expression bodies above 256 KB
MAX_EXPRESSION = 256 * 1024
_SUBSET = (
    "${body}, ${in.body}, ${bodyAs(String)}, ${header.X}, ${in.header.X}, ${property.X}, ${exchangeProperty.X}, "
    "${date:now:PATTERN}, ${date-with-timezone:now:ZONE:PATTERN}, ${exchangeId}, ${camelId}, ${null}, "
    "${exception.message}, with .toUpperCase(), .toLowerCase(), .trim(), .length(), .substring(a,b), .replace('a','b')"
)


class SimpleError(CpimockError, ValueError):
    """An expression is outside cpimock's Simple subset, or cannot be evaluated on this message."""


@dataclass(frozen=True, slots=True)
class SimpleContext:
    """What an expression reads besides the message: the exchange's id, the iFlow's id, the time."""

    exchange_id: str = ""
    camel_id: str = ""
    now: datetime | None = None  # fixed in tests; the current time otherwise


Getter = Callable[[Message, SimpleContext], Any]
Method = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class SimpleExpression:
    """A compiled expression: :meth:`evaluate` it on a message."""

    source: str
    _parts: tuple[str | Getter, ...]

    def evaluate(self, message: Message, context: SimpleContext | None = None) -> Any:
        """The value: the function's own value when the expression is one function alone, else the text."""
        context = context or SimpleContext()
        if len(self._parts) == 1 and not isinstance(self._parts[0], str):
            return self._parts[0](message, context)
        return "".join(part if isinstance(part, str) else text_of(part(message, context)) for part in self._parts)

    @property
    def is_body(self) -> bool:
        """True for ``${in.body}`` and its synonyms alone: the body passes through untouched."""
        return len(self._parts) == 1 and self._parts[0] is _body


def compile_simple(source: str) -> SimpleExpression:
    """Compile *source*; raises :class:`SimpleError` naming the first function outside the subset."""
    if len(source) > MAX_EXPRESSION:
        raise SimpleError(f"the expression is {len(source):,} characters, more than the {MAX_EXPRESSION:,} CPI allows")
    parts: list[str | Getter] = []
    position = 0
    for match in re.finditer(r"\$(?:simple)?\{", source):
        if match.start() < position:
            continue
        if match.start() > position:
            parts.append(source[position : match.start()])
        end = source.find("}", match.end())
        if end < 0:
            raise SimpleError(f"{source[match.start() :][:40]!r}: the function opened at {match.start()} is not closed")
        inner = source[match.end() : end]
        if "{" in inner:
            raise SimpleError(f"${{{inner}}}: nested functions are not in cpimock's Simple subset ({_SUBSET})")
        parts.append(_function(inner.strip()))
        position = end + 1
    if position < len(source):
        parts.append(source[position:])
    return SimpleExpression(source, tuple(parts))


def text_of(value: Any) -> str:
    """A value as Camel writes it into text: null as nothing, booleans in lower case, lists joined."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, list | tuple):
        return "".join(text_of(item) for item in value)
    return str(value)


# -- functions ---------------------------------------------------------------------------------------


def _body(message: Message, context: SimpleContext) -> Any:
    return message.body


def _body_text(message: Message, context: SimpleContext) -> Any:
    return message.text


def _null(message: Message, context: SimpleContext) -> Any:
    return None


def _exchange_id(message: Message, context: SimpleContext) -> Any:
    return context.exchange_id


def _camel_id(message: Message, context: SimpleContext) -> Any:
    return context.camel_id


_FIXED: dict[str, Getter] = {
    "body": _body,
    "in.body": _body,
    "bodyAs(String)": _body_text,
    "bodyAs(java.lang.String)": _body_text,
    "mandatoryBodyAs(String)": _body_text,
    "null": _null,
    "exchangeId": _exchange_id,
    "camelId": _camel_id,
    "exception": _null,
    "exception.message": _null,
    "exception.getMessage()": _null,
    "exception.stacktrace": _null,
}
_HEADER = re.compile(r"(?:in\.)?headers?[.:]")
_PROPERTY = re.compile(r"(?:exchangeProperty|property)[.:]")
_BODY = re.compile(r"(?:in\.)?body(?=\.)")


def _function(inner: str) -> Getter:
    fixed = _FIXED.get(inner)
    if fixed is not None:
        return fixed
    if inner.startswith(("date:", "date-with-timezone:")):
        return _date(inner)
    if match := _HEADER.match(inner):
        return _lookup(inner, inner[match.end() :], _header)
    if match := _PROPERTY.match(inner):
        return _lookup(inner, inner[match.end() :], _property)
    if match := _BODY.match(inner):
        methods = _methods(inner[match.end() :])
        if methods is None:
            raise SimpleError(f"${{{inner}}}: only these methods are supported on the body: {_METHOD_NAMES}")
        return _chained(_body_text, methods)
    raise SimpleError(f"${{{inner}}} is not in cpimock's Simple subset ({_SUBSET})")


def _header(message: Message, name: str) -> Any:
    return message.headers.get(name)


def _property(message: Message, name: str) -> Any:
    return message.properties.get(name)


def _lookup(inner: str, rest: str, read: Callable[[Message, str], Any]) -> Getter:
    if not rest:
        raise SimpleError(f"${{{inner}}}: the name is missing")
    # a name may hold dots (SAP.StatusCode): the methods are what follows the last name part that
    # leaves a supported chain; as in Camel, the whole text is looked up first
    for index, char in enumerate(rest):
        if char == "." and index > 0:
            methods = _methods(rest[index:])
            if methods is not None:
                return _with_fallback(rest, rest[:index], methods, read)
    if "(" in rest or "[" in rest:
        raise SimpleError(f"${{{inner}}}: only these methods are supported: {_METHOD_NAMES}")

    def plain(message: Message, context: SimpleContext) -> Any:
        return read(message, rest)

    return plain


def _with_fallback(full: str, name: str, methods: tuple[Method, ...], read: Callable[[Message, str], Any]) -> Getter:
    def lookup(message: Message, context: SimpleContext) -> Any:
        whole = read(message, full)
        if whole is not None:
            return whole
        return _apply(read(message, name), methods, full)

    return lookup


def _chained(getter: Getter, methods: tuple[Method, ...]) -> Getter:
    def chained(message: Message, context: SimpleContext) -> Any:
        return _apply(getter(message, context), methods, "the body")

    return chained


def _apply(value: Any, methods: tuple[Method, ...], what: str) -> Any:
    for method in methods:
        if value is None:
            return None
        try:
            value = method(text_of(value) if not isinstance(value, str) else value)
        except IndexError as exc:
            raise SimpleError(f"{what}: {exc}") from None
    return value


# -- methods (the OGNL part) ----------------------------------------------------------------------------

_METHOD_NAMES = "toUpperCase(), toLowerCase(), trim(), length(), toString(), substring(a[, b]), replace('a', 'b')"
_CALL = re.compile(r"\.(\w+)(?:\(([^()]*)\))?")
_STRING_ARG = re.compile(r"""\s*(?:'([^']*)'|"([^"]*)")\s*""")


def _methods(chain: str) -> tuple[Method, ...] | None:
    """The methods of ``.a().b(1, 2)``, or None if any is outside the supported ones."""
    methods: list[Method] = []
    position = 0
    while position < len(chain):
        match = _CALL.match(chain, position)
        if match is None:
            return None
        method = _method(match.group(1), match.group(2))
        if method is None:
            return None
        methods.append(method)
        position = match.end()
    return tuple(methods) or None


def _method(name: str, args: str | None) -> Method | None:
    if name in ("toUpperCase", "toLowerCase", "trim", "toString") and args in (None, ""):
        simple: dict[str, Method] = {
            "toUpperCase": str.upper,
            "toLowerCase": str.lower,
            "trim": _java_trim,
            "toString": str,
        }
        return simple[name]
    if name == "length" and args in (None, ""):
        return len
    if name == "substring" and args:
        bounds = [part.strip() for part in args.split(",")]
        if len(bounds) <= 2 and all(re.fullmatch(r"\d{1,9}", part) for part in bounds):
            return _substring(*(int(part) for part in bounds))
    if name == "replace" and args:
        matches = [_STRING_ARG.fullmatch(part) for part in args.split(",")]
        pair = [match.group(1) if match.group(1) is not None else match.group(2) for match in matches if match]
        if len(matches) == 2 and len(pair) == 2:
            old, new = pair
            return lambda text: text.replace(old, new)
    return None


def _java_trim(text: str) -> str:
    return text.strip("".join(chr(code) for code in range(0x21)))


def _substring(start: int, end: int | None = None) -> Method:
    def substring(text: str) -> str:
        stop = len(text) if end is None else end
        if start > stop or stop > len(text):  # Java's StringIndexOutOfBoundsException
            raise IndexError(f"substring({start}, {stop}) is out of range for a text of length {len(text)}")
        return text[start:stop]

    return substring


# -- dates ---------------------------------------------------------------------------------------------------


def _date(inner: str) -> Getter:
    if inner.startswith("date-with-timezone:"):
        _, command, zone_name, pattern = [*inner.split(":", 3), "", "", ""][:4]
        try:
            zone: Any = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise SimpleError(f"${{{inner}}}: {zone_name!r} is not a time zone name (such as Europe/Berlin)") from None
    else:
        _, command, pattern = [*inner.split(":", 2), "", ""][:3]
        zone = UTC
    if command != "now":
        raise SimpleError(f"${{{inner}}}: cpimock formats only date:now (not {command!r}) ({_SUBSET})")
    if not pattern:
        raise SimpleError(f"${{{inner}}}: give a pattern, e.g. ${{date:now:yyyy-MM-dd'T'HH:mm:ss}}")
    try:
        format_ = compile_pattern(pattern)
    except ValueError as exc:
        raise SimpleError(f"${{{inner}}}: {exc}") from None

    def now(message: Message, context: SimpleContext) -> Any:
        moment = context.now or datetime.now(UTC)
        return format_(moment.astimezone(zone))

    return now
