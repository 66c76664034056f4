"""The query options of the MPL OData API: OData's system query options for a collection of an
entity type, and the custom options ``filterCustomHeaderProperties`` and ``cpimockRefusals``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cpimock.mpl.odata_custom import PROPERTY_FIELDS, parse_property_orderby
from cpimock.mpl.odata_entities import PROPERTIES, Shape
from cpimock.mpl.odata_filter import ODataError, parse_filter, parse_orderby
from cpimock.mpl.odata_model import MPL, SETS, EntityType
from cpimock.mpl.odata_store import Refusals
from cpimock.mpl.sql import Where

PAGE_SIZE = 1000
MAX_TOP = 2**31 - 1  # $top and $skip are Edm.Int32 in OData V2
_OPTIONS = ("$filter", "$orderby", "$top", "$skip", "$skiptoken", "$select", "$expand", "$inlinecount", "$format")
_REFUSALS: tuple[Refusals, ...] = ("exclude", "include", "only")


@dataclass(frozen=True, slots=True)
class Options:
    where: Where
    order: list[tuple[str, bool]]
    top: int | None
    skip: int
    skiptoken: int
    select: tuple[str, ...] | None
    expand: tuple[str, ...]
    inlinecount: bool

    @property
    def shape(self) -> Shape:
        return Shape(self.select, self.expand)


def _whole(name: str, text: str) -> int:
    if not text.isdigit():
        raise ODataError(f"Invalid system query option {name}={text!r}: expected a whole number like {name}=100")
    value = int(text)
    if value > MAX_TOP:
        raise ODataError(
            f"Invalid system query option {name}={text}: at most {MAX_TOP}; the server pages at "
            f"{PAGE_SIZE} entries anyway"
        )
    return value


def _names(option: str, text: str, kind: EntityType, allowed: Sequence[str]) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        if name not in allowed:
            raise ODataError(
                f"Invalid {option}: {name!r} is not a property of {kind.name}; use one of {', '.join(allowed)}"
            )
    return names


def system_options(params: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The system query options by name; ODataError for unknown or repeated ones."""
    seen: dict[str, str] = {}
    for name, value in params:
        if not name.startswith("$"):
            continue  # custom query options are allowed and ignored here
        if name not in _OPTIONS:
            raise ODataError(f"The system query option {name!r} is not supported here; use {', '.join(_OPTIONS)}")
        if name in seen:
            raise ODataError(f"The system query option {name} is given twice; give it once")
        seen[name] = value
    return seen


def parse_options(params: Sequence[tuple[str, str]], kind: EntityType = MPL) -> Options:
    """Read the system query options for a collection of *kind*; ODataError for bad ones."""
    seen = system_options(params)
    inline = seen.get("$inlinecount", "none")
    if inline not in ("allpages", "none"):
        raise ODataError(f"Invalid system query option $inlinecount={inline!r}: use allpages or none")
    select = seen.get("$select", "").strip()
    properties = kind is SETS[PROPERTIES]
    if "$filter" in seen:
        where = parse_filter(seen["$filter"], PROPERTY_FIELDS) if properties else parse_filter(seen["$filter"])
    else:
        where = Where()
    if "$orderby" in seen:
        order = parse_property_orderby(seen["$orderby"]) if properties else parse_orderby(seen["$orderby"])
    else:
        order = [] if properties else [("log_start", True)]
    return Options(
        where=where,
        order=order,
        top=_whole("$top", seen["$top"]) if "$top" in seen else None,
        skip=_whole("$skip", seen["$skip"]) if "$skip" in seen else 0,
        skiptoken=_whole("$skiptoken", seen["$skiptoken"]) if "$skiptoken" in seen else 0,
        select=None if select in ("", "*") else _names("$select", select, kind, kind.names),
        expand=_names("$expand", seen.get("$expand", ""), kind, [n.name for n in kind.navs]),
        inlinecount=inline == "allpages",
    )


def custom(params: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in params if k == name]
    if len(values) > 1:
        raise ODataError(f"The query option {name} is given twice; give it once")
    return values[0] if values else None


def refusals_option(params: Sequence[tuple[str, str]], default: Refusals) -> Refusals:
    value = custom(params, "cpimockRefusals")
    if value is None:
        return default
    for choice in _REFUSALS:
        if value == choice:
            return choice
    raise ODataError(f"Invalid query option cpimockRefusals={value[:40]!r}: use exclude, include or only")
