"""The MPL OData API against documented CPI behaviour, one behaviour (and its rejecting twin) per test.

Sources, cited in each test: SAP Help "Query Options" (loio 99f4b708b1e4474ebe8af1a653aa4c55),
"Get Custom Header Properties" (b90b0b5ffc01491d95edc06bfce00f8d), "Message Processing Logs"
(827a2d7e9c6f4866a1d6c0e647bcacd2), SAP's MessageProcessingLogs EDMX, and SAP's Piper mocks of
CPI's API (SAP/jenkins-library pkg/cpi/mockingUtils.go).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from cpimock.config import JournalConfig
from cpimock.mpl.journal import Journal, MplRecord, Where, refusal
from cpimock.mpl.odata import ODataReply, answer
from cpimock.mpl.odata_model import SETS
from cpimock.mpl.record import StoredAttachment

BASE = "https://mytenant.example/api/v1"
JSON = "application/json"
NS = {
    "a": "http://www.w3.org/2005/Atom",
    "m": "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata",
    "d": "http://schemas.microsoft.com/ado/2007/08/dataservices",
    "edm": "http://schemas.microsoft.com/ado/2008/09/edm",
}


def at(day: int) -> dt.datetime:
    return dt.datetime(2021, 2, day, 8, 30, 15, 250000, tzinfo=dt.UTC)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(tmp_path / "cpimock.db")
    yield j
    j.close()


@pytest.fixture
def mix(journal: Journal) -> dict[str, MplRecord]:
    recs = {
        "po": MplRecord(
            integration_flow_name="Orders",
            log_start=at(1),
            log_end=at(1),
            custom_header_properties=[("po_number", "12345"), ("customer", "ACME")],
            attachments=[StoredAttachment("note", "text/plain", b"hello")],
        ),
        "other": MplRecord(
            integration_flow_name="Orders",
            log_start=at(2),
            log_end=at(2),
            custom_header_properties=[("po_number", "99999")],
        ),
        "failed": MplRecord(
            integration_flow_name="Invoices", status="FAILED", log_start=at(3), log_end=at(3), error="boom"
        ),
        "refused": refusal("auth", "no client certificate", log_start=at(4), log_end=at(4)),
    }
    for rec in recs.values():
        journal.record(rec)
    journal.flush()
    return recs


def call(journal: Journal, path: str, accept: str | None = JSON, **params: str) -> ODataReply:
    return answer(journal, path, list(params.items()), BASE, "CPI_mytenant", accept=accept)


def get(journal: Journal, path: str, **params: str) -> tuple[int, Any]:
    reply = call(journal, path, **params)
    return reply.status, json.loads(reply.body) if reply.content_type == JSON else reply.body


def guids(body: Any) -> list[str]:
    return sorted(e["MessageGuid"] for e in body["d"]["results"])


# -- filterCustomHeaderProperties ---------------------------------------------------------------


def test_filter_custom_header_properties_selects_the_messages_with_that_value(
    journal: Journal, mix: dict[str, MplRecord]
) -> None:
    """SAP Help "Query Options": ``/MessageProcessingLogs?filterCustomHeaderProperties='po_number'
    eq '12345'`` returns the MPLs with that custom header property and value, and combines with
    ``$filter``."""
    _, body = get(journal, "MessageProcessingLogs", filterCustomHeaderProperties="'po_number' eq '12345'")
    assert guids(body) == [mix["po"].message_guid]
    both = {"filterCustomHeaderProperties": "'po_number' eq '12345'", "$filter": "Status eq 'COMPLETED'"}
    _, body = get(journal, "MessageProcessingLogs", **both)
    assert guids(body) == [mix["po"].message_guid]
    either = "'po_number' eq '12345' or 'po_number' eq '99999'"
    _, body = get(journal, "MessageProcessingLogs", filterCustomHeaderProperties=either)
    assert guids(body) == sorted([mix["po"].message_guid, mix["other"].message_guid])
    status, count = get(journal, "MessageProcessingLogs/$count", filterCustomHeaderProperties=either)
    assert (status, count) == (200, b"2")


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("'po_number' eq '00000'", 0),  # no message has it: none, not all (the option was ignored before)
        ("'po_number' eq '12345' and 'customer' eq 'OTHER'", 0),
        ("'po_number' eq '12345' and 'customer' eq 'ACME'", 1),
        ("'PO_NUMBER' eq '12345'", 0),
    ],
)
def test_filter_custom_header_properties_selects_nothing_else(
    journal: Journal, mix: dict[str, MplRecord], value: str, found: int
) -> None:
    """The rejecting twin: the option narrows; a value no message carries selects no message."""
    _, body = get(journal, "MessageProcessingLogs", filterCustomHeaderProperties=value)
    assert len(body["d"]["results"]) == found


@pytest.mark.parametrize(
    "value", ["po_number eq '12345'", "'po_number' ne '1'", "'po_number' eq", "", "'a' eq 'b' and", "'a' eq 'b' xor"]
)
def test_a_malformed_custom_header_filter_is_a_400_that_shows_the_form(journal: Journal, value: str) -> None:
    """cpimock reads the option strictly: what SAP documents, joined with and/or, or a 400."""
    status, body = get(journal, "MessageProcessingLogs", filterCustomHeaderProperties=value)
    assert status == 400
    assert "'po_number' eq '12345'" in body["error"]["message"]["value"]


# -- MessageProcessingLogCustomHeaderProperties ---------------------------------------------------


def test_the_custom_header_property_set_filters_by_name_and_value_and_leads_to_its_log(
    journal: Journal, mix: dict[str, MplRecord]
) -> None:
    """SAP Help "Query Options": ``/MessageProcessingLogCustomHeaderProperties?$filter=Name eq
    'po_number' and Value eq '12345'`` gives the property with its Id, and
    ``/MessageProcessingLogCustomHeaderProperties('<Id>')/Log`` the MPL that carries it."""
    query = {"$filter": "Name eq 'po_number' and Value eq '12345'"}
    status, body = get(journal, "MessageProcessingLogCustomHeaderProperties", **query)
    assert status == 200
    [prop] = body["d"]["results"]
    assert (prop["Name"], prop["Value"]) == ("po_number", "12345")
    assert prop["__metadata"]["type"] == "com.sap.hci.api.MessageProcessingLogCustomHeaderProperty"
    assert prop["Log"] == {
        "__deferred": {"uri": f"{BASE}/MessageProcessingLogCustomHeaderProperties('{prop['Id']}')/Log"}
    }
    status, log = get(journal, f"MessageProcessingLogCustomHeaderProperties('{prop['Id']}')/Log")
    assert (status, log["d"]["MessageGuid"]) == (200, mix["po"].message_guid)
    _, one = get(journal, f"MessageProcessingLogCustomHeaderProperties('{prop['Id']}')", **{"$expand": "Log"})
    assert one["d"]["Log"]["IntegrationFlowName"] == "Orders"
    _, everything = get(journal, "MessageProcessingLogCustomHeaderProperties", **{"$inlinecount": "allpages"})
    assert everything["d"]["__count"] == "3"
    _, ordered = get(journal, "MessageProcessingLogCustomHeaderProperties", **{"$orderby": "Name desc,Value desc"})
    assert [(p["Name"], p["Value"]) for p in ordered["d"]["results"]] == [
        ("po_number", "99999"),
        ("po_number", "12345"),
        ("customer", "ACME"),
    ]


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("MessageProcessingLogCustomHeaderProperties", {"$filter": "Name eq 'po_number' and Value eq '1'"}, 200),
        ("MessageProcessingLogCustomHeaderProperties('999')", {}, 404),
        ("MessageProcessingLogCustomHeaderProperties('999')/Log", {}, 404),
        ("MessageProcessingLogCustomHeaderProperties('x')/Log", {}, 404),
        ("MessageProcessingLogCustomHeaderProperties", {"$filter": "Status eq 'FAILED'"}, 400),
        ("MessageProcessingLogCustomHeaderProperties", {"$orderby": "Value"}, 400),
        ("MessageProcessingLogCustomHeaderProperties", {"$orderby": "Name,Value desc"}, 400),
    ],
)
def test_the_custom_header_property_set_refuses_what_cpi_does_not_serve(
    journal: Journal, mix: dict[str, MplRecord], path: str, params: dict[str, str], status: int
) -> None:
    """The twin: no property of that value, no property of that Id; and SAP Help "Message Processing
    Logs": ``$orderby`` on this entity "supports only the combinations $orderby=Name,Value and
    $orderby=Name desc,Value desc"."""
    got, body = get(journal, path, **params)
    assert got == status
    if status == 200:
        assert body["d"]["results"] == []


