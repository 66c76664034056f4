"""Java data types of content modifier rows: converting a value, and an XPath result, to the row's type.

CPI converts with Camel's type converters; here ``java.lang.String`` (also ``String`` or empty),
``java.lang.Integer``/``Long``, ``java.lang.Boolean`` and ``java.lang.Object`` are converted,
and XPath node results are kept as XML text (``org.w3c.dom.NodeList`` as a list of the nodes'
XML, ``Node`` and ``Document`` as the first node's XML).
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from cpimock.errors import CpimockError
from cpimock.steps.simple import text_of

__all__ = ["DATA_TYPES", "ConversionError", "to_bool", "to_int", "xpath_value"]


class ConversionError(CpimockError, ValueError):
    """A value does not convert to the row's Java data type."""


_STRING_TYPES = ("", "java.lang.String", "String")
DATA_TYPES = {
    **dict.fromkeys(_STRING_TYPES, "string"),
    "java.lang.Integer": "int",
    "Integer": "int",
    "java.lang.Long": "int",
    "int": "int",
    "java.lang.Boolean": "bool",
    "Boolean": "bool",
    "org.w3c.dom.NodeList": "nodes",
    "org.w3c.dom.Node": "node",
    "org.w3c.dom.Document": "node",
    "java.lang.Object": "string",
}


def to_int(value: Any) -> int | None:
    if value is None or isinstance(value, int):
        return value
    text = text_of(value).strip()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not re.fullmatch(r"[+-]?\d{1,19}", text):
        raise ConversionError(f"{text[:40]!r} is not a java.lang.Integer")
    return int(text)


def to_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = text_of(value).strip().lower()
    if text not in ("true", "false"):
        raise ConversionError(f"{text[:40]!r} is not a java.lang.Boolean (true or false)")
    return text == "true"


def xpath_value(result: Any, kind: str) -> Any:
    nodes = result if isinstance(result, list) else None
    if kind == "nodes":
        return [_node_xml(node) for node in nodes] if nodes is not None else [text_of(result)]
    if kind == "node":
        return _node_xml(nodes[0]) if nodes else None if nodes is not None else text_of(result)
    if kind == "bool":
        return bool(nodes) if nodes is not None else bool(result)
    text = _string_value(nodes[0]) if nodes else "" if nodes is not None else _scalar(result)
    return to_int(text) if kind == "int" else text


def _string_value(node: Any) -> str:
    if isinstance(node, etree._Element):
        return "".join(node.itertext())
    return str(node)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else ("NaN" if value != value else repr(value))
    return str(value)


def _node_xml(node: Any) -> str:
    if isinstance(node, etree._Element):
        return etree.tostring(node, encoding="unicode", with_tail=False)
    return str(node)
