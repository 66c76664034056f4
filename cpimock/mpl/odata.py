"""CPI's MPL OData V2 API (``/api/v1``) answered from the message log.

:func:`answer` takes the path below ``/api/v1/``, the query parameters, the ``Accept`` header
and the base URL, and returns status, content type and body; it does blocking reads, so the
web layer runs it in a thread. Entities are shaped like a live tenant's (Atom XML unless JSON is
asked for; ``__metadata``, ``/Date(ms)/``, ``__count``, deferred links, paging at 1000 with
``__next`` and ``$skiptoken``). Anything it cannot answer is a 400 (or 404, 406) in CPI's OData
error format, never a 500.

Two custom query options: ``filterCustomHeaderProperties`` (CPI's) and ``cpimockRefusals``
(``exclude``, ``include`` or ``only``): calls refused before an iFlow ran leave no MPL on a
real tenant, so the API leaves them out unless this option or ``[journal] odata_refusals``
asks for them.
"""

from __future__ import annotations

import re
import sqlite3
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cpimock.mpl import odata_atom, odata_json
from cpimock.mpl.journal import Journal
from cpimock.mpl.odata_custom import parse_custom_filter
from cpimock.mpl.odata_entities import ALWAYS_EMPTY, PROPERTIES, Shaper
from cpimock.mpl.odata_filter import ODataError
from cpimock.mpl.odata_format import ATOM, Format, negotiate
from cpimock.mpl.odata_metadata import edmx
from cpimock.mpl.odata_model import MPL, SETS, Entity, Feed
from cpimock.mpl.odata_options import PAGE_SIZE, Options, custom, parse_options, refusals_option, system_options
from cpimock.mpl.odata_store import Refusals, Store

__all__ = ["PAGE_SIZE", "ODataError", "ODataReply", "Options", "answer", "error_answer", "parse_options"]

# what SQLite says of a statement beyond its parser's stack, expression depth or variables
_TOO_COMPLEX = ("parser stack overflow", "Expression tree is too large", "too many SQL variables")
_KEY = r"\((?:[A-Za-z]+=)?'?((?:[^']|'')*?)'?\)"
_PATH = re.compile(rf"^(?P<set>[A-Za-z]+)(?:{_KEY})?(?:/(?P<nav>[A-Za-z$]+))?(?:/(?P<value>\$value))?$")
_NOT_FOUND = "Requested entity could not be found."
# the sets of what cpimock does not keep: always empty
_EMPTY_SETS = frozenset(n.target_set for n in MPL.navs if n.name in ALWAYS_EMPTY)


@dataclass(frozen=True, slots=True)
class ODataReply:
    status: int
    content_type: str
    body: bytes
    # an attachment's name: the body is the sender's bytes under the step's media type, which the
    # web layer serves so that no browser runs them
    attachment: str | None = None

    @classmethod
    def error(cls, exc: ODataError, fmt: Format = ATOM) -> ODataReply:
        if fmt.kind == "json":
            return cls(exc.status, odata_json.JSON, odata_json.error(exc.code, exc.message))
        return cls(exc.status, odata_atom.XML, odata_atom.error(exc.code, exc.message))


