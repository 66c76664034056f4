"""OData V2 ``$filter`` and ``$orderby`` on MessageProcessingLogs, turned into parameterised SQL.

Supported: ``eq ne gt lt ge le``, ``and or not``, parentheses, string literals (``'it''s'``),
``null``, ``datetime'2021-02-01T00:00:00'`` (UTC), and the functions ``substringof('x', Field)``,
``startswith(Field, 'x')``, ``endswith(Field, 'x')``. Literal values always travel as SQL
parameters; only column names from the field map (:data:`FIELDS` for MessageProcessingLogs)
reach the SQL.

A ``datetime'...Z'`` literal is read as UTC, the time the sender meant. SAP documents that CPI
does not interpret a zone suffix correctly (all literals are UTC there, and one with ``Z`` "will
not be interpreted correctly"), without saying what it does instead; so cpimock answers the
query and logs a warning that the same filter may select other messages on CPI. A numeric
offset (``+02:00``) is refused: that would be a guess twice over.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cpimock.mpl.journal import Where

log = logging.getLogger("cpimock.mpl.odata")

_CODES = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    503: "Service Unavailable",
}


class ODataError(Exception):
    """A request the OData API refuses: the HTTP status and the message of CPI's OData error.

    The ``code`` follows SAP's own Piper mocks of CPI's API (SAP/jenkins-library
    pkg/cpi/mockingUtils.go), whose errors read ``{"code": "Bad Request", "message": {"@lang":
    "en", "#text": ...}}``: the XML error ``<code>Bad Request</code><message xml:lang="en">``
    turned into JSON. The renderers write it as OData V2's XML or JSON error.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def code(self) -> str:
        return _CODES.get(self.status, "Error")


