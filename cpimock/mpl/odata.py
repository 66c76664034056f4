"""CPI's MPL OData V2 API (``/api/v1/MessageProcessingLogs``) answered from the journal.

:func:`answer` takes the path below ``/api/v1/``, the query parameters and the base URL and
returns status, content type and body; it does blocking reads, so the web layer runs it in a
thread. Entities are shaped like a live tenant's (``{"d": {"results": [...]}}``, ``__metadata``,
``/Date(ms)/``, ``__count`` as a string, ``__deferred`` navigation links, paging at 1000 with
``__next`` and ``$skiptoken``). Only the JSON format is served: ``$format=xml``/``atom`` get
JSON too. Anything it cannot answer is a 400 (or 404) with CPI's error JSON, never a 500.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from cpimock.mpl.journal import Journal, MplRecord, Where
from cpimock.mpl.odata_filter import ODataError, parse_filter, parse_orderby
from cpimock.mpl.odata_metadata import EDMX
from cpimock.mpl.record import StoredAttachment
from cpimock.mpl.sql import to_ms

__all__ = ["PAGE_SIZE", "ODataError", "ODataReply", "Options", "answer", "parse_options"]

PAGE_SIZE = 1000
MAX_TOP = 2**31 - 1  # $top and $skip are Edm.Int32 in OData V2
NS = "com.sap.hci.api"
JSON = "application/json"
NAVIGATION = ("CustomHeaderProperties", "Attachments", "ErrorInformation")
PROPERTIES = (
    "MessageGuid",
    "CorrelationId",
    "ApplicationMessageId",
    "ApplicationMessageType",
    "LogStart",
    "LogEnd",
    "Sender",
    "Receiver",
    "IntegrationFlowName",
    "Status",
    "AlternateWebLink",
    "IntegrationArtifact",
    "LogLevel",
    "CustomStatus",
    "ArchivingStatus",
    "ArchivingSenderChannelMessages",
    "ArchivingReceiverChannelMessages",
    "ArchivingLogAttachments",
    "ArchivingPersistedMessages",
    "TransactionId",
    "PreviousComponentName",
    "LocalComponentName",
    "OriginComponentName",
    "PredecessorMessageGuid",
)
_OPTIONS = ("$filter", "$orderby", "$top", "$skip", "$skiptoken", "$select", "$expand", "$inlinecount", "$format")
# what SQLite says of a statement beyond its parser's stack, expression depth or variables
_TOO_COMPLEX = ("parser stack overflow", "Expression tree is too large", "too many SQL variables")
_KEY = r"\((?:[A-Za-z]+=)?'?((?:[^']|'')*?)'?\)"
_PATH = re.compile(rf"^(?P<set>[A-Za-z]+)(?:{_KEY})?(?:/(?P<nav>[A-Za-z$]+))?(?:/(?P<value>\$value))?$")


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


@dataclass(frozen=True, slots=True)
class ODataReply:
    status: int
    content_type: str
    body: bytes
    # an attachment's name: the body is the sender's bytes under the step's media type, which the
    # web layer serves so that no browser runs them
    attachment: str | None = None

    @classmethod
    def json(cls, data: object, status: int = 200) -> ODataReply:
        return cls(status, JSON, json.dumps(data, ensure_ascii=False).encode("utf-8"))

    @classmethod
    def error(cls, exc: ODataError) -> ODataReply:
        return cls.json(exc.body(), exc.status)


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


def _names(option: str, text: str, allowed: Sequence[str]) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        if name not in allowed:
            raise ODataError(
                f"Invalid {option}: {name!r} is not a property of MessageProcessingLog; use one of {', '.join(allowed)}"
            )
    return names


def parse_options(params: Sequence[tuple[str, str]]) -> Options:
    """Read the system query options; ODataError for unknown, repeated or malformed ones."""
    seen: dict[str, str] = {}
    for name, value in params:
        if not name.startswith("$"):
            continue  # custom query options are allowed and ignored
        if name not in _OPTIONS:
            raise ODataError(f"The system query option {name!r} is not supported here; use {', '.join(_OPTIONS)}")
        if name in seen:
            raise ODataError(f"The system query option {name} is given twice; give it once")
        seen[name] = value
    fmt = seen.get("$format", "json").strip().lower()
    if fmt not in ("json", "application/json", "xml", "atom", "application/xml", "application/atom+xml"):
        raise ODataError(f"Invalid system query option $format={fmt!r}: use $format=json")
    inline = seen.get("$inlinecount", "none")
    if inline not in ("allpages", "none"):
        raise ODataError(f"Invalid system query option $inlinecount={inline!r}: use allpages or none")
    select = seen.get("$select", "").strip()
    return Options(
        where=parse_filter(seen["$filter"]) if "$filter" in seen else Where(),
        order=parse_orderby(seen["$orderby"]) if "$orderby" in seen else [("log_start", True)],
        top=_whole("$top", seen["$top"]) if "$top" in seen else None,
        skip=_whole("$skip", seen["$skip"]) if "$skip" in seen else 0,
        skiptoken=_whole("$skiptoken", seen["$skiptoken"]) if "$skiptoken" in seen else 0,
        select=None if select in ("", "*") else _names("$select", select, (*PROPERTIES, *NAVIGATION)),
        expand=_names("$expand", seen.get("$expand", ""), NAVIGATION),
        inlinecount=inline == "allpages",
    )


def _date(when: object) -> str | None:
    return f"/Date({to_ms(when)})/" if isinstance(when, dt.datetime) else None


class _Shaper:
    def __init__(self, journal: Journal, base: str, component: str) -> None:
        self.journal = journal
        self.base = base.rstrip("/")
        self.component = component

    def uri(self, entity_set: str, key: str) -> str:
        return f"{self.base}/{entity_set}('{key}')"

    def meta(self, entity_set: str, key: str, type_name: str) -> dict[str, str]:
        uri = self.uri(entity_set, key)
        return {"id": uri, "uri": uri, "type": f"{NS}.{type_name}"}

    def mpl(self, rec: MplRecord, opts: Options | None = None) -> dict[str, object]:
        uri = self.uri("MessageProcessingLogs", rec.message_guid)
        flow = rec.integration_flow_name
        entity: dict[str, object] = {
            "__metadata": self.meta("MessageProcessingLogs", rec.message_guid, "MessageProcessingLog"),
            "MessageGuid": rec.message_guid,
            "CorrelationId": rec.correlation_id,
            "ApplicationMessageId": rec.application_message_id,
            "ApplicationMessageType": rec.application_message_type,
            "LogStart": _date(rec.log_start),
            "LogEnd": _date(rec.log_end),
            "Sender": rec.sender,
            "Receiver": rec.receiver,
            "IntegrationFlowName": flow,
            "Status": rec.status,
            "AlternateWebLink": f"{self.base.rsplit('/api/v1', 1)[0]}/monitor#{rec.message_guid}",
            "IntegrationArtifact": {
                "__metadata": {"type": f"{NS}.IntegrationArtifact"},
                "Id": flow,
                "Name": flow,
                "Type": "INTEGRATION_FLOW" if flow else None,
                "PackageId": None,
                "PackageName": None,
            },
            "LogLevel": rec.log_level,
            "CustomStatus": rec.effective_custom_status,
            "ArchivingStatus": "NOT_RELEVANT",
            "ArchivingSenderChannelMessages": False,
            "ArchivingReceiverChannelMessages": False,
            "ArchivingLogAttachments": False,
            "ArchivingPersistedMessages": False,
            "TransactionId": rec.transaction_id,
            "PreviousComponentName": None,
            "LocalComponentName": self.component,
            "OriginComponentName": self.component,
            "PredecessorMessageGuid": None,
        }
        expand = opts.expand if opts else ()
        for nav in NAVIGATION:
            if nav in expand:
                entity[nav] = self.navigation(rec, nav)
            else:
                entity[nav] = {"__deferred": {"uri": f"{uri}/{nav}"}}
        if opts and opts.select is not None:
            entity = {k: v for k, v in entity.items() if k == "__metadata" or k in opts.select}
        return entity

    def attachment(self, guid: str, att: StoredAttachment) -> dict[str, object]:
        key = str(att.id)
        meta = self.meta("MessageProcessingLogAttachments", key, "MessageProcessingLogAttachment")
        meta |= {"media_src": f"{meta['uri']}/$value", "content_type": att.content_type}
        return {
            "__metadata": meta,
            "Id": key,
            "MessageGuid": guid,
            "TimeStamp": _date(att.timestamp),
            "Name": att.name,
            "ContentType": att.content_type,
            "PayloadSize": att.size,
        }

    def error_information(self, rec: MplRecord) -> dict[str, object] | None:
        if rec.error_text() is None:
            return None
        meta = self.meta(
            "MessageProcessingLogErrorInformations", rec.message_guid, "MessageProcessingLogErrorInformation"
        )
        meta |= {"media_src": f"{meta['uri']}/$value", "content_type": "text/plain"}
        kind = f"REFUSED_{rec.refusal_stage.upper()}" if rec.refusal_stage else "PROCESSING"
        return {
            "__metadata": meta,
            "MessageGuid": rec.message_guid,
            "Type": kind,
            "LastErrorModelStepId": rec.error_step,
        }

    def navigation(self, rec: MplRecord, nav: str) -> object:
        guid = rec.message_guid
        if nav == "CustomHeaderProperties":
            return {
                "results": [
                    {
                        "__metadata": self.meta(
                            "MessageProcessingLogCustomHeaderProperties",
                            str(pid),
                            "MessageProcessingLogCustomHeaderProperty",
                        ),
                        "Id": str(pid),
                        "Name": name,
                        "Value": value,
                    }
                    for pid, name, value in self.journal.properties(guid)
                ]
            }
        if nav == "Attachments":
            return {"results": [self.attachment(guid, a) for a in self.journal.attachments(guid)]}
        return self.error_information(rec)


def _collection(shaper: _Shaper, opts: Options, params: Sequence[tuple[str, str]]) -> ODataReply:
    offset = opts.skip + opts.skiptoken
    remaining = None if opts.top is None else max(opts.top - opts.skiptoken, 0)
    limit = PAGE_SIZE if remaining is None else min(PAGE_SIZE, remaining)
    records = shaper.journal.query(opts.where, opts.order, limit + 1, offset) if limit else []
    more = len(records) > limit and (remaining is None or remaining > limit)
    data: dict[str, object] = {}
    if opts.inlinecount:
        data["__count"] = str(shaper.journal.count(opts.where))
    data["results"] = [shaper.mpl(rec, opts) for rec in records[:limit]]
    if more:
        kept = [(k, v) for k, v in params if k != "$skiptoken"] + [("$skiptoken", str(opts.skiptoken + limit))]
        query = urllib.parse.urlencode(kept, quote_via=urllib.parse.quote)
        data["__next"] = f"{shaper.base}/MessageProcessingLogs?{query}"
    return ODataReply.json({"d": data})


def _key(key: str | None, what: str) -> str:
    if not key:
        raise ODataError(f"{what} needs a key, e.g. {what}('AG...')")
    return key.replace("''", "'")


def _route(shaper: _Shaper, path: str, params: Sequence[tuple[str, str]]) -> ODataReply:
    j = shaper.journal
    if path in ("", "/"):
        sets = [
            "MessageProcessingLogs",
            "MessageProcessingLogAttachments",
            "MessageProcessingLogCustomHeaderProperties",
            "MessageProcessingLogErrorInformations",
        ]
        return ODataReply.json({"d": {"EntitySets": sets}})
    if path == "$metadata":
        return ODataReply(200, "application/xml", EDMX.encode("utf-8"))
    m = _PATH.match(path)
    if m is None:
        raise ODataError(f"Resource not found for the segment {path!r}", 404)
    entity_set, key, nav, value = m.group("set"), m.group(2), m.group("nav"), m.group("value")
    opts = parse_options(params)
    if entity_set == "MessageProcessingLogs":
        if key is None and nav == "$count" and not value:
            return ODataReply(200, "text/plain", str(j.count(opts.where)).encode())
        if key is None and nav is None:
            return _collection(shaper, opts, params)
        rec = j.get(_key(key, entity_set))
        if rec is None:
            raise ODataError("Requested entity could not be found.", 404)
        if nav is None:
            return ODataReply.json({"d": shaper.mpl(rec, opts)})
        if nav not in NAVIGATION:
            raise ODataError(f"Resource not found for the segment {nav!r}; use one of {', '.join(NAVIGATION)}", 404)
        if value and nav == "ErrorInformation":
            return _error_value(rec)
        if value:
            raise ODataError(f"$value is not available for {nav}", 400)
        return ODataReply.json({"d": shaper.navigation(rec, nav)})
    if entity_set == "MessageProcessingLogErrorInformations" and (nav is None or nav == "$value"):
        rec = j.get(_key(key, entity_set))
        if rec is None or rec.error_text() is None:
            raise ODataError("Requested entity could not be found.", 404)
        if nav == "$value":
            return _error_value(rec)
        return ODataReply.json({"d": shaper.error_information(rec)})
    if entity_set == "MessageProcessingLogAttachments" and (nav is None or nav == "$value"):
        att_key = _key(key, entity_set)
        found = j.attachment(int(att_key)) if att_key.isdigit() else None
        if found is None:
            raise ODataError("Requested entity could not be found.", 404)
        guid, att = found
        if nav == "$value":
            return ODataReply(200, att.content_type or "application/octet-stream", att.data, attachment=att.name)
        return ODataReply.json({"d": shaper.attachment(guid, att)})
    raise ODataError(f"Resource not found for the segment {path!r}", 404)


def _error_value(rec: MplRecord) -> ODataReply:
    text = rec.error_text()
    if text is None:
        raise ODataError("Requested entity could not be found.", 404)
    return ODataReply(200, "text/plain; charset=utf-8", text.encode("utf-8"))


def answer(journal: Journal, path: str, params: Sequence[tuple[str, str]], base: str, component: str) -> ODataReply:
    """ODataReply ``GET /api/v1/<path>?<params>``; *base* is the absolute URL of ``/api/v1``."""
    shaper = _Shaper(journal, base, component)
    try:
        return _route(shaper, path, params)
    except ODataError as exc:
        return ODataReply.error(exc)
    except sqlite3.Error as exc:
        if any(words in str(exc) for words in _TOO_COMPLEX):
            # the parser's bounds keep filters below SQLite's limits; should a build of SQLite have
            # lower ones, the query is still the caller's to simplify, not a failure of the store
            return ODataReply.error(
                ODataError(
                    f"Invalid $filter: too complex for the message log's database ({exc}); "
                    "use fewer nested parentheses or comparisons"
                )
            )
        return ODataReply.error(ODataError(f"The message processing log cannot be read now ({exc}); try again", 503))
