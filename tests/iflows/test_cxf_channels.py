"""SOAP, SOAP (SAP RM) and IDoc channels in cpimock.toml, and CXF's address rule under /cxf/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpimock.config import parse_config
from cpimock.errors import ConfigError
from cpimock.iflows.model import Channel, IFlow, from_config
from cpimock.iflows.routing import Routes, SubPathRouter

SAMPLES = Path(__file__).parents[1] / "adapters" / "samples"


def iflows(*tables: dict[str, Any], root: Path = Path("/ws"), **server: Any) -> list[IFlow]:
    data: dict[str, Any] = {"iflows": list(tables)}
    if server:
        data["server"] = server
    return [from_config(table) for table in parse_config(data, root).iflows]


def refused(*tables: dict[str, Any], root: Path = Path("/ws"), **server: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        iflows(*tables, root=root, **server)
    return str(caught.value)


def flow(address: str = "/orders", adapter: str = "soap", **keys: Any) -> dict[str, Any]:
    return {"id": keys.pop("id", address.strip("/").replace("/", "_") or "root"), "address": address} | (
        {"adapter": adapter} | keys
    )


# -- accepted --------------------------------------------------------------------------------------


def test_a_soap_channel_defaults_to_a_manual_request_reply_service_under_cxf() -> None:
    [iflow] = iflows(flow("/orders"))
    [channel] = iflow.channels
    assert (channel.adapter, channel.url_path, channel.csrf) == ("soap", "/cxf/orders", False)
    assert channel.soap is not None
    assert channel.idoc is None
    soap = channel.soap
    assert (soap.pattern, soap.processing, soap.wsdl, soap.ws_addressing, soap.one_way_status) == (
        "request-reply",
        "ws-standard",
        None,
        False,
        202,
    )


def test_the_soap_based_channels_limit_attachments_apart_from_the_body() -> None:
    [soap, idoc, https] = iflows(flow("/a", max_attachment_mb=7), flow("/b", "idoc"), {"id": "c", "address": "/c"})
    assert [f.channels[0].max_attachment_mb for f in (soap, idoc, https)] == [7.0, 100.0, 0.0]
    assert soap.channels[0].max_request_bytes == (40 + 7) * 1024 * 1024


def test_a_one_way_robust_soap_channel_with_ws_addressing() -> None:
    [iflow] = iflows(flow(message_exchange_pattern="one-way", processing="robust", ws_addressing=True))
    soap = iflow.channels[0].soap
    assert soap is not None
    assert (soap.pattern, soap.processing, soap.ws_addressing) == ("one-way", "robust", True)


def test_a_soap_rm_channel_is_one_way_and_robust_and_acknowledges_duplicates() -> None:
    [iflow] = iflows(flow("/proxy/orders", "soap-rm", one_way_status=200))
    soap = iflow.channels[0].soap
    assert soap is not None
    assert (soap.pattern, soap.processing, soap.duplicates, soap.one_way_status) == (
        "one-way",
        "robust",
        "acknowledge",
        200,
    )


def test_an_idoc_channel_reads_its_character_handling_and_answer() -> None:
    [iflow] = iflows(flow("/idoc/orders", "idoc", invalid_xml_characters="substitute", idoc_answer="idoc-assign"))
    channel = iflow.channels[0]
    assert channel.idoc is not None
    assert channel.soap is None
    assert (channel.idoc.invalid_characters, channel.idoc.answer) == ("substitute", "idoc-assign")


def test_a_wsdl_based_channel_holds_the_wsdl_read_from_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "iflows").mkdir()
    (tmp_path / "iflows" / "OrderService.wsdl").write_bytes((SAMPLES / "OrderService.wsdl").read_bytes())
    table = flow(wsdl="iflows/OrderService.wsdl", service="p1:OrderService", port="p1:OrderPortSoap11")
    [iflow] = iflows(table, root=tmp_path)
    soap = iflow.channels[0].soap
    assert soap is not None
    assert soap.wsdl == (SAMPLES / "OrderService.wsdl").read_bytes()
    assert soap.wsdl_file == tmp_path / "iflows" / "OrderService.wsdl"
    assert (soap.service, soap.port) == ("p1:OrderService", "p1:OrderPortSoap11")


def test_the_same_address_may_serve_https_and_soap_since_their_prefixes_differ() -> None:
    served = iflows({"id": "http", "address": "/orders"}, flow("/orders", id="soap"))
    assert [c.url_path for f in served for c in f.channels] == ["/http/orders", "/cxf/orders"]


def test_cxf_addresses_differing_in_case_are_two_unless_the_tenant_ignores_case() -> None:
    assert len(iflows(flow("/Orders", id="a"), flow("/orders", id="b"))) == 2
    text = refused(flow("/Orders", id="a"), flow("/orders", id="b"), cxf_case_sensitive=False)
    assert "iflows[1].address: '/orders' is already used by iflows[0] under /cxf/" in text


# -- refused, with one line naming the key and the fix ---------------------------------------------


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (flow(csrf=True), "iflows[0].csrf: is a setting of adapter \"https\", and this iFlow's adapter is 'soap'"),
        ({"id": "h", "address": "/h", "processing": "robust"}, "iflows[0].processing: is a setting of adapter"),
        (flow(adapter="idoc", ws_addressing=True), 'iflows[0].ws_addressing: is a setting of adapter "soap"'),
        (flow(adapter="soap-rm", message_exchange_pattern="request-reply"), "message_exchange_pattern: is a setting"),
        (flow(duplicates="process"), 'iflows[0].duplicates: is a setting of adapter "soap-rm"'),
        (flow(adapter="xi"), "iflows[0].adapter: must be one of 'https', 'soap', 'soap-rm', 'idoc', not 'xi'"),
        (flow("/orders/*", id="o"), "answers its sub-paths already (/path also answers /path/...); drop the '*'"),
        (flow(processing="robust"), "iflows[0].processing: applies to one-way channels only"),
        (flow(service="p1:OrderService"), "iflows[0].service: names a part of a WSDL: set wsdl = "),
        (flow(wsdl="iflows/none.wsdl"), "iflows[0].wsdl: cannot read"),
        (flow(adapter="idoc", invalid_xml_characters="ignore"), "iflows[0].invalid_xml_characters: must be one of"),
        (flow(one_way_status=201), "iflows[0].one_way_status: must be 202 (no body) or 200"),
        (flow(nonsense=1), "iflows[0].nonsense: unknown key; expected one of:"),
        (
            {"id": "h", "address": "/h", "max_attachment_mb": 5},
            'iflows[0].max_attachment_mb: is a setting of adapter "soap"',
        ),
        (flow(max_attachment_mb=0.5), "iflows[0].max_attachment_mb: must be a number from 1 to 4096"),
    ],
)
def test_what_does_not_apply_to_the_adapter_is_refused_with_one_line(table: dict[str, Any], expected: str) -> None:
    text = refused(table)
    assert expected in text
    assert "\n" not in text


def test_a_wsdl_based_channel_takes_its_pattern_from_the_wsdl(tmp_path: Path) -> None:
    (tmp_path / "x.wsdl").write_bytes((SAMPLES / "OrderService.wsdl").read_bytes())
    text = refused(flow(wsdl="x.wsdl", message_exchange_pattern="one-way"), root=tmp_path)
    assert "message_exchange_pattern: comes from the WSDL" in text


# -- CXF's address rule ----------------------------------------------------------------------------


def route_of(routes: Routes, path: str) -> tuple[str, str] | None:
    found = routes.match("/cxf", path)
    return None if found is None else (found.iflow.id, found.path)


def test_an_address_answers_its_sub_paths_and_the_longest_deployed_address_wins() -> None:
    routes = Routes(iflows(flow("/path", id="short"), flow("/path/test", id="long")))
    assert route_of(routes, "/path") == ("short", "")
    assert route_of(routes, "/path/other/x") == ("short", "other/x")
    assert route_of(routes, "/path/test") == ("long", "")
    assert route_of(routes, "/path/test/") == ("long", "")
    assert route_of(routes, "/path/test/deeper") == ("long", "deeper")
    assert route_of(routes, "/pathology") is None  # a match ends at a segment boundary
    assert route_of(routes, "/other") is None
    assert routes.match("/http", "/path") is None  # a SOAP address is not an HTTPS one


def test_cxf_addresses_match_with_their_case_unless_the_tenant_ignores_it() -> None:
    served = iflows(flow("/Orders/Create", id="create"))
    assert route_of(Routes(served), "/orders/create") is None
    assert route_of(Routes(served), "/Orders/Create") == ("create", "")
    assert route_of(Routes(served, cxf_case_sensitive=False), "/orders/CREATE/x") == ("create", "x")


def test_a_channel_at_the_root_answers_every_cxf_path_no_longer_one_serves() -> None:
    routes = Routes(iflows(flow("/", id="root"), flow("/a", id="a")))
    assert route_of(routes, "/b/c") == ("root", "b/c")
    assert route_of(routes, "/a/c") == ("a", "c")


@given(
    st.lists(st.from_regex(r"(/[a-z]{1,3}){1,3}", fullmatch=True), min_size=1, max_size=6, unique=True),
    st.from_regex(r"(/[a-z]{1,3}){0,5}/?", fullmatch=True),
)
def test_the_longest_matching_address_wins_for_any_set_of_addresses(addresses: list[str], path: str) -> None:
    router = SubPathRouter([(a, a) for a in addresses])
    found = router.match(path or "/")
    clean = path.rstrip("/")
    matching = [a for a in addresses if clean == a or clean.startswith(a + "/")]
    if not matching:
        assert found is None
    else:
        best = max(matching, key=len)
        assert found == (best, clean[len(best) :].strip("/"))


def test_channel_prefixes_are_those_of_cpi() -> None:
    assert [Channel("x", adapter, "/a").url_path for adapter in ("https", "soap", "soap-rm", "idoc")] == [
        "/http/a",
        "/cxf/a",
        "/cxf/a",
        "/cxf/a",
    ]