# -- $expand and navigation -----------------------------------------------------------------------


def test_every_navigation_property_expands(journal: Journal, mix: dict[str, MplRecord]) -> None:
    """SAP Help "Query Options": ``$expand=AdapterAttributes`` on MessageProcessingLogs returns the
    adapter attributes in line; the EDMX's navigation properties are CustomHeaderProperties,
    MessageStoreEntries, ErrorInformation, AdapterAttributes, Attachments and Runs. What cpimock
    does not keep (adapter attributes, message store entries, runs) is an empty set."""
    navs = "CustomHeaderProperties,MessageStoreEntries,ErrorInformation,AdapterAttributes,Attachments,Runs"
    _, body = get(journal, f"MessageProcessingLogs('{mix['po'].message_guid}')", **{"$expand": navs})
    entity = body["d"]
    assert [(p["Name"], p["Value"]) for p in entity["CustomHeaderProperties"]["results"]] == [
        ("po_number", "12345"),
        ("customer", "ACME"),
    ]
    assert [a["Name"] for a in entity["Attachments"]["results"]] == ["note"]
    assert entity["ErrorInformation"] is None
    for empty in ("AdapterAttributes", "MessageStoreEntries", "Runs"):
        assert entity[empty] == {"results": []}
        status, nav = get(journal, f"MessageProcessingLogs('{mix['po'].message_guid}')/{empty}")
        assert (status, nav) == (200, {"d": {"results": []}})
    _, failed = get(
        journal, "MessageProcessingLogs", **{"$expand": "ErrorInformation", "$filter": "Status eq 'FAILED'"}
    )
    assert failed["d"]["results"][0]["ErrorInformation"]["Type"] == "PROCESSING"
    status, runs = get(journal, "MessageProcessingLogRuns", **{"$inlinecount": "allpages"})
    assert (status, runs) == (200, {"d": {"__count": "0", "results": []}})


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("MessageProcessingLogs", {"$expand": "Payload"}, 400),
        ("MessageProcessingLogs('{po}')/Payload", {}, 404),
        ("MessageProcessingLogAdapterAttributes('1')", {}, 404),
        ("MessageProcessingLogs('{po}')/ErrorInformation", {}, 404),
    ],
)
def test_a_navigation_cpi_does_not_have_is_refused(
    journal: Journal, mix: dict[str, MplRecord], path: str, params: dict[str, str], status: int
) -> None:
    """The twin: a name outside the EDMX is a 400 in ``$expand`` and a 404 as a segment."""
    got, body = get(journal, path.format(po=mix["po"].message_guid), **params)
    assert got == status
    assert set(body["error"]) == {"code", "message"}


