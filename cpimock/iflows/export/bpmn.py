"""Reading the BPMN2 ``.iflw``: its namespaces and the ``ifl:property`` key/value lists on every element."""

from __future__ import annotations

from lxml import etree

__all__ = ["BPMN", "IFL", "local", "properties", "q"]

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
IFL = "http:///com.sap.ifl.model/Ifl.xsd"


def q(name: str) -> str:
    """The Clark name of a BPMN2 element (``q("process")``)."""
    return f"{{{BPMN}}}{name}"


def local(element: etree._Element) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def properties(element: etree._Element) -> list[tuple[str, str]]:
    """The element's own ``extensionElements/ifl:property`` pairs, in order (values as written)."""
    pairs: list[tuple[str, str]] = []
    extension = element.find(q("extensionElements"))
    if extension is None:
        return pairs
    for item in extension.iterchildren(f"{{{IFL}}}property"):
        key = (item.findtext("key") or "").strip()
        if key:
            pairs.append((key, item.findtext("value") or ""))
    return pairs
