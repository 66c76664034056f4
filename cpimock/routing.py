"""Which iFlow answers an address: CPI's rules (case-insensitive, unique, trailing ``/*``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar


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
