"""XML from outside cpimock (senders' payloads, iFlow exports): parsed so that it cannot hurt.

Every XML document cpimock reads from a sender or an export goes through :func:`parse`. It
uses lxml with everything that makes XML dangerous switched off: no DTD is loaded or accepted
(a document type declaration is refused, so no entity can be declared, expanded or fetched),
no network access, no XInclude, libxml2's limits on huge documents left on, and bounds on the
size and the nesting depth checked here. A document that breaks a rule is refused with one
line naming what was read and why; nothing is repaired silently.
"""

from __future__ import annotations

import functools

from lxml import etree

from cpimock.errors import CpimockError

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_DEPTH", "XmlError", "parse", "parser"]

# a sender's payload is bounded by its channel's body size before it gets here; this bound is
# for callers that have none (export entries are bounded by the archive reader as well)
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# real IDocs nest about ten levels, SOAP envelopes a few more; libxml2 itself stops at 256
DEFAULT_MAX_DEPTH = 128


_DTD_REFUSED = (
    "{what} carries a document type declaration (<!DOCTYPE ...>); cpimock refuses DTDs in XML from "
    "outside, as they can declare and fetch entities: send the document without it"
)


class XmlError(CpimockError, ValueError):
    """A document is not XML cpimock will read: malformed, too big, too deep, or carrying a DTD."""


class _Refuse(etree.Resolver):
    """Refuses to fetch anything a document refers to (external DTDs, entities, XIncludes)."""

    def resolve(self, system_url: str | None, public_id: str | None, context: object) -> None:
        raise _ExternalReference(system_url or public_id or "")


class _ExternalReference(Exception):
    pass


def parser() -> etree.XMLParser:
    """A new lxml parser with entities, DTDs and the network off (parsers are not thread-safe)."""
    made = etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        collect_ids=False,
        remove_blank_text=False,
    )
    made.resolvers.add(_Refuse())
    return made


def parse(
    data: bytes,
    *,
    what: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> etree._Element:
    """The root element of *data*, or :class:`XmlError` naming *what* (e.g. ``"the SOAP envelope"``).

    The document's own encoding declaration applies; *data* must be bytes so that it can.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"XML is read from bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise XmlError(f"{what} is {len(data):,} bytes, more than the {max_bytes:,} bytes cpimock reads as XML")
    if not bytes(data).strip():
        raise XmlError(f"{what} is empty; expected an XML document")
    try:
        root = etree.fromstring(bytes(data), parser())
    except _ExternalReference:
        raise XmlError(_DTD_REFUSED.format(what=what)) from None
    except etree.XMLSyntaxError as exc:
        if "entity" in str(exc).lower() and b"<!DOCTYPE" in bytes(data):
            raise XmlError(_DTD_REFUSED.format(what=what)) from None
        raise XmlError(f"{what} is not well-formed XML: {_first_line(exc)}") from None
    except ValueError as exc:  # e.g. an unsupported encoding declaration
        raise XmlError(f"{what} cannot be read as XML: {exc}") from None
    if root is None:
        raise XmlError(f"{what} holds no XML element")
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XmlError(_DTD_REFUSED.format(what=what))
    _check_depth(root, max_depth, what)
    return root


def _check_depth(root: etree._Element, max_depth: int, what: str) -> None:
    """Refuse *root*'s document if anything but text lies more than *max_depth* elements deep.

    The root element is at depth 1; an element, comment or processing instruction inside an
    element at depth *max_depth* is one level too deep. libxml2 answers this with one compiled
    path, so that the check costs no Python call per element; a bound beyond the path's reach
    (libxml2's parser stops at 256 levels anyway) is checked by walking the tree.
    """
    walk = max_depth > _PATH_DEPTH
    if _walk_deeper_than(root, max_depth) if walk else _deeper_than(max_depth)(root):
        raise XmlError(f"{what} nests elements more than {max_depth} levels deep; cpimock stops there")


# the deepest bound checked with a path of that many steps; libxml2's XPath recursion limit is
# some thousands of steps, and its parser refuses documents deeper than 256 levels without
# huge_tree
_PATH_DEPTH = 512


@functools.lru_cache(maxsize=8)
def _deeper_than(max_depth: int) -> etree.XPath:
    """``/*/*/.../*/node()`` with *max_depth* element steps: whether any node but text lies below them."""
    elements = "/*" * max(max_depth, 0)
    return etree.XPath(f"boolean({elements}/node()[not(self::text())])")


def _walk_deeper_than(root: etree._Element, max_depth: int) -> bool:
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in element)
    return False


def _first_line(exc: etree.XMLSyntaxError) -> str:
    text = str(exc.msg or exc).strip().splitlines()
    line = text[0] if text else "syntax error"
    where = f" (line {exc.lineno}, column {exc.offset})" if exc.lineno else ""
    return f"{line}{where}"
