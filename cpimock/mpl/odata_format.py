"""Which format an OData answer takes: ``$format`` first, then the ``Accept`` header.

CPI's API (Apache Olingo V2) answers Atom XML unless a caller asks for JSON with
``$format=json`` or ``Accept: application/json``; ``$format=xml`` is Atom under
``application/xml``. An ``Accept`` header is read strictly (media ranges with ``q`` values,
RFC 9110): one that cannot be read is a 400, one that accepts none of the formats a 406.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from cpimock.mpl.odata_filter import ODataError

Kind = Literal["json", "atom"]

MAX_ACCEPT_CHARS = 2000
MAX_ACCEPT_RANGES = 40
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_RANGE = re.compile(rf"\s*({_TOKEN})/({_TOKEN})\s*((?:;\s*{_TOKEN}\s*=\s*(?:{_TOKEN}|\"[^\"\\]*\")\s*)*)")
_PARAM = re.compile(rf";\s*({_TOKEN})\s*=\s*({_TOKEN}|\"[^\"\\]*\")\s*")
_QVALUE = re.compile(r"(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)")
# what each media type gets; the others are not acceptable
_KINDS: dict[str, Kind] = {
    "application/json": "json",
    "application/atom+xml": "atom",
    "application/xml": "atom",
    "application/*": "atom",
    "*/*": "atom",
}
_FORMATS: dict[str, Kind] = {
    "json": "json",
    "application/json": "json",
    "atom": "atom",
    "application/atom+xml": "atom",
    "xml": "atom",
    "application/xml": "atom",
}


@dataclass(frozen=True, slots=True)
class Format:
    kind: Kind
    # Atom's documents under application/xml ($format=xml, or Accept: application/xml)
    plain_xml: bool = False


JSON = Format("json")
ATOM = Format("atom")


def _ranges(accept: str) -> list[tuple[str, float, int]]:
    """(media range, q, position) for each member of *accept*; ODataError if one cannot be read."""
    if len(accept) > MAX_ACCEPT_CHARS:
        raise ODataError(
            f"The Accept header is longer than {MAX_ACCEPT_CHARS} characters; send Accept: application/json"
        )
    members = [m for m in accept.split(",") if m.strip()]
    if len(members) > MAX_ACCEPT_RANGES:
        raise ODataError(f"The Accept header lists more than {MAX_ACCEPT_RANGES} media ranges")
    out: list[tuple[str, float, int]] = []
    for position, member in enumerate(members):
        m = _RANGE.fullmatch(member)
        if m is None or (m.group(1) == "*" and m.group(2) != "*"):
            raise ODataError(
                f"The Accept header {member.strip()[:60]!r} is not a media range; send Accept: application/json"
            )
        q = 1.0
        for name, value in _PARAM.findall(m.group(3)):
            if name.lower() == "q":
                if not _QVALUE.fullmatch(value):
                    raise ODataError(f"The Accept header's q={value[:20]} is not a quality value between 0 and 1")
                q = float(value)
        out.append((f"{m.group(1)}/{m.group(2)}".lower(), q, position))
    return out


def negotiate(format_option: str | None, accept: str | None) -> Format:
    """The format of the answer; ODataError (400 or 406) naming what to send instead."""
    if format_option is not None:
        fmt = format_option.strip().lower()
        if fmt not in _FORMATS:
            raise ODataError(f"Invalid system query option $format={fmt[:40]!r}: use $format=json or $format=atom")
        return Format(_FORMATS[fmt], plain_xml=fmt in ("xml", "application/xml"))
    if accept is None or not accept.strip():
        return ATOM
    acceptable = [(q, r, p) for r, q, p in _ranges(accept) if q > 0 and r in _KINDS]
    if not acceptable:
        raise ODataError(
            f"Not Acceptable: this API answers application/atom+xml, application/xml or application/json, "
            f"not {accept.strip()[:80]!r}",
            406,
        )
    # highest q first; among equals an explicit type before a wildcard, then the first listed
    _, media, _ = min(acceptable, key=lambda a: (-a[0], "*" in a[1], a[2]))
    return Format(_KINDS[media], plain_xml=media == "application/xml")
