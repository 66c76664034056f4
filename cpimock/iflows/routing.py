"""Which channel answers a request: CPI's address rules, and paths refused before any rule applies.

``/http/`` (HTTPS) and ``/cxf/`` (SOAP 1.x, SOAP (SAP RM), IDoc) have rules of their own: an
HTTPS address matches exactly, or as a ``/path/*`` prefix, case-insensitively; a ``/cxf/``
address also answers its sub-paths, the longest deployed address winning, with or without its
case (``[server] cxf_case_sensitive``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Generic, TypeVar
from urllib.parse import unquote

from cpimock.iflows.model import IFlow, Route

_ENCODED_CONTROL = re.compile(r"%(?:[01][0-9a-f]|7f)", re.IGNORECASE)


def unsafe_path(raw_path: str) -> str | None:
    """What in a request path *as sent* (still percent-encoded) would change its meaning once
    decoded, or None: the router and ``CamelHttpPath`` see the decoded path, so ``/a/..%2fb``
    reached ``/a/*`` with ``CamelHttpPath`` ``../b``.

    Refused, as Tomcat refuses an encoded slash by default: an encoded slash or backslash
    (``%2F``, ``%5C``), a backslash, an encoded NUL or other control character, and a dot
    segment (``.`` or ``..``, encoded or not, also as ``..;param``), which Tomcat would resolve
    and cpimock refuses rather than guess at. Clients resolve dot segments before they send a
    path, so only a hand-made request holds one.
    """
    path = raw_path.partition("?")[0]
    if "%" not in path and "." not in path and "\\" not in path:
        return None
    lower = path.lower()
    if "%2f" in lower:
        return "an encoded slash (%2F)"
    if "%5c" in lower or "\\" in path:
        return "a backslash"
    if _ENCODED_CONTROL.search(path):
        return "an encoded control character"
    for segment in path.split("/"):
        if unquote(segment.split(";", 1)[0]) in (".", ".."):
            return "a dot segment (. or ..)"
    return None


T = TypeVar("T")


class Router(Generic[T]):
    """CPI's HTTPS address rule: exact addresses (case-insensitive) in a dict, and ``/path/*``
    prefixes tried longest first."""

    def __init__(self, entries: Iterable[tuple[str, T]]) -> None:
        self._exact: dict[str, T] = {}
        self._prefixes: list[tuple[str, T]] = []
        for address, value in entries:
            key = address.lower()
            if key.endswith("/*"):
                self._prefixes.append((key[:-1], value))
            else:
                self._exact[key] = value
        self._prefixes.sort(key=lambda item: len(item[0]), reverse=True)

    def match(self, address: str) -> tuple[T, str] | None:
        """The value for *address* (the part after the prefix) and its ``CamelHttpPath``.

        ``CamelHttpPath`` is what a trailing ``/*`` matched (``/orders/*`` called as
        ``/orders/4711/lines`` gives ``4711/lines``), else the empty string.
        """
        key = address.lower()
        if len(key) > 1 and key.endswith("/"):
            key = key.rstrip("/") or "/"
        found = self._exact.get(key)
        if found is not None:
            return found, ""
        for prefix, value in self._prefixes:
            if key.startswith(prefix):
                return value, address[len(prefix) :]
            if key == prefix[:-1]:
                return value, ""
        return None


class SubPathRouter(Generic[T]):
    """CXF's address rule (SOAP, SOAP (SAP RM), IDoc): ``/path`` answers ``/path`` and every
    ``/path/...``; of the addresses that match a path, the longest wins, so deploying
    ``/path/test`` takes ``/path/test/...`` over from ``/path``. A match ends at a segment
    boundary: ``/path`` does not answer ``/pathology``."""

    def __init__(self, entries: Iterable[tuple[str, T]], *, case_sensitive: bool = True) -> None:
        self._case_sensitive = case_sensitive
        self._exact: dict[str, T] = {}
        for address, value in entries:
            key = self._key(address)
            self._exact[key.rstrip("/") or "/"] = value
        # the longest address first; a few per tenant, so a scan is as quick as anything cleverer
        self._prefixes = sorted(self._exact.items(), key=lambda item: len(item[0]), reverse=True)

    def _key(self, address: str) -> str:
        return address if self._case_sensitive else address.lower()

    def match(self, address: str) -> tuple[T, str] | None:
        """The value for *address* and what follows the matched address (``/path/a/b`` → ``a/b``)."""
        key = self._key(address)
        if len(key) > 1:
            key = key.rstrip("/") or "/"
        found = self._exact.get(key)
        if found is not None:
            return found, ""
        for prefix, value in self._prefixes:
            if prefix == "/" or key.startswith(prefix + "/"):
                rest = address[len(prefix) :].strip("/")
                return value, rest
        return None


class Routes:
    """Every channel of the tenant's iFlows, by the prefix it is served under."""

    def __init__(self, iflows: Iterable[IFlow], *, cxf_case_sensitive: bool = True) -> None:
        by_prefix: dict[str, list[tuple[str, Route]]] = {}
        for iflow in iflows:
            for channel in iflow.channels:
                by_prefix.setdefault(channel.prefix, []).append((channel.address, Route(iflow, channel)))
        self._routers: dict[str, Router[Route] | SubPathRouter[Route]] = {
            prefix: SubPathRouter(entries, case_sensitive=cxf_case_sensitive) if prefix == "/cxf" else Router(entries)
            for prefix, entries in by_prefix.items()
        }

    def match(self, prefix: str, address: str) -> Route | None:
        """The route of a request to *prefix* + *address*, or None when no channel serves it."""
        router = self._routers.get(prefix)
        found = router.match(address) if router is not None else None
        if found is None:
            return None
        route, path = found
        return route if not path else Route(route.iflow, route.channel, path)
