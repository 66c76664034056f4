"""Custom header properties in queries: CPI's ``filterCustomHeaderProperties`` option on
MessageProcessingLogs, and ``$filter``/``$orderby`` on MessageProcessingLogCustomHeaderProperties.

``filterCustomHeaderProperties='po_number' eq '12345'`` (SAP Help, "Query Options") selects the
messages that carry that property with that value; it combines with ``$filter`` by ``and``.
SAP documents the one comparison; cpimock also joins several with ``and`` (the message has
each) and ``or`` (it has one), ``and`` binding first, and refuses anything else with a 400
that shows the documented form.
"""

from __future__ import annotations

import re

from cpimock.mpl.odata_filter import ODataError
from cpimock.mpl.sql import Where

MAX_CHARS = 4000
MAX_COMPARISONS = 20
# MessageProcessingLogCustomHeaderProperties: OData property -> (column of mpl_property, type)
PROPERTY_FIELDS: dict[str, tuple[str, str]] = {"Name": ("name", "s"), "Value": ("value", "s")}
# SAP Help: "$orderby supports only the combinations $orderby=Name,Value and $orderby=Name desc,Value desc"
PROPERTY_ORDERS: dict[tuple[tuple[str, str], ...], list[tuple[str, bool]]] = {
    (("Name", "asc"), ("Value", "asc")): [("name", False), ("value", False)],
    (("Name", "desc"), ("Value", "desc")): [("name", True), ("value", True)],
}
_EXAMPLE = "filterCustomHeaderProperties='po_number' eq '12345'"
_TOKEN = re.compile(r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<word>[A-Za-z]+))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while text[pos:].strip():
        m = _TOKEN.match(text, pos)
        if m is None:
            start = len(text) - len(text[pos:].lstrip())
            raise ODataError(
                f"Invalid filterCustomHeaderProperties: unexpected {text[start : start + 10]!r} at position "
                f"{start + 1}; write it as {_EXAMPLE}"
            )
        if m.group("string") is not None:
            out.append(("string", m.group("string")[1:-1].replace("''", "'")))
        else:
            out.append(("word", m.group("word")))
        pos = m.end()
    return out


def parse_custom_filter(text: str) -> Where:
    """The messages that *text* selects by their custom header properties, as a condition on ``mpl``."""
    if len(text) > MAX_CHARS:
        raise ODataError(f"Invalid filterCustomHeaderProperties: longer than {MAX_CHARS} characters")
    toks = _tokens(text)
    if not toks:
        raise ODataError(f"Invalid filterCustomHeaderProperties: it is empty; write it as {_EXAMPLE}")
    groups: list[list[Where]] = [[]]
    i = 0
    while True:
        part = toks[i : i + 3]
        kinds = [k for k, _ in part]
        if kinds != ["string", "word", "string"] or part[1][1] != "eq":
            shown = " ".join(repr(v) if k == "string" else v for k, v in part) or "the end"
            raise ODataError(
                f"Invalid filterCustomHeaderProperties: expected 'name' eq 'value', found {shown[:60]}; "
                f"write it as {_EXAMPLE}"
            )
        groups[-1].append(
            Where("guid IN (SELECT guid FROM mpl_property WHERE name = ? AND value = ?)", (part[0][1], part[2][1]))
        )
        if sum(len(g) for g in groups) > MAX_COMPARISONS:
            raise ODataError(f"Invalid filterCustomHeaderProperties: more than {MAX_COMPARISONS} comparisons")
        i += 3
        if i == len(toks):
            break
        joiner = toks[i]
        if joiner not in (("word", "and"), ("word", "or")) or i + 1 == len(toks):
            raise ODataError(
                f"Invalid filterCustomHeaderProperties: expected and, or or the end after a comparison; "
                f"write it as {_EXAMPLE}"
            )
        if joiner[1] == "or":
            groups.append([])
        i += 1
    ands = [_joined(g, "AND") for g in groups]
    return _joined(ands, "OR")


def _joined(parts: list[Where], operator: str) -> Where:
    if len(parts) == 1:
        return parts[0]
    return Where(f" {operator} ".join(f"({w.sql})" for w in parts), tuple(p for w in parts for p in w.params))


def parse_property_orderby(text: str) -> list[tuple[str, bool]]:
    """``$orderby`` on MessageProcessingLogCustomHeaderProperties: only the two combinations CPI supports."""
    parts: list[tuple[str, str]] = []
    for part in text.split(","):
        words = part.split()
        if len(words) not in (1, 2):
            parts = []
            break
        parts.append((words[0], words[1] if len(words) == 2 else "asc"))
    order = PROPERTY_ORDERS.get(tuple(parts))
    if order is None:
        raise ODataError(
            f"Invalid order by expression: {text[:60]!r}; MessageProcessingLogCustomHeaderProperties is ordered "
            "only by $orderby=Name,Value or $orderby=Name desc,Value desc"
        )
    return order
