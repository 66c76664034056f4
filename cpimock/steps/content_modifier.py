"""CPI's Content Modifier step, run on a :class:`~cpimock.message.Message`.

A content modifier has a header table, a property table and a body. Each row creates or
deletes one header or exchange property; a created value comes from a constant, another
header or property, a Camel Simple expression (:mod:`cpimock.steps.simple`) or an XPath on the
body, converted to the row's Java data type. Rows run from top to bottom, headers before
properties, and the body last, so that a body template sees the values the same step set.

Everything that can be checked is checked when the step is compiled (at load): an expression
outside the Simple subset, an XPath lxml cannot compile or whose namespace prefix the flow does
not map, a source type cpimock does not have (data store variables, number ranges). The body is
parsed for XPath rows with :mod:`cpimock.xmlsafe`, once per run while it does not change.

XPath is XPath 1.0 (lxml); CPI evaluates XPath 3.1 with Saxon, so XPath 2/3 functions are
refused at load. Node results are kept as text: ``org.w3c.dom.NodeList`` becomes a list of
the nodes' XML, ``Node`` and ``Document`` the XML of the first node.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lxml import etree

from cpimock.errors import CpimockError
from cpimock.message import Message
from cpimock.steps.java_types import DATA_TYPES, ConversionError, to_bool, to_int, xpath_value
from cpimock.steps.simple import SimpleContext, SimpleError, compile_simple, text_of
from cpimock.xmlsafe import XmlError, parse

__all__ = [
    "ContentModifier",
    "ContentModifierError",
    "ContentModifierSpec",
    "Problem",
    "Row",
    "compile_content_modifier",
]


class ContentModifierError(CpimockError):
    """A content modifier cannot run on this message (the body is not XML, a value is not a number, ...)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One row of a header or property table, as the export writes it."""

    action: str  # Create | Delete
    name: str
    type: str  # constant | header | property | expression | xpath | external parameter | ...
    value: str
    datatype: str = ""
    default: str = ""


@dataclass(frozen=True, slots=True)
class ContentModifierSpec:
    headers: tuple[Row, ...] = ()
    properties: tuple[Row, ...] = ()
    body_type: str | None = None  # expression | constant; None leaves the body alone
    body: str = ""


@dataclass(frozen=True, slots=True)
class Problem:
    """A finding of the compilation: ``error`` means the step cannot run."""

    level: Literal["info", "warning", "error"]
    text: str


Table = Literal["header", "property"]
Source = Callable[[Message, SimpleContext, "_Run"], Any]
_UNSUPPORTED_SOURCES = {
    "persisted variables": "a local variable (CPI's data store)",
    "global persisted variables": "a global variable (CPI's data store)",
    "numberRange": "a number range",
}


class _Run:
    """What one run shares between rows: the body parsed once, while it does not change."""

    __slots__ = ("body", "tree")

    def __init__(self) -> None:
        self.body: bytes | None = None
        self.tree: etree._Element | None = None

    def document(self, message: Message, what: str) -> etree._Element:
        if self.tree is None or self.body is not message.body:
            try:
                self.tree = parse(message.body, what=f"the body (read by {what})")
            except XmlError as exc:
                raise ContentModifierError(str(exc)) from None
            self.body = message.body
        return self.tree


@dataclass(frozen=True, slots=True)
class _Op:
    table: Table
    name: str
    source: Source | None  # None: delete
    pattern: Callable[[str], bool] | None = None  # delete every name it matches

    def apply(self, message: Message, context: SimpleContext, run: _Run) -> None:
        store: Any = message.headers if self.table == "header" else message.properties
        if self.pattern is not None:
            for name in [name for name in store if self.pattern(name)]:
                del store[name]
        elif self.source is None:
            store.pop(self.name, None)
        else:
            store[self.name] = self.source(message, context, run)


@dataclass(frozen=True, slots=True)
class ContentModifier:
    """A compiled content modifier: :meth:`run` it on a message."""

    name: str
    ops: tuple[_Op, ...]
    body: Source | None = field(default=None)

    def run(self, message: Message, context: SimpleContext | None = None) -> Message:
        context = context or SimpleContext()
        run = _Run()
        for op in self.ops:
            try:
                op.apply(message, context, run)
            except (ContentModifierError, SimpleError, ConversionError) as exc:
                raise ContentModifierError(f"content modifier {self.name!r}: {op.table} {op.name!r}: {exc}") from None
        if self.body is not None:
            try:
                value = self.body(message, context, run)
            except (ContentModifierError, SimpleError, ConversionError) as exc:
                raise ContentModifierError(f"content modifier {self.name!r}: the body: {exc}") from None
            message.body = value if isinstance(value, bytes) else text_of(value)
        return message


def compile_content_modifier(
    spec: ContentModifierSpec, name: str, namespaces: Mapping[str, str] | None = None
) -> tuple[ContentModifier | None, list[Problem]]:
    """The runnable step (None if any row cannot run) and every finding, each naming its row."""
    problems: list[Problem] = []
    ops: list[_Op] = []
    for table, rows in (("header", spec.headers), ("property", spec.properties)):
        for row in rows:
            where = f"{table} {row.name!r}"
            try:
                ops.append(_compile_row(table, row, dict(namespaces or {}), problems, where))  # type: ignore[arg-type]
            except (SimpleError, ValueError) as exc:
                problems.append(Problem("error", f"{where}: {exc}"))
    body: Source | None = None
    if spec.body_type == "constant" and spec.body:
        text = spec.body
        body = lambda message, context, run: text  # noqa: E731
    elif spec.body_type == "expression" and spec.body:
        try:
            expression = compile_simple(spec.body)
        except SimpleError as exc:
            problems.append(Problem("error", f"the body: {exc}"))
        else:
            body = lambda message, context, run: expression.evaluate(message, context)  # noqa: E731
    elif spec.body_type not in (None, "", "constant", "expression"):
        problems.append(Problem("error", f"the body: type {spec.body_type!r} is neither constant nor expression"))
    if any(problem.level == "error" for problem in problems):
        return None, problems
    return ContentModifier(name, tuple(ops), body), problems


def _compile_row(table: Table, row: Row, namespaces: dict[str, str], problems: list[Problem], where: str) -> _Op:
    if not row.name:
        raise ValueError("the row has no name")
    if row.action == "Delete":
        return _delete(table, row.name)
    if row.action != "Create":
        raise ValueError(f"action {row.action!r} is neither Create nor Delete")
    kind = row.type
    if kind in ("constant", "external parameter"):
        if "${" in row.value:
            problems.append(Problem("info", f"{where}: a constant is set as written, ${{...}} included, as on CPI"))
        value = row.value
        return _Op(table, row.name, lambda message, context, run: value)
    if kind == "header":
        return _Op(table, row.name, lambda message, context, run: message.headers.get(row.value))
    if kind == "property":
        return _Op(table, row.name, lambda message, context, run: message.properties.get(row.value))
    if kind == "expression":
        expression = compile_simple(row.value)
        convert = _converter(row.datatype, problems, where)
        return _Op(table, row.name, lambda message, context, run: convert(expression.evaluate(message, context)))
    if kind == "xpath":
        return _Op(table, row.name, _xpath(row, namespaces, problems, where, f"the XPath of {where}"))
    if kind in _UNSUPPORTED_SOURCES:
        raise ValueError(f"the source type {kind!r} ({_UNSUPPORTED_SOURCES[kind]}) is not run by cpimock")
    raise ValueError(f"the source type {kind!r} is not one cpimock knows")


def _delete(table: Table, name: str) -> _Op:
    """A plain name, ``$name=X``, or Camel's ``$include=pattern,$exclude=pattern`` (as removeHeaders)."""
    if not name.startswith("$"):
        return _Op(table, name, None)
    parts = dict.fromkeys(("$name", "$include"), "")
    excludes: list[str] = []
    for part in name.split(","):
        key, _, value = part.strip().partition("=")
        if key == "$exclude":
            excludes.append(value)
        elif key in parts:
            parts[key] = value
        else:
            raise ValueError(f"{part!r} is not $name=, $include= or $exclude=")
    if parts["$name"]:
        return _Op(table, parts["$name"], None)
    include = parts["$include"]
    if not include:
        raise ValueError("$include= names no pattern")

    def matches(candidate: str) -> bool:
        return _camel_match(candidate, include) and not any(_camel_match(candidate, e) for e in excludes)

    return _Op(table, name, None, matches)