# OData property -> (column, type); "s" string, "d" DateTime
FIELDS: dict[str, tuple[str, str]] = {
    "MessageGuid": ("guid", "s"),
    "CorrelationId": ("correlation_id", "s"),
    "ApplicationMessageId": ("application_message_id", "s"),
    "ApplicationMessageType": ("application_message_type", "s"),
    "LogStart": ("log_start", "d"),
    "LogEnd": ("log_end", "d"),
    "Sender": ("sender", "s"),
    "Receiver": ("receiver", "s"),
    "IntegrationFlowName": ("iflow", "s"),
    "Status": ("status", "s"),
    "CustomStatus": ("custom_status", "s"),
    "LogLevel": ("log_level", "s"),
    "TransactionId": ("transaction_id", "s"),
    "IntegrationArtifact/Id": ("iflow", "s"),
    "IntegrationArtifact/Name": ("iflow", "s"),
}
_OPS = {"eq": "IS", "ne": "IS NOT", "gt": ">", "lt": "<", "ge": ">=", "le": "<="}
_FUNCS = ("substringof", "startswith", "endswith")
MAX_FILTER_CHARS = 8000
# bounds that keep every filter the parser accepts within what SQLite compiles: its parser's stack
# ran out at about 31 nested groups (each "x or (...)" is one), and a filter beyond that came back
# as a 503 "parser stack overflow". Now it is a 400 naming the bound, with room to spare below
# SQLite's limit; no monitoring query nests 20 deep or compares 100 times.
MAX_DEPTH = 20
MAX_TERMS = 100

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<datetime>datetime'(?P<dtval>[^']*)')
    | (?P<string>'(?:[^']|'')*')
    | (?P<paren>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)?)
    )""",
    re.VERBOSE,
)
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?$")


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # datetime, string, paren, word, end
    text: str
    pos: int
    value: object = None


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            start = len(text) - len(text[pos:].lstrip())
            raise ODataError(f"Invalid $filter: unexpected {text[start : start + 10]!r} at position {start + 1}")
        kind = next(k for k in ("datetime", "string", "paren", "word") if m.group(k) is not None)
        start = m.start(kind)
        if kind == "datetime":
            out.append(_Tok(kind, m.group(kind), start, _parse_datetime(m.group("dtval"))))
        elif kind == "string":
            out.append(_Tok(kind, m.group(kind), start, m.group(kind)[1:-1].replace("''", "'")))
        else:
            out.append(_Tok(kind, m.group(kind), start))
        pos = m.end()
    out.append(_Tok("end", "", len(text)))
    return out


def _parse_datetime(text: str) -> int:
    if re.search(r"[+-]\d{2}:?\d{2}$", text):
        raise ODataError(
            f"Invalid $filter: datetime'{text}' has a zone offset; write the time in UTC without one "
            "(datetime'2021-02-01T00:00:00'), as CPI reads every datetime literal as UTC"
        )
    if text.endswith("Z") and _DATETIME.match(text[:-1]):
        log.warning(
            "OData $filter datetime'%s': read as UTC; CPI does not interpret a zone suffix correctly, "
            "write datetime'%s' for a filter that selects the same messages there",
            text,
            text[:-1],
        )
        text = text[:-1]
    if not _DATETIME.match(text):
        raise ODataError(f"Invalid $filter: datetime'{text}' is not of the form datetime'2021-02-01T00:00:00'")
    try:
        when = dt.datetime.fromisoformat(text[:26]).replace(tzinfo=dt.UTC)
    except ValueError:
        raise ODataError(f"Invalid $filter: datetime'{text}' is not a valid date and time") from None
    return int(when.timestamp() * 1000)


class _Parser:
    def __init__(self, text: str, fields: Mapping[str, tuple[str, str]]) -> None:
        self.fields = fields
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0
        self.terms = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            got = repr(tok.text) if tok.kind != "end" else "the end"
            raise ODataError(f"Invalid $filter: expected {text!r} at position {tok.pos + 1}, found {got}")

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok.kind == "word" and tok.text == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Where:
        where = self.or_expr()
        tok = self.peek()
        if tok.kind != "end":
            raise ODataError(f"Invalid $filter: unexpected {tok.text!r} at position {tok.pos + 1}")
        return where

    def or_expr(self) -> Where:
        operands = [self.and_expr()]
        while self.keyword("or"):
            operands.append(self.and_expr())
        return _joined(operands, "OR")

    def and_expr(self) -> Where:
        operands = [self.unary()]
        while self.keyword("and"):
            operands.append(self.unary())
        return _joined(operands, "AND")

    def term(self) -> None:
        """Count one comparison or function call against :data:`MAX_TERMS`."""
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise ODataError(f"Invalid $filter: more than {MAX_TERMS} comparisons; split it into several requests")

    def unary(self) -> Where:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ODataError(f"Invalid $filter: nested deeper than {MAX_DEPTH} levels")
        try:
            if self.keyword("not"):
                inner = self.unary()
                return Where(f"NOT ({inner.sql})", inner.params)
            if self.peek().text == "(":
                self.take()
                inner = self.or_expr()
                self.expect(")")
                return inner
            return self.comparison()
        finally:
            self.depth -= 1

    def field(self) -> tuple[str, str, str]:
        tok = self.take()
        if tok.kind != "word":
            raise ODataError(f"Invalid $filter: expected a property name at position {tok.pos + 1}")
        if tok.text not in self.fields:
            raise ODataError(
                f"Invalid $filter: {tok.text!r} is not a filterable property; use one of {', '.join(self.fields)}"
            )
        column, kind = self.fields[tok.text]
        return tok.text, column, kind

    def literal(self) -> _Tok:
        tok = self.take()
        if tok.kind in ("string", "datetime") or (tok.kind == "word" and tok.text in ("null", "true", "false")):
            return tok
        raise ODataError(f"Invalid $filter: expected a literal ('text', datetime'...', null) at position {tok.pos + 1}")

    def comparison(self) -> Where:
        tok = self.peek()
        self.term()
        if tok.kind == "word" and tok.text in _FUNCS and self.toks[self.i + 1].text == "(":
            return self.function()
        if tok.kind == "word" and self.toks[self.i + 1].text == "(":
            raise ODataError(f"Invalid $filter: the function {tok.text!r} is not supported; use {', '.join(_FUNCS)}")
        name, column, kind = self.field()
        op_tok = self.take()
        if op_tok.kind != "word" or op_tok.text not in _OPS:
            raise ODataError(
                f"Invalid $filter: expected an operator ({' '.join(_OPS)}) after {name} at position {op_tok.pos + 1}"
            )
        op = op_tok.text
        lit = self.literal()
        if lit.text == "null":
            if op not in ("eq", "ne"):
                raise ODataError(f"Invalid $filter: {name} {op} null is not allowed; compare null only with eq or ne")
            return Where(f"{column} {_OPS[op]} NULL")
        if lit.kind == "word":
            raise ODataError(f"Invalid $filter: {name} is not a boolean property")
        if kind == "d" and lit.kind != "datetime":
            raise ODataError(f"Invalid $filter: {name} is a date; compare it with datetime'2021-02-01T00:00:00'")
        if kind == "s" and lit.kind != "string":
            raise ODataError(f"Invalid $filter: {name} is a string; compare it with a quoted literal 'like this'")
        return Where(f"{column} {_OPS[op]} ?", (lit.value,))

    def function(self) -> Where:
        func = self.take().text
        self.expect("(")
        if func == "substringof":
            lit = self.literal()
            self.expect(",")
            _, column, kind = self.field()
        else:
            _, column, kind = self.field()
            self.expect(",")
            lit = self.literal()
        self.expect(")")
        if kind != "s" or lit.kind != "string":
            raise ODataError(f"Invalid $filter: {func} needs a string property and a quoted string literal")
        text = str(lit.value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = {"substringof": f"%{text}%", "startswith": f"{text}%", "endswith": f"%{text}"}[func]
        where = Where(f"{column} LIKE ? ESCAPE '\\'", (pattern,))
        if self.keyword("eq"):
            value = self.take().text
            if value not in ("true", "false"):
                raise ODataError(f"Invalid $filter: {func}(...) eq must be followed by true or false")
            if value == "false":
                where = Where(f"NOT ({where.sql})", where.params)
        return where


def _joined(operands: list[Where], operator: str) -> Where:
    """``(a) OR (b) OR (c)``: one level of parentheses however many operands (a left-nested
    ``((a) OR (b)) OR (c)`` took one level per operand, and SQLite's parser ran out of stack)."""
    if len(operands) == 1:
        return operands[0]
    return Where(f" {operator} ".join(f"({w.sql})" for w in operands), tuple(p for w in operands for p in w.params))


def parse_filter(text: str, fields: Mapping[str, tuple[str, str]] = FIELDS) -> Where:
    """``$filter`` text to a :class:`Where` on *fields*; ODataError (400) naming what is wrong."""
    if len(text) > MAX_FILTER_CHARS:
        raise ODataError(f"Invalid $filter: longer than {MAX_FILTER_CHARS} characters")
    if not text.strip():
        raise ODataError("Invalid $filter: it is empty; leave $filter out to get every message")
    return _Parser(text, fields).parse()


def parse_orderby(text: str) -> list[tuple[str, bool]]:
    """``$orderby`` text (``LogStart desc, Status``) to (column, descending) pairs of MessageProcessingLogs."""
    order: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise ODataError(f"Invalid order by expression: {part.strip()!r}; write e.g. $orderby=LogStart desc")
        if words[0] not in FIELDS:
            raise ODataError(
                f"Invalid order by expression: {words[0]!r} is not a property; use one of {', '.join(FIELDS)}"
            )
        order.append((FIELDS[words[0]][0], len(words) == 2 and words[1] == "desc"))
    return order
