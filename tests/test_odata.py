"""The MPL OData API: $filter to parameterised SQL, query options, CPI's JSON shapes and errors."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import urllib.parse
import xml.dom.minidom
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cpimock.mpl.journal import Journal, MplRecord, Where, refusal
from cpimock.mpl.odata import PAGE_SIZE, answer, parse_options
from cpimock.mpl.odata_filter import MAX_DEPTH, MAX_FILTER_CHARS, MAX_TERMS, ODataError, parse_filter, parse_orderby
from cpimock.mpl.odata_store import Store
from cpimock.mpl.record import StoredAttachment

BASE = "https://mytenant.example/api/v1"


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(tmp_path / "cpimock.db")
    yield j
    j.close()


def get(journal: Journal, path: str, accept: str | None = "application/json", **params: str) -> tuple[int, Any]:
    result = answer(journal, path, list(params.items()), BASE, "CPI_mytenant", accept=accept)
    if result.content_type.startswith("application/json"):
        return result.status, json.loads(result.body)
    return result.status, result.body


def at(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2021, 2, day, hour, tzinfo=dt.UTC)


@pytest.fixture
def mix(journal: Journal) -> dict[str, MplRecord]:
    recs = {
        "ok": MplRecord(
            integration_flow_name="Orders",
            log_start=at(1, 8),
            log_end=at(1, 9),
            sender="S4H",
            application_message_id="PO-1",
            custom_header_properties=[("po_number", "12345")],
            attachments=[StoredAttachment("note", "text/plain", b"hello")],
        ),
        "failed": MplRecord(
            integration_flow_name="Orders",
            status="FAILED",
            log_start=at(3),
            log_end=at(3),
            error="java.lang.Exception: boom",
            error_step="Script1",
        ),
        "refused": refusal("auth", "no client certificate", log_start=at(5), log_end=at(5)),
        "quote": MplRecord(integration_flow_name="it's", log_start=at(7), log_end=at(7)),
    }
    for rec in recs.values():
        journal.record(rec)
    journal.flush()
    return recs


def guids(body: Any) -> list[str]:
    return [e["MessageGuid"] for e in body["d"]["results"]]


# -- $filter ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sql", "params"),
    [
        ("Status eq 'COMPLETED'", "status IS ?", ("COMPLETED",)),
        ("Status ne 'COMPLETED'", "status IS NOT ?", ("COMPLETED",)),
        ("ApplicationMessageId eq null", "application_message_id IS NULL", ()),
        ("LogStart gt datetime'2021-02-01T00:00:00'", "log_start > ?", (1612137600000,)),
        ("LogEnd le datetime'2021-02-01T00:00'", "log_end <= ?", (1612137600000,)),
        ("Sender eq 'it''s'", "sender IS ?", ("it's",)),
        (
            "not (Status eq 'A' or Status eq 'B') and CustomStatus eq 'C'",
            "(NOT ((status IS ?) OR (status IS ?))) AND (custom_status IS ?)",
            ("A", "B", "C"),
        ),
        ("substringof('5%', IntegrationArtifact/Id)", "iflow LIKE ? ESCAPE '\\'", ("%5\\%%",)),
        ("startswith(MessageGuid, 'AG') eq false", "NOT (guid LIKE ? ESCAPE '\\')", ("AG%",)),
    ],
)
def test_filters_become_parameterised_sql(text: str, sql: str, params: tuple[object, ...]) -> None:
    assert parse_filter(text) == Where(sql, params)


def test_sql_looking_literals_stay_parameters(journal: Journal, mix: dict[str, MplRecord]) -> None:
    evil = "x' OR '1'='1'; DROP TABLE mpl; --"
    text = "Status eq '" + evil.replace("'", "''") + "'"
    where = parse_filter(text)
    assert where.params == (evil,)
    assert "DROP" not in where.sql
    assert get(journal, "MessageProcessingLogs", **{"$filter": text}) == (200, {"d": {"results": []}})
    assert journal.count() == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Foo eq 'x'", "'Foo' is not a filterable property"),
        ("Status eq", "expected a literal"),
        ("Status = 'x'", "unexpected \"= 'x'\" at position 8"),
        ("Status like 'x'", "expected an operator"),
        ("(Status eq 'x'", "expected ')'"),
        ("Status eq 'x')", "unexpected ')'"),
        ("Status eq 'x' and", "expected a property name"),
        ("Status eq 'unterminated", "unexpected"),
        ("LogStart gt datetime'2021-02-01T00:00:00+02:00'", "has a zone offset; write the time in UTC"),
        ("LogStart gt datetime'2021-02-01T00:00:00ZZ'", "not of the form"),
        ("LogStart gt datetime'2021-13-01T00:00:00'", "not a valid date"),
        ("LogStart gt datetime'yesterday'", "not of the form"),
        ("LogStart gt '2021-02-01'", "is a date"),
        ("Status eq datetime'2021-02-01T00:00:00'", "is a string"),
        ("Status gt null", "compare null only with eq or ne"),
        ("Status eq true", "not a boolean"),
        ("tolower(Status) eq 'x'", "function 'tolower' is not supported"),
        ("", "it is empty"),
        ("(" * 100 + "Status eq 'x'" + ")" * 100, "nested deeper"),
        ("Status eq 'x' or " * 1000 + "Status eq 'x'", "longer than"),
    ],
)
def test_bad_filters_are_a_400_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(ODataError, match=re.escape(message)) as info:
        parse_filter(text)
    assert info.value.status == 400


# each shape nests one group per level, as deep as the parser allows (MAX_DEPTH levels of unary())
NESTINGS = {
    "or": lambda inner: f"Status eq 'B' or ({inner})",
    "not-or": lambda inner: f"not (Status eq 'B' or {inner})",
    "and-or": lambda inner: f"Status eq 'B' and (Status eq 'C' or ({inner}))",
    "function-or": lambda inner: f"startswith(Status, 'x') or ({inner})",
}


def nested(shape: str, levels: int) -> str:
    text = "Status eq 'A'"
    for _ in range(levels):
        text = NESTINGS[shape](text)
    return text


def deepest(shape: str) -> str:
    """The deepest filter of *shape* that the parser accepts."""
    levels = 0
    while True:
        try:
            parse_filter(nested(shape, levels + 1))
        except ODataError:
            return nested(shape, levels)
        levels += 1


@pytest.mark.parametrize("shape", NESTINGS)
def test_every_filter_the_parser_accepts_runs_on_the_database(journal: Journal, shape: str) -> None:
    text = deepest(shape)
    assert text.count("(") >= MAX_DEPTH // 2 - 1  # each level of a shape takes one or two of MAX_DEPTH
    status, body = get(journal, "MessageProcessingLogs", **{"$filter": text})
    assert status == 200, body
    # one level deeper is a 400 naming the bound, in CPI's error shape
    status, body = get(journal, "MessageProcessingLogs", **{"$filter": NESTINGS[shape](text)})
    assert status == 400
    assert "nested deeper than" in body["error"]["message"]["value"]


def test_a_filter_of_450_comparisons_is_a_400_not_a_503(journal: Journal) -> None:
    many = " or ".join(f"Status eq '{chr(65 + n % 26)}'" for n in range(450))
    assert len(many) <= MAX_FILTER_CHARS
    status, body = get(journal, "MessageProcessingLogs", **{"$filter": many})
    assert status == 400
    assert body == {
        "error": {
            "code": "Bad Request",
            "message": {
                "lang": "en",
                "value": f"Invalid $filter: more than {MAX_TERMS} comparisons; split it into several requests",
            },
        }
    }
    # the twin: as many comparisons as allowed are one flat SQL condition that SQLite runs
    allowed = " or ".join(f"MessageGuid eq 'AG{n}'" for n in range(MAX_TERMS))
    assert parse_filter(allowed).sql.count("(") == MAX_TERMS
    assert get(journal, "MessageProcessingLogs", **{"$filter": allowed})[0] == 200


def test_a_query_too_complex_for_sqlite_is_a_400(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    # should a build of SQLite have lower limits than the parser's bounds assume
    def overflow(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("parser stack overflow")

    monkeypatch.setattr(Store, "query", overflow)
    status, body = get(journal, "MessageProcessingLogs", **{"$filter": "Status eq 'A'"})
    assert status == 400
    assert "too complex" in body["error"]["message"]["value"]


def test_orderby_and_its_errors() -> None:
    assert parse_orderby("LogStart desc, Status") == [("log_start", True), ("status", False)]
    for bad in ("Nope", "LogStart down", "", "LogStart desc extra"):
        with pytest.raises(ODataError, match="Invalid order by expression"):
            parse_orderby(bad)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"$top": "99999999999"}, "at most 2147483647"),
        ({"$top": "-1"}, "expected a whole number"),
        ({"$skip": "ten"}, "expected a whole number"),
        ({"$inlinecount": "some"}, "use allpages or none"),
        ({"$select": "Nope"}, "'Nope' is not a property"),
        ({"$expand": "Payload"}, "'Payload' is not a property"),
        ({"$search": "x"}, "'\\$search' is not supported"),
    ],
)
def test_bad_options_are_a_400(params: dict[str, str], message: str) -> None:
    with pytest.raises(ODataError, match=message):
        parse_options(list(params.items()))


def test_options_twice_and_custom_options() -> None:
    with pytest.raises(ODataError, match="given twice"):
        parse_options([("$top", "1"), ("$top", "2")])
    assert parse_options([("filterCustomHeaderProperties", "x"), ("$format", "xml")]).top is None


# -- answers ------------------------------------------------------------------------------------


def test_the_collection_has_cpis_shape(journal: Journal, mix: dict[str, MplRecord]) -> None:
    status, body = get(journal, "MessageProcessingLogs", **{"$inlinecount": "allpages", "$format": "json"})
    assert status == 200
    assert body["d"]["__count"] == "3"  # the refused call is not among CPI's messages
    entity = next(e for e in body["d"]["results"] if e["MessageGuid"] == mix["ok"].message_guid)
    guid = mix["ok"].message_guid
    uri = f"{BASE}/MessageProcessingLogs('{guid}')"
    assert entity["__metadata"] == {"id": uri, "uri": uri, "type": "com.sap.hci.api.MessageProcessingLog"}
    assert entity["LogStart"] == "/Date(1612166400000)/"
    assert entity["LogEnd"] == "/Date(1612170000000)/"
    assert entity["Status"] == entity["CustomStatus"] == "COMPLETED"
    assert entity["IntegrationArtifact"] == {
        "__metadata": {"type": "com.sap.hci.api.IntegrationArtifact"},
        "Id": "Orders",
        "Name": "Orders",
        "Type": "INTEGRATION_FLOW",
        "PackageId": None,
        "PackageName": None,
    }
    assert entity["LocalComponentName"] == "CPI_mytenant"
    assert len(entity["TransactionId"]) == 32
    navs = ("CustomHeaderProperties", "MessageStoreEntries", "ErrorInformation", "AdapterAttributes", "Attachments")
    for nav in (*navs, "Runs"):
        assert entity[nav] == {"__deferred": {"uri": f"{uri}/{nav}"}}
    assert guids(body) == [r.message_guid for r in (mix["quote"], mix["failed"], mix["ok"])]


def test_filters_select_and_order(journal: Journal, mix: dict[str, MplRecord]) -> None:
    window = "LogStart gt datetime'2021-02-02T00:00:00' and LogEnd lt datetime'2021-02-06T00:00:00'"
    _, body = get(journal, "MessageProcessingLogs", **{"$filter": window, "$orderby": "LogStart asc"})
    assert guids(body) == [mix["failed"].message_guid]
    refusals = {"$filter": window, "$orderby": "LogStart asc", "cpimockRefusals": "include"}
    _, body = get(journal, "MessageProcessingLogs", **refusals)
    assert guids(body) == [mix["failed"].message_guid, mix["refused"].message_guid]
    only_failed = {"$filter": "Status eq 'FAILED'", "$select": "MessageGuid,Status"}
    _, body = get(journal, "MessageProcessingLogs", **only_failed)
    assert {tuple(e) for e in body["d"]["results"]} == {("__metadata", "MessageGuid", "Status")}
    _, body = get(journal, "MessageProcessingLogs", **{"$filter": "CustomStatus eq 'REFUSED'"})
    assert guids(body) == []
    _, body = get(
        journal, "MessageProcessingLogs", **{"$filter": "CustomStatus eq 'REFUSED'", "cpimockRefusals": "only"}
    )
    assert guids(body) == [mix["refused"].message_guid]
    assert body["d"]["results"][0]["IntegrationFlowName"] is None
    _, body = get(journal, "MessageProcessingLogs", **{"$filter": "IntegrationFlowName eq 'it''s'"})
    assert guids(body) == [mix["quote"].message_guid]
    status, count = get(journal, "MessageProcessingLogs/$count", **{"$filter": "Status eq 'FAILED'"})
    assert (status, count) == (200, b"1")
    status, count = get(journal, "MessageProcessingLogs/$count", cpimockRefusals="include")
    assert (status, count) == (200, b"4")


def test_a_bad_query_answers_cpis_error_json(journal: Journal) -> None:
    status, body = get(journal, "MessageProcessingLogs", **{"$filter": "Status eq"})
    assert status == 400
    assert body["error"]["code"] == "Bad Request"
    assert body["error"]["message"]["lang"] == "en"
    assert "expected a literal" in body["error"]["message"]["value"]


def test_paging_at_1000_with_next_links(journal: Journal) -> None:
    for i in range(2500):
        journal.record(MplRecord(application_message_id=str(i)))
    journal.flush()
    seen: list[str] = []
    status, body = get(journal, "MessageProcessingLogs", **{"$top": "2200", "$inlinecount": "allpages"})
    pages = 1
    while True:
        assert status == 200
        assert body["d"]["__count"] == "2500"
        seen += guids(body)
        nxt = body["d"].get("__next")
        if nxt is None:
            break
        assert len(body["d"]["results"]) == PAGE_SIZE
        assert nxt.startswith(f"{BASE}/MessageProcessingLogs?")
        query = urllib.parse.parse_qsl(urllib.parse.urlsplit(nxt).query)
        status, body = get(journal, "MessageProcessingLogs", **dict(query))
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 2200
    _, body = get(journal, "MessageProcessingLogs", **{"$top": "5", "$skip": "2498"})
    assert len(body["d"]["results"]) == 2
    assert "__next" not in body["d"]
    _, body = get(journal, "MessageProcessingLogs", **{"$top": "0"})
    assert body["d"]["results"] == []


def test_key_access_navigation_and_values(journal: Journal, mix: dict[str, MplRecord]) -> None:
    ok, failed, refused = mix["ok"].message_guid, mix["failed"].message_guid, mix["refused"].message_guid
    status, body = get(journal, f"MessageProcessingLogs('{ok}')")
    assert status == 200
    assert body["d"]["MessageGuid"] == ok
    _, body = get(journal, f"MessageProcessingLogs('{ok}')/CustomHeaderProperties")
    [prop] = body["d"]["results"]
    assert (prop["Name"], prop["Value"]) == ("po_number", "12345")
    assert prop["__metadata"]["type"] == "com.sap.hci.api.MessageProcessingLogCustomHeaderProperty"
    _, body = get(journal, f"MessageProcessingLogs('{ok}')/Attachments")
    [att] = body["d"]["results"]
    # OData V2's JSON writes Edm.Int64 as a string
    assert (att["Name"], att["ContentType"], att["PayloadSize"], att["MessageGuid"]) == ("note", "text/plain", "5", ok)
    status, data = get(journal, f"MessageProcessingLogAttachments('{att['Id']}')/$value")
    assert (status, data) == (200, b"hello")
    _, body = get(journal, f"MessageProcessingLogs('{failed}')/ErrorInformation")
    assert body["d"]["LastErrorModelStepId"] == "Script1"
    assert get(journal, f"MessageProcessingLogs('{failed}')/ErrorInformation/$value") == (
        200,
        b"java.lang.Exception: boom",
    )
    status, body = get(journal, f"MessageProcessingLogs('{refused}')/ErrorInformation/$value")
    assert status == 404
    assert f"cpimock messages show {refused}" in body["error"]["message"]["value"]
    assert get(journal, f"MessageProcessingLogs('{refused}')/ErrorInformation/$value", cpimockRefusals="include") == (
        200,
        b"Refused at auth: no client certificate",
    )
    _, body = get(journal, f"MessageProcessingLogs('{ok}')", **{"$expand": "CustomHeaderProperties,ErrorInformation"})
    assert body["d"]["CustomHeaderProperties"]["results"][0]["Value"] == "12345"
    assert body["d"]["ErrorInformation"] is None


@pytest.mark.parametrize(
    "path",
    [
        "MessageProcessingLogs('AGdoesnotexist')",
        "MessageProcessingLogs('AGdoesnotexist')/ErrorInformation/$value",
        "MessageProcessingLogAttachments('999')/$value",
        "MessageProcessingLogAttachments('x')",
        "Nope",
        "MessageProcessingLogs(",
    ],
)
def test_unknown_things_are_404_not_500(journal: Journal, path: str) -> None:
    status, body = get(journal, path)
    assert status == 404
    assert body["error"]["code"] == "Not Found"


def test_a_message_without_error_has_no_error_value(journal: Journal, mix: dict[str, MplRecord]) -> None:
    status, _ = get(journal, f"MessageProcessingLogs('{mix['ok'].message_guid}')/ErrorInformation/$value")
    assert status == 404


def test_metadata_and_service_document(journal: Journal) -> None:
    status, data = get(journal, "$metadata")
    assert status == 200
    doc = xml.dom.minidom.parseString(data)
    sets = [e.getAttribute("Name") for e in doc.getElementsByTagName("EntitySet")]
    assert "MessageProcessingLogs" in sets
    assert get(journal, "")[1]["d"]["EntitySets"][0] == "MessageProcessingLogs"