class _Call:
    """One API call: its options, format and store."""

    def __init__(self, shaper: Shaper, params: Sequence[tuple[str, str]], fmt: Format) -> None:
        self.shaper = shaper
        self.store = shaper.store
        self.params = params
        self.fmt = fmt

    def entity(self, item: Entity) -> ODataReply:
        base = self.shaper.base
        if self.fmt.kind == "json":
            return ODataReply(200, odata_json.JSON, odata_json.dumps(odata_json.entity(base, item)))
        media = odata_atom.XML if self.fmt.plain_xml else odata_atom.ENTRY
        return ODataReply(200, media, odata_atom.entry(base, item))

    def feed(self, page: Feed) -> ODataReply:
        base = self.shaper.base
        if self.fmt.kind == "json":
            return ODataReply(200, odata_json.JSON, odata_json.dumps(odata_json.feed(base, page)))
        media = odata_atom.XML if self.fmt.plain_xml else odata_atom.FEED
        return ODataReply(200, media, odata_atom.feed(base, page))

    def page(
        self,
        set_name: str,
        opts: Options,
        fetch: Callable[[int, int], list[Entity]],
        count: Callable[[], int],
    ) -> ODataReply:
        offset = opts.skip + opts.skiptoken
        remaining = None if opts.top is None else max(opts.top - opts.skiptoken, 0)
        limit = PAGE_SIZE if remaining is None else min(PAGE_SIZE, remaining)
        entities = fetch(limit + 1, offset) if limit else []
        next_url = None
        if len(entities) > limit and (remaining is None or remaining > limit):
            kept = [(k, v) for k, v in self.params if k != "$skiptoken"] + [("$skiptoken", str(opts.skiptoken + limit))]
            next_url = f"{self.shaper.base}/{set_name}?{urllib.parse.urlencode(kept, quote_via=urllib.parse.quote)}"
        total = count() if opts.inlinecount else None
        return self.feed(Feed(set_name, entities[:limit], set_name, total, next_url))

    def not_found(self, guid: str | None = None) -> ODataError:
        if guid is not None and self.store.hidden(guid):
            return ODataError(
                f"{_NOT_FOUND} (cpimock: {guid} was refused before an iFlow ran, which leaves no MPL on CPI; "
                f"see it with `cpimock messages show {guid}`, or add cpimockRefusals=include)",
                404,
            )
        return ODataError(_NOT_FOUND, 404)


def _key(key: str | None, what: str) -> str:
    if not key:
        raise ODataError(f"{what} needs a key, e.g. {what}('AG...')")
    return key.replace("''", "'")


def _count(value: int) -> ODataReply:
    return ODataReply(200, "text/plain", str(value).encode())


def _messages(call: _Call, key: str | None, nav: str | None, value: bool) -> ODataReply:
    store, shaper = call.store, call.shaper
    if key is None and nav in (None, "$count") and not value:
        opts = parse_options(call.params)
        by_header = custom(call.params, "filterCustomHeaderProperties")
        where = opts.where if by_header is None else opts.where & parse_custom_filter(by_header)
        if nav == "$count":
            return _count(store.count(where))
        return call.page(
            "MessageProcessingLogs",
            opts,
            lambda limit, offset: [shaper.mpl(r, opts.shape) for r in store.query(where, opts.order, limit, offset)],
            lambda: store.count(where),
        )
    guid = _key(key, "MessageProcessingLogs")
    rec = store.get(guid)
    if rec is None:
        raise call.not_found(guid)
    if nav is None:
        return call.entity(shaper.mpl(rec, parse_options(call.params).shape))
    if MPL.nav(nav) is None:
        names = ", ".join(n.name for n in MPL.navs)
        raise ODataError(f"Resource not found for the segment {nav!r}; use one of {names}", 404)
    if value and nav == "ErrorInformation":
        return _error_value(call, guid)
    if value:
        raise ODataError(f"$value is not available for {nav}", 400)
    expanded = shaper.navigation(rec, nav)
    if isinstance(expanded, list):
        path = f"MessageProcessingLogs('{guid}')/{nav}"
        set_name = next(n.target_set for n in MPL.navs if n.name == nav)
        return call.feed(Feed(set_name, expanded, path))
    if not isinstance(expanded, Entity):
        raise call.not_found()
    return call.entity(expanded)


def _custom_headers(call: _Call, key: str | None, nav: str | None, value: bool) -> ODataReply:
    store, shaper = call.store, call.shaper
    kind = SETS[PROPERTIES]
    if key is None and nav in (None, "$count") and not value:
        opts = parse_options(call.params, kind)
        if nav == "$count":
            return _count(store.property_count(opts.where))
        return call.page(
            PROPERTIES,
            opts,
            lambda limit, offset: [
                shaper.property_row(r, opts.shape) for r in store.property_rows(opts.where, opts.order, limit, offset)
            ],
            lambda: store.property_count(opts.where),
        )
    pid = _key(key, PROPERTIES)
    row = store.property(int(pid)) if pid.isdigit() and len(pid) < 19 else None
    if row is None or value or nav not in (None, "Log"):
        raise call.not_found()
    if nav is None:
        return call.entity(shaper.property_row(row, parse_options(call.params, kind).shape))
    rec = store.get(row[1])
    if rec is None:
        raise call.not_found()
    return call.entity(shaper.mpl(rec, parse_options(call.params).shape))


