"""JSON to XML: turn a JSON body into an XML document, as a Groovy mapping script would.

``{"order": {"id": 42, "items": ["pen", "ink"]}}`` becomes::

    <?xml version="1.0" encoding="UTF-8"?>
    <order><id>42</id><items>pen</items><items>ink</items></order>

A body that is not a JSON object fails the message (the sender gets CPI's 500 error answer).
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from cpimock.message import Message


def process(message: Message) -> Message:
    data = message.json()
    if not isinstance(data, dict) or len(data) != 1:
        raise ValueError('expected a JSON object with a single root member, e.g. {"order": {...}}')
    ((root_name, content),) = data.items()
    root = ET.Element(root_name)
    _fill(root, content)
    message.body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode").encode()
    message.headers["Content-Type"] = "application/xml; charset=utf-8"
    return message


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, child in value.items():
            for item in child if isinstance(child, list) else [child]:
                _fill(ET.SubElement(element, name), item)
    elif value is not None:
        element.text = str(value).lower() if isinstance(value, bool) else str(value)
