"""The testing API with SOAP, SOAP (SAP RM) and IDoc iFlows: what a sender team's own tests do."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
import requests
import zeep
from lxml import etree
from zeep.transports import Transport

from cpimock.errors import CpimockError
from cpimock.message import Message
from cpimock.testing import Tenant, ThreadedTenant

SAMPLES = Path(__file__).parent / "adapters" / "samples"
ORDERS05 = (SAMPLES / "idoc" / "ORDERS05.soap.xml").read_bytes()
SAP_NS = "http://www.sap.com/webas/640/soap/features/messageId/"


def envelope(payload: str, header: str = "") -> bytes:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f"<soap:Header>{header}</soap:Header><soap:Body>{payload}</soap:Body></soap:Envelope>"
    ).encode()


def idoc_type(message: Message) -> Message:
    message.log.add_custom_header("type", message.headers["SapIDocType"])
    return message


def confirm(message: Message) -> Message:
    message.body = '<c:Confirmed xmlns:c="urn:acme">' + message.text + "</c:Confirmed>"
    return message


def fail(message: Message) -> None:
    raise ValueError("no receiver")


async def test_a_tenant_registers_an_idoc_iflow_and_the_mpl_shows_the_idoc() -> None:
    async with Tenant() as tenant:
        flow = tenant.iflow("/idoc/orders", [idoc_type], adapter="idoc")
        assert flow.url == f"{tenant.url}/cxf/idoc/orders"
        key = tenant.service_key("s4")
        async with aiohttp.ClientSession() as session:
            async with session.post(
                flow.url, data=ORDERS05, headers={"Content-Type": "text/xml"}, ssl=key.ssl_context()
            ) as answer:
                assert answer.status == 200
            async with session.post(flow.url, data=ORDERS05, ssl=tenant.ssl_context()) as refused:
                assert refused.status == 401  # the rejecting twin: no certificate
        [record, twin] = tenant.messages(iflow=flow.id)
        assert (record.application_message_type, record.application_message_id) == ("ORDERS05", "0000000000471101")
        assert (twin.refusal_stage, twin.status) == ("auth", "FAILED")
        full = tenant.message(record.message_guid)
        assert full is not None
        assert full.custom_header_properties == [("type", "ORDERS05")]


def test_a_threaded_tenant_serves_a_soap_iflow_to_zeep_through_its_wsdl() -> None:
    with ThreadedTenant() as tenant:
        flow = tenant.iflow(
            "/orders", [confirm], adapter="soap", wsdl=SAMPLES / "OrderService.wsdl", service="p1:OrderService"
        )
        key = tenant.service_key("proxy")
        session = requests.Session()
        session.cert, session.verify, session.trust_env = key.cert, str(tenant.ca_path), False
        client = zeep.Client(flow.url + "?wsdl", transport=Transport(session=session))
        with client.settings(raw_response=True):
            answer = client.service.CreateOrder(OrderID="4711", Customer="ACME", Quantity=1)
        assert answer.status_code == 200
        assert etree.fromstring(answer.content).find(".//{urn:acme}Confirmed") is not None
        [record] = tenant.messages(iflow="orders")
        assert record.status == "COMPLETED"


async def test_one_way_steps_run_after_the_answer_and_tenant_settle_waits_for_them() -> None:
    go = asyncio.Event()

    async def held(message: Message) -> Message:
        await go.wait()
        return message

    async with Tenant() as tenant:
        flow = tenant.iflow("/notify", [held, fail], adapter="soap", message_exchange_pattern="one-way")
        key = tenant.service_key("s")
        async with aiohttp.ClientSession() as session:
            headers = {"Content-Type": "text/xml"}
            body = envelope("<n:Note xmlns:n='urn:acme'/>")
            async with session.post(flow.url, data=body, headers=headers, ssl=key.ssl_context()) as answer:
                assert answer.status == 202
        # answered, and the steps wait: the MPL cannot be read without waiting for them
        with pytest.raises(CpimockError, match=r"await tenant.settle\(\)"):
            tenant.messages()
        go.set()
        await tenant.settle()
        [record] = tenant.messages()
        assert (record.status, record.response_status) == ("FAILED", 202)
        with pytest.raises(ValueError, match="no receiver"):
            tenant.check()


def test_a_threaded_tenant_reads_the_mpl_after_one_way_steps_ended() -> None:
    with ThreadedTenant() as tenant:
        flow = tenant.iflow("/notify", [], adapter="soap", message_exchange_pattern="one-way")
        key = tenant.service_key("s")
        answer = requests.post(
            flow.url,
            data=envelope("<n:Note xmlns:n='urn:acme'/>"),
            headers={"Content-Type": "text/xml"},
            cert=key.cert,
            verify=str(tenant.ca_path),
            timeout=30,
        )
        assert answer.status_code == 202
        assert [r.status for r in tenant.messages(iflow="notify")] == ["COMPLETED"]


async def test_clear_forgets_the_soap_rm_ids_a_test_sent() -> None:
    header = f'<m:messageId xmlns:m="{SAP_NS}">uuid:00163ec1-abf4-1eeb-acbf-25ab61ffa285</m:messageId>'
    async with Tenant() as tenant:
        key = tenant.service_key("proxy")

        async def send(url: str) -> int:
            async with aiohttp.ClientSession() as session:
                body = envelope("<d:Delivery xmlns:d='urn:acme'/>", header)
                headers = {"Content-Type": "text/xml"}
                async with session.post(url, data=body, headers=headers, ssl=key.ssl_context()) as answer:
                    return answer.status

        flow = tenant.iflow("/rm", [], adapter="soap-rm")
        assert [await send(flow.url), await send(flow.url)] == [202, 202]
        assert [r.custom_status for r in tenant.messages()] == ["COMPLETED", "DUPLICATE"]
        tenant.clear()
        flow = tenant.iflow("/rm", [], adapter="soap-rm")
        assert await send(flow.url) == 202
        assert [r.custom_status for r in tenant.messages()] == ["COMPLETED"]


def test_what_cpimock_toml_would_refuse_is_refused_at_registration(tmp_path: Path) -> None:
    broken = tmp_path / "broken.wsdl"
    broken.write_text("<definitions/>")
    with ThreadedTenant() as tenant:
        kept = tenant.iflow("/kept", [], adapter="soap", max_attachment_mb=2.5)
        with pytest.raises(CpimockError, match='invalid_xml_characters: is a setting of adapter "idoc"'):
            tenant.iflow("/x", [], adapter="soap", invalid_xml_characters="remove")
        with pytest.raises(CpimockError, match=r"cannot be served: the WSDL is not a WSDL 1\.1 document"):
            tenant.iflow("/y", [], adapter="soap", wsdl=broken)
        answer = requests.get(kept.url + "?wsdl", cert=tenant.demo_key.cert, verify=str(tenant.ca_path), timeout=30)
        assert answer.status_code == 200
