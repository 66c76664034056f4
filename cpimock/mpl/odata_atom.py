"""Entities and feeds as Atom XML (OData V2's default format, which CPI answers unless asked
for JSON), errors as OData's XML error, and the Atom service document.

Built with lxml: every value is a text node or an attribute value, so whatever a sender put
into a header or a step into a custom header property is escaped by the serializer, and a
character XML 1.0 cannot carry is replaced (not the document refused). The shape follows
Apache Olingo V2, the library behind CPI's ``/api/v1``: ``xml:base`` the service root, hrefs
relative to it, ``m:properties`` inside ``content`` (beside it for media entities), ``m:inline``
for ``$expand``, ``m:count`` for ``$inlinecount`` and a ``next`` link for paging.
"""

from __future__ import annotations

import datetime as dt
import re

from lxml import etree

from cpimock.mpl.odata_model import DATETIME, EMPTY, Entity, Expanded, Feed, Value

ATOM_NS = "http://www.w3.org/2005/Atom"
APP_NS = "http://www.w3.org/2007/app"
M_NS = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
D_NS = "http://schemas.microsoft.com/ado/2007/08/dataservices"
XML_NS = "http://www.w3.org/XML/1998/namespace"
SCHEME = "http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"
RELATED = "http://schemas.microsoft.com/ado/2007/08/dataservices/related/"
FEED = "application/atom+xml;type=feed"
ENTRY = "application/atom+xml;type=entry"
SERVICE = "application/atomsvc+xml"
XML = "application/xml"
_NSMAP = {None: ATOM_NS, "m": M_NS, "d": D_NS}
# characters XML 1.0 cannot carry (C0 controls but tab, CR, LF; surrogates; U+FFFE, U+FFFF)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def _a(tag: str) -> str:
    return f"{{{ATOM_NS}}}{tag}"


def _m(tag: str) -> str:
    return f"{{{M_NS}}}{tag}"


def _d(tag: str) -> str:
    return f"{{{D_NS}}}{tag}"


def _literal(edm: str, value: str | bool | int | dt.datetime) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if edm == DATETIME and isinstance(value, dt.datetime):
        utc = value.astimezone(dt.UTC)
        text = utc.strftime("%Y-%m-%dT%H:%M:%S")
        return f"{text}.{utc.microsecond // 1000:03d}" if utc.microsecond // 1000 else text
    return _text(str(value))


def _property(parent: etree._Element, name: str, edm: str, value: Value) -> None:
    el = etree.SubElement(parent, _d(name))
    if value is None:
        el.set(_m("null"), "true")
    elif isinstance(value, dict):
        el.set(_m("type"), edm)
        for key, inner in value.items():
            _property(el, key, "Edm.String", inner)
    else:
        el.text = _literal(edm, value)


def _link(parent: etree._Element, href: str, rel: str, **attrs: str) -> etree._Element:
    link = etree.SubElement(parent, _a("link"), href=_text(href), rel=rel)
    for name, value in attrs.items():
        link.set(name, _text(value))
    return link


def _head(el: etree._Element, uri: str, title: str, updated: str) -> None:
    etree.SubElement(el, _a("id")).text = _text(uri)
    etree.SubElement(el, _a("title"), type="text").text = _text(title)
    etree.SubElement(el, _a("updated")).text = updated


def _updated() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _entry(base: str, item: Entity, updated: str, parent: etree._Element | None = None) -> etree._Element:
    el = etree.Element(_a("entry"), nsmap=_NSMAP) if parent is None else etree.SubElement(parent, _a("entry"))
    kind = item.type
    _head(el, f"{base}/{item.path}", item.set_name, updated)
    etree.SubElement(el, _a("author")).append(etree.Element(_a("name")))
    if kind.stream:
        media = item.media_type or "application/octet-stream"
        _link(el, f"{item.path}/$value", "edit-media", type=media)
    _link(el, item.path, "edit", title=kind.name)
    for name, expanded in item.links.items():
        nav = kind.nav(name)
        assert nav is not None
        link = _link(el, f"{item.path}/{name}", RELATED + name, title=name, type=FEED if nav.many else ENTRY)
        if expanded is not None:
            _inline(
                base, etree.SubElement(link, _m("inline")), expanded, f"{item.path}/{name}", nav.target_set, updated
            )
    etree.SubElement(el, _a("category"), term=kind.qualified, scheme=SCHEME)
    if kind.stream:
        etree.SubElement(
            el, _a("content"), type=item.media_type or "application/octet-stream", src=f"{item.path}/$value"
        )
        props = etree.SubElement(el, _m("properties"))
    else:
        props = etree.SubElement(etree.SubElement(el, _a("content"), type=XML), _m("properties"))
    types = dict(kind.props)
    for name, value in item.values.items():
        _property(props, name, types[name], value)
    return el


def _inline(base: str, inline: etree._Element, expanded: Expanded, path: str, set_name: str, updated: str) -> None:
    if isinstance(expanded, list):
        _feed(base, Feed(set_name, expanded, path), updated, inline)
    elif isinstance(expanded, Entity):
        _entry(base, expanded, updated, inline)
    else:
        assert expanded is EMPTY


def _feed(base: str, page: Feed, updated: str, parent: etree._Element | None = None) -> etree._Element:
    el = etree.Element(_a("feed"), nsmap=_NSMAP) if parent is None else etree.SubElement(parent, _a("feed"))
    el.set(f"{{{XML_NS}}}base", _text(base + "/"))
    _head(el, f"{base}/{page.path}", page.set_name, updated)
    etree.SubElement(el, _a("author")).append(etree.Element(_a("name")))
    _link(el, page.path, "self", title=page.set_name)
    if page.count is not None:
        etree.SubElement(el, _m("count")).text = str(page.count)
    for item in page.entities:
        _entry(base, item, updated, el)
    if page.next_url is not None:
        _link(el, page.next_url, "next")
    return el


def _bytes(el: etree._Element) -> bytes:
    return etree.tostring(el, xml_declaration=True, encoding="utf-8")


def feed(base: str, page: Feed) -> bytes:
    return _bytes(_feed(base, page, _updated()))


def entry(base: str, item: Entity) -> bytes:
    el = _entry(base, item, _updated())
    el.set(f"{{{XML_NS}}}base", _text(base + "/"))
    return _bytes(el)


def service(base: str, sets: list[str]) -> bytes:
    atom = f"{{{ATOM_NS}}}"
    root = etree.Element(f"{{{APP_NS}}}service", nsmap={None: APP_NS, "atom": ATOM_NS})
    root.set(f"{{{XML_NS}}}base", _text(base + "/"))
    workspace = etree.SubElement(root, f"{{{APP_NS}}}workspace")
    etree.SubElement(workspace, f"{atom}title").text = "Default"
    for name in sets:
        collection = etree.SubElement(workspace, f"{{{APP_NS}}}collection", href=name)
        etree.SubElement(collection, f"{atom}title").text = name
    return _bytes(root)


def error(code: str, message: str) -> bytes:
    """OData V2's XML error: ``<error><code/><message xml:lang="en"/></error>`` in the metadata namespace."""
    root = etree.Element(_m("error"), nsmap={None: M_NS})
    etree.SubElement(root, _m("code")).text = _text(code)
    text = etree.SubElement(root, _m("message"))
    text.set(f"{{{XML_NS}}}lang", "en")
    text.text = _text(message)
    return _bytes(root)