def _error_value(call: _Call, guid: str) -> ODataReply:
    rec = call.store.get(guid)
    text = rec.error_text() if rec is not None else None
    if text is None:
        raise call.not_found(guid)
    return ODataReply(200, "text/plain; charset=utf-8", text.encode("utf-8"))


def _route(call: _Call, path: str) -> ODataReply:
    if path in ("", "/"):
        if call.fmt.kind == "json":
            return ODataReply(200, odata_json.JSON, odata_json.service(list(SETS)))
        return ODataReply(200, odata_atom.SERVICE, odata_atom.service(call.shaper.base, list(SETS)))
    if path == "$metadata":
        return ODataReply(200, odata_atom.XML, edmx())
    m = _PATH.match(path)
    if m is None or m.group("set") not in SETS:
        raise ODataError(f"Resource not found for the segment {path!r}", 404)
    entity_set, key, nav, value = m.group("set"), m.group(2), m.group("nav"), bool(m.group("value"))
    system_options(call.params)  # unknown or repeated options are a 400 on every resource
    if entity_set == "MessageProcessingLogs":
        return _messages(call, key, nav, value)
    if entity_set == PROPERTIES:
        return _custom_headers(call, key, nav, value)
    if entity_set == "MessageProcessingLogErrorInformations" and nav in (None, "$value") and not value:
        guid = _key(key, entity_set)
        if nav == "$value":
            return _error_value(call, guid)
        rec = call.store.get(guid)
        info = call.shaper.error_information(rec) if rec is not None else None
        if info is None:
            raise call.not_found(guid)
        return call.entity(info)
    if entity_set == "MessageProcessingLogAttachments" and nav in (None, "$value") and not value:
        att_key = _key(key, entity_set)
        found = call.store.attachment(int(att_key)) if att_key.isdigit() and len(att_key) < 19 else None
        if found is None:
            raise call.not_found()
        guid, att = found
        if nav == "$value":
            return ODataReply(200, att.content_type or "application/octet-stream", att.data, attachment=att.name)
        return call.entity(call.shaper.attachment(guid, att))
    if entity_set in _EMPTY_SETS and key is None and not value:
        if nav == "$count":
            return _count(0)
        if nav is None:
            opts = parse_options(call.params, SETS[entity_set])
            return call.feed(Feed(entity_set, [], entity_set, 0 if opts.inlinecount else None))
    if entity_set in _EMPTY_SETS:
        raise call.not_found()
    raise ODataError(f"Resource not found for the segment {path!r}", 404)


def error_answer(exc: ODataError, params: Sequence[tuple[str, str]], accept: str | None) -> ODataReply:
    """*exc* in the format the caller asked for (Atom's XML error if that cannot be read)."""
    try:
        return ODataReply.error(exc, negotiate(custom(params, "$format"), accept))
    except ODataError:
        return ODataReply.error(exc)


def answer(
    journal: Journal,
    path: str,
    params: Sequence[tuple[str, str]],
    base: str,
    component: str,
    *,
    accept: str | None = None,
) -> ODataReply:
    """The answer to ``GET /api/v1/<path>?<params>``; *base* is the absolute URL of ``/api/v1``."""
    try:
        fmt = negotiate(custom(params, "$format"), accept)
    except ODataError as exc:
        return ODataReply.error(exc)
    try:
        default: Refusals = "include" if journal.config.odata_refusals else "exclude"
        refusals = refusals_option(params, default)
        with Store(journal.path, refusals) as store:
            return _route(_Call(Shaper(store, base, component), params, fmt), path)
    except ODataError as exc:
        return ODataReply.error(exc, fmt)
    except sqlite3.Error as exc:
        if any(words in str(exc) for words in _TOO_COMPLEX):
            # the parser's bounds keep filters below SQLite's limits; should a build of SQLite have
            # lower ones, the query is still the caller's to simplify, not a failure of the store
            return ODataReply.error(
                ODataError(
                    f"Invalid $filter: too complex for the message log's database ({exc}); "
                    "use fewer nested parentheses or comparisons"
                ),
                fmt,
            )
        return ODataReply.error(
            ODataError(f"The message processing log cannot be read now ({exc}); try again", 503), fmt
        )