# -- formats --------------------------------------------------------------------------------------


def test_atom_is_the_default_format(journal: Journal, mix: dict[str, MplRecord]) -> None:
    """OData V2 answers Atom unless asked for JSON; SAP Help "Query Options" and "Get Custom Header
    Properties" show CPI's answers as Atom (``<feed>``, ``<link rel="next">``, ``<content
    type="application/xml"><m:properties>``); JSON needs ``$format=json`` or ``Accept:
    application/json`` (SAP API Business Hub)."""
    reply = call(journal, "MessageProcessingLogs", accept=None, **{"$inlinecount": "allpages", "$top": "2"})
    assert (reply.status, reply.content_type) == (200, "application/atom+xml;type=feed")
    feed = etree.fromstring(reply.body)
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    assert feed.get("{http://www.w3.org/XML/1998/namespace}base") == BASE + "/"
    assert feed.findtext("m:count", namespaces=NS) == "3"
    entries = feed.findall("a:entry", NS)
    assert len(entries) == 2
    props = entries[1].find("a:content/m:properties", NS)
    assert props is not None
    assert props.findtext("d:MessageGuid", namespaces=NS) == mix["other"].message_guid
    assert props.findtext("d:LogStart", namespaces=NS) == "2021-02-02T08:30:15.250"
    assert props.find("d:ApplicationMessageId", NS).get(f"{{{NS['m']}}}null") == "true"  # type: ignore[union-attr]
    assert props.findtext("d:IntegrationArtifact/d:Id", namespaces=NS) == "Orders"
    assert props.findtext("d:ArchivingLogAttachments", namespaces=NS) == "false"
    rels = {link.get("title"): link.get("href") for link in entries[1].findall("a:link", NS)}
    assert (
        rels["CustomHeaderProperties"] == f"MessageProcessingLogs('{mix['other'].message_guid}')/CustomHeaderProperties"
    )
    assert entries[1].find("a:category", NS).get("term") == "com.sap.hci.api.MessageProcessingLog"  # type: ignore[union-attr]
    for ask, kind in (({"$format": "json"}, None), ({}, JSON), ({}, "application/json;q=0.9, text/html;q=0.1")):
        reply = call(journal, "MessageProcessingLogs", accept=kind, **ask)
        assert reply.content_type == JSON, (ask, kind)
    reply = call(journal, "MessageProcessingLogs", accept=None, **{"$format": "xml"})
    assert reply.content_type == "application/xml"
    assert etree.fromstring(reply.body).tag == "{http://www.w3.org/2005/Atom}feed"
    for kind in ("*/*", "application/xml", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"):
        assert call(journal, "MessageProcessingLogs", accept=kind).content_type.startswith("application/"), kind
        assert b"<feed" in call(journal, "MessageProcessingLogs", accept=kind).body


def test_atom_pages_with_a_next_link(
    journal: Journal, mix: dict[str, MplRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SAP Help "Query Options": past a page, the feed ends in ``<link href="...?$skiptoken=1000"
    rel="next"/>`` (cpimock pages at 1000 as CPI; two here)."""
    monkeypatch.setattr("cpimock.mpl.odata.PAGE_SIZE", 2)
    feed = etree.fromstring(call(journal, "MessageProcessingLogs", accept=None, **{"$orderby": "LogStart"}).body)
    [following] = [link for link in feed.findall("a:link", NS) if link.get("rel") == "next"]
    assert following.get("href") == f"{BASE}/MessageProcessingLogs?%24orderby=LogStart&%24skiptoken=2"
    last = etree.fromstring(
        call(journal, "MessageProcessingLogs", accept=None, **{"$orderby": "LogStart", "$skiptoken": "2"}).body
    )
    assert len(last.findall("a:entry", NS)) == 1
    assert [link for link in last.findall("a:link", NS) if link.get("rel") == "next"] == []


@pytest.mark.parametrize(
    ("accept", "params", "status"),
    [
        ("text/csv", {}, 406),
        ("application/json;q=0", {}, 406),
        ("application/json;q=2", {}, 400),
        ("json", {}, 400),
        (None, {"$format": "csv"}, 400),
    ],
)
def test_a_format_the_api_does_not_speak_is_refused_in_xml(
    journal: Journal, accept: str | None, params: dict[str, str], status: int
) -> None:
    """The twin: what asks for neither Atom nor JSON is refused, with OData's XML error."""
    reply = call(journal, "MessageProcessingLogs", accept=accept, **params)
    assert (reply.status, reply.content_type) == (status, "application/xml")
    assert etree.fromstring(reply.body).tag == f"{{{NS['m']}}}error"


def test_atom_media_entities_and_expanded_links(journal: Journal, mix: dict[str, MplRecord]) -> None:
    """OData V2 Atom: a media entity (attachment, error information) has ``content src`` and its
    ``m:properties`` beside the content; ``$expand`` puts the related feed in ``m:inline``."""
    guid = mix["po"].message_guid
    reply = call(journal, f"MessageProcessingLogs('{guid}')", accept=None, **{"$expand": "Attachments"})
    assert reply.content_type == "application/atom+xml;type=entry"
    entry = etree.fromstring(reply.body)
    inline = entry.find("a:link[@title='Attachments']/m:inline/a:feed", NS)
    assert inline is not None
    [att] = inline.findall("a:entry", NS)
    content = att.find("a:content", NS)
    assert content is not None
    assert (content.get("type"), content.get("src", "").endswith("/$value")) == ("text/plain", True)
    assert att.findtext("m:properties/d:PayloadSize", namespaces=NS) == "5"
    reply = call(journal, "", accept=None)
    assert reply.content_type == "application/atomsvc+xml"
    titles = etree.fromstring(reply.body).findall(".//{http://www.w3.org/2007/app}collection")
    assert [c.get("href") for c in titles] == list(SETS)


def test_atom_escapes_what_senders_and_steps_wrote(journal: Journal) -> None:
    """Built with lxml, not by concatenation: markup in a value stays text, and a character XML
    1.0 cannot carry is replaced instead of breaking the document."""
    hostile = "</d:Value><script>alert(1)</script>&amp;\x01\x0b"
    journal.record(MplRecord(custom_header_properties=[("x", hostile)], sender="<S4&H>"))
    journal.flush()
    feed = etree.fromstring(call(journal, "MessageProcessingLogCustomHeaderProperties", accept=None).body)
    shown = feed.findtext("a:entry/a:content/m:properties/d:Value", namespaces=NS)
    assert shown == "</d:Value><script>alert(1)</script>&amp;\ufffd\ufffd"
    logs = etree.fromstring(call(journal, "MessageProcessingLogs", accept=None).body)
    assert logs.findtext("a:entry/a:content/m:properties/d:Sender", namespaces=NS) == "<S4&H>"


def test_metadata_describes_exactly_what_the_entities_carry(journal: Journal, mix: dict[str, MplRecord]) -> None:
    """``$metadata`` and the entities come from one model: every property an entity carries is
    declared with its type, every navigation property has its association and association set."""
    doc = etree.fromstring(call(journal, "$metadata").body)
    schema = doc.find(".//edm:Schema", NS)
    assert schema is not None
    assert schema.get("Namespace") == "com.sap.hci.api"
    types = {t.get("Name"): t for t in schema.findall("edm:EntityType", NS)}
    associations = {a.get("Name") for a in schema.findall("edm:Association", NS)}
    sets = {s.get("Name"): s.get("EntityType") for s in schema.findall("edm:EntityContainer/edm:EntitySet", NS)}
    association_sets = {s.get("Association") for s in schema.findall("edm:EntityContainer/edm:AssociationSet", NS)}
    assert (
        sets["MessageProcessingLogCustomHeaderProperties"] == "com.sap.hci.api.MessageProcessingLogCustomHeaderProperty"
    )
    _, body = get(journal, "MessageProcessingLogs", **{"$expand": "CustomHeaderProperties,Attachments"})
    entity = next(e for e in body["d"]["results"] if e["MessageGuid"] == mix["po"].message_guid)
    for name, data in (
        ("MessageProcessingLog", entity),
        ("MessageProcessingLogCustomHeaderProperty", entity["CustomHeaderProperties"]["results"][0]),
        ("MessageProcessingLogAttachment", entity["Attachments"]["results"][0]),
    ):
        declared = {p.get("Name") for p in types[name].findall("edm:Property", NS)}
        navs = types[name].findall("edm:NavigationProperty", NS)
        assert set(data) - {"__metadata"} == declared | {n.get("Name") for n in navs}, name
        for nav in navs:
            relationship = nav.get("Relationship", "")
            assert relationship.removeprefix("com.sap.hci.api.") in associations
            assert relationship in association_sets
    assert types["MessageProcessingLogAttachment"].get(f"{{{NS['m']}}}HasStream") == "true"


# -- errors ---------------------------------------------------------------------------------------


def test_errors_have_odatas_shape_in_the_asked_format(journal: Journal) -> None:
    """CPI's API (Apache Olingo V2) writes OData V2 errors: ``<error xmlns="...metadata"><code/>
    <message xml:lang="en"/></error>`` by default, ``{"error": {"code", "message": {"lang",
    "value"}}}`` in JSON; SAP's Piper mocks show the code ``Bad Request`` for a 400."""
    reply = call(journal, "MessageProcessingLogs", accept=None, **{"$orderby": "Nope"})
    assert (reply.status, reply.content_type) == (400, "application/xml")
    error = etree.fromstring(reply.body)
    assert error.tag == f"{{{NS['m']}}}error"
    assert error.findtext("m:code", namespaces=NS) == "Bad Request"
    message = error.find("m:message", NS)
    assert message is not None
    assert message.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert (message.text or "").startswith("Invalid order by expression")
    status, body = get(journal, "MessageProcessingLogs", **{"$orderby": "Nope"})
    assert status == 400
    assert body["error"]["code"] == "Bad Request"
    assert body["error"]["message"]["lang"] == "en"
    assert body["error"]["message"]["value"].startswith("Invalid order by expression")


def test_a_successful_answer_is_no_error_document(journal: Journal, mix: dict[str, MplRecord]) -> None:
    """The twin: a valid query is a 200 with a feed, in either format."""
    assert call(journal, "MessageProcessingLogs", accept=None, **{"$orderby": "LogStart"}).status == 200
    assert "error" not in get(journal, "MessageProcessingLogs", **{"$orderby": "LogStart"})[1]


# -- refusals -------------------------------------------------------------------------------------


def test_refused_calls_are_not_among_cpis_messages_by_default(journal: Journal, mix: dict[str, MplRecord]) -> None:
    """A call refused before an iFlow runs (TLS, 401, 403, 404) leaves no MPL on a real tenant: an
    MPL records an integration flow's processing, and such a call is answered before one runs, by
    the load balancer that terminates TLS (SAP Help "Client Certificate Authentication (Inbound)",
    "Load Balancer Root Certificates Supported by SAP") or the runtime's authentication. Counts
    and alerts on ``Status eq 'FAILED'`` see only the failed message."""
    status, count = get(journal, "MessageProcessingLogs/$count", **{"$filter": "Status eq 'FAILED'"})
    assert (status, count) == (200, b"1")
    status, body = get(journal, f"MessageProcessingLogs('{mix['refused'].message_guid}')")
    assert status == 404
    assert body["error"]["message"]["value"].startswith("Requested entity could not be found.")
    assert len(journal.query(Where("refusal_stage IS NOT NULL"))) == 1  # still in cpimock's own record


def test_refusals_show_when_asked_for(tmp_path: Path) -> None:
    """The twin: ``cpimockRefusals=include`` (or ``only``) in a query, or ``[journal]
    odata_refusals = true`` for every query, shows cpimock's record of refusals as FAILED/REFUSED."""
    journal = Journal.open(tmp_path / "cpimock.db", JournalConfig(odata_refusals=True))
    try:
        rec = refusal("tls", "the client sent no certificate")
        journal.record(rec)
        journal.record(MplRecord())
        journal.flush()
        assert get(journal, "MessageProcessingLogs/$count")[1] == b"2"
        assert get(journal, "MessageProcessingLogs/$count", cpimockRefusals="exclude")[1] == b"1"
        _, body = get(journal, "MessageProcessingLogs", cpimockRefusals="only")
        assert [(e["Status"], e["CustomStatus"]) for e in body["d"]["results"]] == [("FAILED", "REFUSED")]
        status, body = get(journal, "MessageProcessingLogs", cpimockRefusals="all")
        assert status == 400
        assert "use exclude, include or only" in body["error"]["message"]["value"]
    finally:
        journal.close()


# -- datetime literals ----------------------------------------------------------------------------


def test_a_datetime_with_z_is_read_as_utc_and_warned_about(
    journal: Journal, mix: dict[str, MplRecord], caplog: pytest.LogCaptureFixture
) -> None:
    """SAP Help "Query Options": CPI reads every datetime literal as UTC and "will not interpret
    correctly" one with a zone suffix (``datetime'2014-09-01T00:00:00Z'``), without an error.
    cpimock answers it as UTC, the time the sender meant, and warns in the server log."""
    caplog.set_level(logging.WARNING, "cpimock.mpl.odata")
    plain = get(journal, "MessageProcessingLogs", **{"$filter": "LogStart gt datetime'2021-02-02T00:00:00'"})
    zulu = get(journal, "MessageProcessingLogs", **{"$filter": "LogStart gt datetime'2021-02-02T00:00:00Z'"})
    assert zulu[0] == 200
    assert guids(zulu[1]) == guids(plain[1]) == sorted([mix["other"].message_guid, mix["failed"].message_guid])
    assert "CPI does not interpret a zone suffix correctly" in caplog.text


def test_a_datetime_with_an_offset_is_refused(journal: Journal) -> None:
    """The twin: a numeric offset would be guessed at twice (CPI cannot read it either): a 400."""
    status, body = get(
        journal, "MessageProcessingLogs", **{"$filter": "LogStart gt datetime'2021-02-02T00:00:00+01:00'"}
    )
    assert status == 400
    assert "zone offset" in body["error"]["message"]["value"]