def _camel_match(name: str, pattern: str) -> bool:
    """Camel's PatternHelper.matchPattern: the exact name, a trailing-``*`` prefix, or a regular expression."""
    if name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1])):
        return True
    try:
        return re.fullmatch(pattern, name) is not None
    except re.error:
        return False


def _converter(datatype: str, problems: list[Problem], where: str) -> Callable[[Any], Any]:
    kind = DATA_TYPES.get(datatype.strip())
    if datatype.strip() in ("byte[]", "[B"):
        return lambda value: value if isinstance(value, bytes) else text_of(value).encode("utf-8")
    if kind is None:
        problems.append(Problem("warning", f"{where}: data type {datatype!r} is kept as java.lang.String"))
        kind = "string"
    if kind == "int":
        return to_int
    if kind == "bool":
        return to_bool
    if kind == "string" and datatype.strip() != "java.lang.Object":
        return lambda value: None if value is None else text_of(value)
    return lambda value: value


_WILDCARD_PREFIX = re.compile(r"\*:([A-Za-z_][\w.-]*)")
_LITERAL = re.compile(r"('[^']*'|\"[^\"]*\")")


def xpath1(expression: str) -> str:
    """*expression* with XPath 2's any-namespace name tests (``//*:Order``, ``@*:id``) in XPath 1.0 terms.

    SAP's content uses them often (Saxon reads XPath 3.1); ``*[local-name()='Order']`` selects the
    same nodes, and a positional predicate after it counts the same ones. String literals are
    left alone.
    """
    parts = _LITERAL.split(expression)
    for index in range(0, len(parts), 2):  # the even parts are outside string literals
        parts[index] = _WILDCARD_PREFIX.sub(r"*[local-name()='\1']", parts[index])
    return "".join(parts)


def _xpath(row: Row, namespaces: dict[str, str], problems: list[Problem], where: str, what: str) -> Source:
    try:
        compiled = etree.XPath(xpath1(row.value), namespaces=namespaces, regexp=False, smart_strings=False)
        compiled(etree.fromstring(b"<probe/>"))  # an undefined prefix or function shows only when evaluated
    except etree.XPathError as exc:
        raise ValueError(
            f"{row.value!r} is not an XPath 1.0 expression cpimock can evaluate ({exc}); "
            "map its prefixes in the iFlow's namespace mapping"
        ) from None
    kind = DATA_TYPES.get(row.datatype.strip())
    if kind is None:
        problems.append(Problem("warning", f"{where}: data type {row.datatype!r} is kept as java.lang.String"))
        kind = "string"

    def evaluate(message: Message, context: SimpleContext, run: _Run) -> Any:
        try:
            result = compiled(run.document(message, what))
        except etree.XPathError as exc:
            raise ContentModifierError(f"the XPath {row.value!r} failed: {exc}") from None
        return xpath_value(result, kind)

    return evaluate
