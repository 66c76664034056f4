"""Which iFlow answers an address: CPI's rules (case-insensitive, unique, trailing ``/*``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar
from urllib.parse import unquote

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


class _Addressed(Protocol):
    @property
    def address(self) -> str: ...


T = TypeVar("T", bound=_Addressed)


class Router(Generic[T]):
    """Exact addresses in a dict; ``/path/*`` prefixes tried longest first."""

    def __init__(self, iflows: Iterable[T]) -> None:
        self._exact: dict[str, T] = {}
        self._prefixes: list[tuple[str, T]] = []
        for iflow in iflows:
            address = iflow.address.lower()
            if address.endswith("/*"):
                self._prefixes.append((address[:-1], iflow))
            else:
                self._exact[address] = iflow
        self._prefixes.sort(key=lambda item: len(item[0]), reverse=True)

    def match(self, address: str) -> tuple[T, str] | None:
        """The iFlow for *address* (the part after ``/http``) and its ``CamelHttpPath``.

        ``CamelHttpPath`` is what a trailing ``/*`` matched (``/orders/*`` called as
        ``/orders/4711/lines`` gives ``4711/lines``), else the empty string.
        """
        key = address.lower()
        if len(key) > 1 and key.endswith("/"):
            key = key.rstrip("/") or "/"
        found = self._exact.get(key)
        if found is not None:
            return found, ""
        for prefix, iflow in self._prefixes:
            if key.startswith(prefix):
                return iflow, address[len(prefix):]
            if key == prefix[:-1]:
                return iflow, ""
        return None
