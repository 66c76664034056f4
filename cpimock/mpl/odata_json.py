"""Entities and feeds in OData V2's verbose JSON, as CPI answers with ``$format=json`` or
``Accept: application/json``: ``{"d": ...}``, ``__metadata``, ``/Date(ms)/``, ``__deferred``
links, ``__count`` and ``Edm.Int64`` values as strings, ``__next``.
"""

from __future__ import annotations

import datetime as dt
import json

from cpimock.mpl.odata_model import DATETIME, EMPTY, INT64, NS, Entity, Expanded, Feed, Value
from cpimock.mpl.sql import to_ms

JSON = "application/json"


def _value(edm: str, value: Value) -> object:
    if value is None:
        return None
    if edm == DATETIME and isinstance(value, dt.datetime):
        return f"/Date({to_ms(value)})/"
    if edm == INT64 and isinstance(value, int):
        return str(value)  # OData V2 JSON writes Edm.Int64 as a string
    if isinstance(value, dict):
        return {"__metadata": {"type": edm}, **value}
    return value


def entity(base: str, item: Entity) -> dict[str, object]:
    uri = f"{base}/{item.path}"
    meta: dict[str, str] = {"id": uri, "uri": uri, "type": item.type.qualified}
    if item.type.stream:
        meta |= {"media_src": f"{uri}/$value", "content_type": item.media_type or "application/octet-stream"}
    out: dict[str, object] = {"__metadata": meta}
    types = dict(item.type.props)
    for name, value in item.values.items():
        out[name] = _value(types[name], value)
    for name, expanded in item.links.items():
        out[name] = {"__deferred": {"uri": f"{uri}/{name}"}} if expanded is None else _expanded(base, expanded)
    return out


def _expanded(base: str, expanded: Expanded) -> object:
    if isinstance(expanded, list):
        return {"results": [entity(base, e) for e in expanded]}
    if isinstance(expanded, Entity):
        return entity(base, expanded)
    assert expanded is EMPTY
    return None


def feed(base: str, page: Feed) -> dict[str, object]:
    data: dict[str, object] = {}
    if page.count is not None:
        data["__count"] = str(page.count)
    data["results"] = [entity(base, e) for e in page.entities]
    if page.next_url is not None:
        data["__next"] = page.next_url
    return data


def dumps(data: object) -> bytes:
    return json.dumps({"d": data}, ensure_ascii=False).encode("utf-8")


def service(sets: list[str]) -> bytes:
    return dumps({"EntitySets": sets})


def error(code: str, message: str) -> bytes:
    """OData V2's JSON error, as the Apache Olingo V2 library behind CPI's ``/api/v1`` writes it."""
    return json.dumps({"error": {"code": code, "message": {"lang": "en", "value": message}}}).encode("utf-8")


__all__ = ["JSON", "NS", "dumps", "entity", "error", "feed", "service"]
