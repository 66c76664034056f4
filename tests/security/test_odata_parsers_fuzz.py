"""Property tests for what the MPL OData API reads from any HTTP caller, and for what it writes.

``filterCustomHeaderProperties``, ``$filter`` on custom header properties and the ``Accept``
header raise nothing but :class:`ODataError`, and whatever they accept runs on SQLite; the
Atom renderer turns any text into a document an XML parser reads back.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from cpimock.mpl import odata_atom
from cpimock.mpl.journal import Journal
from cpimock.mpl.odata import answer
from cpimock.mpl.odata_custom import PROPERTY_FIELDS, parse_custom_filter, parse_property_orderby
from cpimock.mpl.odata_filter import ODataError, parse_filter
from cpimock.mpl.odata_format import negotiate
from cpimock.mpl.odata_model import Entity, Feed

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
NS = {
    "a": "http://www.w3.org/2005/Atom",
    "m": "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata",
    "d": "http://schemas.microsoft.com/ado/2007/08/dataservices",
}


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journal]:
    j = Journal.open(tmp_path_factory.mktemp("fuzz") / "cpimock.db")
    yield j
    j.close()


CUSTOM_TOKENS = ["'po_number'", "'12345'", "eq", "and", "or", "ne", "(", ")", "'it''s'", "'", "po_number", ","]
custom_filters = st.lists(st.sampled_from(CUSTOM_TOKENS), max_size=14).map(" ".join) | st.text(max_size=80)


@FUZZ
@given(custom_filters)
def test_custom_header_filters_raise_only_odata_error_and_run_on_sqlite(journal: Journal, text: str) -> None:
    try:
        parse_custom_filter(text)
    except ODataError as exc:
        status = exc.status
    else:
        status = 200
    if status != 200:
        assert status == 400
        return
    reply = answer(journal, "MessageProcessingLogs", [("filterCustomHeaderProperties", text)], "https://h/api/v1", "c")
    assert reply.status == 200, reply.body


PROPERTY_TOKENS = ["Name", "Value", "eq", "ne", "and", "or", "not", "'x'", "(", ")", "substringof", ",", "null", "Id"]
property_filters = st.lists(st.sampled_from(PROPERTY_TOKENS), max_size=12).map(" ".join) | st.text(max_size=60)


@FUZZ
@given(property_filters, st.text(max_size=30))
def test_the_property_sets_filter_and_orderby_raise_only_odata_error(journal: Journal, text: str, order: str) -> None:
    try:
        parse_filter(text, PROPERTY_FIELDS)
    except ODataError:
        pass
    else:
        params = [("$filter", text)]
        reply = answer(journal, "MessageProcessingLogCustomHeaderProperties", params, "https://h/api/v1", "c")
        assert reply.status == 200, reply.body
    try:
        parse_property_orderby(order)
    except ODataError:
        pass


media = st.sampled_from(["application/json", "application/xml", "*/*", "text/html", "application/atom+xml", "json"])
params = st.sampled_from(["", ";q=0", ";q=0.5", ";q=1.000", ";q=1.5", ";charset=utf-8", ';x="y"', ";", "q=1"])
accepts = st.lists(st.tuples(media, params).map("".join), max_size=6).map(", ".join) | st.text(max_size=80)


@FUZZ
@given(accepts, st.none() | st.text(max_size=20))
def test_accept_and_format_raise_only_odata_error(accept: str, fmt: str | None) -> None:
    try:
        kind: str | int = negotiate(fmt, accept).kind
    except ODataError as exc:
        kind = exc.status
    assert kind in ("json", "atom", 400, 406)


@FUZZ
@given(st.text(max_size=60), st.text(max_size=60))
def test_atom_carries_any_text_and_reads_back(name: str, value: str) -> None:
    item = Entity("MessageProcessingLogCustomHeaderProperties", "1", {"Id": "1", "Name": name, "Value": value})
    feed = etree.fromstring(odata_atom.feed("https://h/api/v1", Feed(item.set_name, [item], item.set_name)))
    props = feed.find("a:entry/a:content/m:properties", NS)
    assert props is not None
    assert (props.findtext("d:Name", namespaces=NS) or "") == _xml_chars(name)
    assert (props.findtext("d:Value", namespaces=NS) or "") == _xml_chars(value)


def _xml_chars(text: str) -> str:
    """*text* with each character outside XML 1.0's ``Char`` production replaced by U+FFFD."""

    def allowed(c: str) -> bool:
        o = ord(c)
        return c in "\t\n\r" or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000

    return "".join(c if allowed(c) else "\ufffd" for c in text)
