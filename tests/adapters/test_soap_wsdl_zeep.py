"""WSDLs and a real SOAP client: zeep builds requests from cpimock's WSDLs and reads its replies and faults.

zeep sends nothing here: a transport stub hands each request (envelope and HTTP headers, as
zeep would send them) to ``read_envelope`` and answers with ``build_reply`` or
``build_fault``, so the WSDL, the request reader and the answers are checked against a client
that was not written for cpimock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport

from cpimock.adapters.soap.envelope import Envelope, read_envelope
from cpimock.adapters.soap.fault import build_fault, fault_from_step
from cpimock.adapters.soap.protocol import QName, SoapError, SoapVersion
from cpimock.adapters.soap.reply import build_reply
from cpimock.adapters.soap.wsdl import WsdlError, generic_wsdl, ncname, serve_wsdl
from cpimock.adapters.soap.wsdl_operations import match_operation, operations_of
from cpimock.message import SoapFault
from cpimock.xmlsafe import parse

SAMPLES = Path(__file__).parent / "samples"
ORDER_WSDL = (SAMPLES / "OrderService.wsdl").read_bytes()
TENANT_URL = "https://mytenant.it-cpi018-rt.cfapps.eu10-003.hana.ondemand.com/cxf/orders"


class Tenant(Transport):  # type: ignore[misc]
    """A zeep transport that answers in-process with cpimock's adapters instead of sending."""

    def __init__(self, answer: Any) -> None:
        super().__init__()
        self.answer = answer
        self.seen: list[Envelope] = []
        self.addresses: list[str] = []

    def post_xml(self, address: str, envelope: etree._Element, headers: dict[str, str]) -> requests.Response:
        self.addresses.append(address)
        request = read_envelope(etree.tostring(envelope), headers.get("Content-Type"), headers.get("SOAPAction"))
        self.seen.append(request)
        status, content, content_type = self.answer(request)
        response = requests.Response()
        response.status_code = status
        response._content = content
        response.headers["Content-Type"] = content_type
        response.encoding = "utf-8"
        return response


def client(tmp_path: Path, wsdl: bytes, transport: Tenant, name: str = "service.wsdl") -> zeep.Client:
    path = tmp_path / name
    path.write_bytes(wsdl)
    return zeep.Client(str(path), transport=transport)


def order_element() -> etree._Element:
    return etree.fromstring(
        b'<o:Order xmlns:o="urn:acme:orders"><ID>4711</ID><Text>Gr\xc3\xb6\xc3\x9fe</Text></o:Order>'
    )


# -- the generic WSDL of a Manual channel ----------------------------------------------------------


@pytest.mark.parametrize(("port", "version"), [("CallMe_Soap11", SoapVersion.V11), ("CallMe_Soap12", SoapVersion.V12)])
def test_zeep_calls_a_manual_channel_through_its_generic_wsdl(tmp_path: Path, port: str, version: SoapVersion) -> None:
    reply_body = b'<tns:Response xmlns:tns="urn:cpimock:CallMe"><Status>OK</Status></tns:Response>'

    def answer(request: Envelope) -> tuple[int, bytes, str]:
        reply = build_reply(reply_body, request.version)
        return 200, reply.content, reply.content_type

    tenant = Tenant(answer)
    service = client(tmp_path, generic_wsdl("CallMe", TENANT_URL), tenant).bind("CallMe", port)
    result = service.Operation(_value_1=[order_element()])
    [request] = tenant.seen
    assert request.version is version
    assert request.action == "urn:cpimock:CallMe:Operation"
    assert request.payload_name == QName("urn:cpimock:CallMe", "Request")
    assert etree.fromstring(request.payload)[0].findtext("Text") == "Größe"
    assert tenant.addresses == [TENANT_URL]
    [status] = result["_value_1"]
    assert (status.tag, status.text) == ("Status", "OK")


@pytest.mark.parametrize(("port", "code"), [("CallMe_Soap11", "soap:Server"), ("CallMe_Soap12", "soap:Receiver")])
def test_zeep_reads_cpimocks_faults(tmp_path: Path, port: str, code: str) -> None:
    def answer(request: Envelope) -> tuple[int, bytes, str]:
        fault = build_fault(request.version, "Processing failed <&>", mpl_id="AGsJoRxvneuy55UnqhicT7tRuCcq")
        return fault.status, fault.content, fault.content_type

    service = client(tmp_path, generic_wsdl("CallMe", TENANT_URL), Tenant(answer)).bind("CallMe", port)
    with pytest.raises(zeep.exceptions.Fault) as caught:
        service.Operation(_value_1=[order_element()])
    assert (caught.value.message, caught.value.code) == ("Processing failed <&>", code)
    assert caught.value.detail is not None
    assert "AGsJoRxvneuy55UnqhicT7tRuCcq" in etree.tostring(caught.value.detail).decode()


def test_zeep_reads_a_fault_a_step_raised(tmp_path: Path) -> None:
    raised = SoapFault(
        "Order 4711 is locked", faultcode="app:Locked", detail="<app:Owner>ADA</app:Owner>", namespaces={"app": "urn:a"}
    )

    def answer(request: Envelope) -> tuple[int, bytes, str]:
        fault = fault_from_step(raised, request_version=request.version)
        return fault.status, fault.content, fault.content_type

    service = client(tmp_path, generic_wsdl("CallMe", TENANT_URL), Tenant(answer)).bind("CallMe", "CallMe_Soap11")
    with pytest.raises(zeep.exceptions.Fault) as caught:
        service.Operation(_value_1=[order_element()])
    assert (caught.value.message, caught.value.code) == ("Order 4711 is locked", "app:Locked")
    assert caught.value.detail.findtext("{urn:a}Owner") == "ADA"


def test_a_one_way_generic_wsdl_has_no_output(tmp_path: Path) -> None:
    wsdl = generic_wsdl("Events", TENANT_URL, one_way=True)
    zeep_client = client(tmp_path, wsdl, Tenant(lambda request: (202, b"", "text/xml")))
    operation = zeep_client.service._binding._operations["Operation"]
    assert operation.output is None or not operation.output.body
    [only] = operations_of(wsdl)
    assert only.one_way
    assert only.output is None
    assert only.versions == frozenset(SoapVersion)
    service = zeep_client.bind("Events", "Events_Soap12")
    assert service.Operation(_value_1=[order_element()]) is None


def test_a_request_the_generic_wsdl_made_matches_its_operation(tmp_path: Path) -> None:
    wsdl = generic_wsdl("CallMe", TENANT_URL)
    tenant = Tenant(lambda request: (200, build_reply(b"", request.version).content, "text/xml"))
    zeep_client = client(tmp_path, wsdl, tenant)
    message = zeep_client.create_message(zeep_client.service, "Operation", _value_1=[order_element()])
    request = read_envelope(etree.tostring(message), "text/xml")
    operation = match_operation(operations_of(wsdl), request.payload_name, request.action, request.version)
    assert operation.name == "Operation"


@pytest.mark.parametrize(
    ("channel", "name"), [("/CallMe", "CallMe"), ("Order Intake/v2", "Order_Intake_v2"), ("2go", "_2go")]
)
def test_channel_names_become_xml_names(channel: str, name: str) -> None:
    assert ncname(channel) == name
    root = parse(generic_wsdl(channel, TENANT_URL), what="wsdl")
    assert root.get("name") == name


def test_a_channel_without_a_name_has_no_wsdl() -> None:
    with pytest.raises(WsdlError, match="no name"):
        generic_wsdl(" / ", TENANT_URL)


def test_the_endpoint_url_is_escaped() -> None:
    url = 'https://h/cxf/a?x=1&y="2"'
    root = parse(generic_wsdl("A", url), what="wsdl")
    addresses = root.findall(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert [element.get("location") for element in addresses] == [url]


# -- a configured WSDL ----------------------------------------------------------------------------


def test_a_configured_wsdl_is_served_with_the_tenants_address(tmp_path: Path) -> None:
    served = serve_wsdl(ORDER_WSDL, TENANT_URL)
    confirmation = (
        b'<o:OrderCreateConfirmation xmlns:o="urn:acme:orders"><OrderID>4711</OrderID><Status>OK</Status>'
        b"</o:OrderCreateConfirmation>"
    )

    def answer(request: Envelope) -> tuple[int, bytes, str]:
        reply = build_reply(confirmation, request.version)
        return 200, reply.content, reply.content_type

    tenant = Tenant(answer)
    zeep_client = client(tmp_path, served, tenant)
    result = zeep_client.service.CreateOrder(OrderID="4711", Customer="ACME", Quantity=3)
    assert tenant.addresses == [TENANT_URL]
    assert (result.OrderID, result.Status) == ("4711", "OK")
    operations = operations_of(served, service="p1:OrderService")
    [request] = tenant.seen
    operation = match_operation(operations, request.payload_name, request.action, request.version)
    assert (operation.name, operation.output) == ("CreateOrder", QName("urn:acme:orders", "OrderCreateConfirmation"))
    service12 = zeep_client.bind("OrderService", "OrderPortSoap12")
    service12.CancelOrder(OrderID="4711")
    cancel = tenant.seen[-1]
    assert cancel.version is SoapVersion.V12
    assert match_operation(operations, cancel.payload_name, cancel.action, cancel.version).one_way


def test_the_operations_of_the_sample_wsdl() -> None:
    operations = {op.name: op for op in operations_of(ORDER_WSDL)}
    assert set(operations) == {"CreateOrder", "CancelOrder"}
    create = operations["CreateOrder"]
    assert create.input == QName("urn:acme:orders", "OrderCreateRequest")
    assert create.soap_action == "urn:acme:orders:CreateOrder"
    assert create.versions == frozenset(SoapVersion)
    assert not create.one_way
    only11 = operations_of(ORDER_WSDL, port="p1:OrderPortSoap11")
    assert all(op.versions == {SoapVersion.V11} for op in only11)


def test_a_payload_the_wsdl_does_not_declare_is_refused(tmp_path: Path) -> None:
    operations = operations_of(ORDER_WSDL, port="OrderPortSoap11")
    with pytest.raises(SoapError, match="is not the input of any operation") as caught:
        match_operation(operations, QName("urn:acme:orders", "Order"), None, SoapVersion.V11)
    assert caught.value.code == "client"
    request = QName("urn:acme:orders", "OrderCreateRequest")
    with pytest.raises(SoapError, match=r"for SOAP 1\.1 only, not SOAP 1\.2"):
        match_operation(operations, request, None, SoapVersion.V12)


def test_a_request_zeep_sends_with_the_wrong_content_type_is_refused(tmp_path: Path) -> None:
    zeep_client = client(tmp_path, ORDER_WSDL, Tenant(lambda request: (500, b"", "text/xml")))
    service12 = zeep_client.bind("OrderService", "OrderPortSoap12")
    message = zeep_client.create_message(service12, "CancelOrder", OrderID="1")
    assert read_envelope(etree.tostring(message), "application/soap+xml").version is SoapVersion.V12
    with pytest.raises(SoapError, match="came with Content-Type text/xml"):
        read_envelope(etree.tostring(message), "text/xml")


def _wsdl_variant(old: str, new: str) -> bytes:
    assert old.encode() in ORDER_WSDL
    return ORDER_WSDL.replace(old.encode(), new.encode())


@pytest.mark.parametrize(
    ("wsdl", "match"),
    [
        (_wsdl_variant('<soap:binding style="document"', '<soap:binding style="rpc"'), "rpc-style"),
        (_wsdl_variant('<wsdl:input><soap:body use="literal"/>', '<wsdl:input><soap:body use="encoded"/>'), "encoded"),
        (_wsdl_variant('element="tns:OrderCancelNotification"', 'type="xsd:string"'), "by a type"),
        (_wsdl_variant('binding="tns:OrderBinding12"', 'binding="tns:Missing"'), "does not define"),
        (_wsdl_variant('message="tns:OrderCancelNotification"', 'message="tns:Missing"'), "does not define"),
        (_wsdl_variant('element="tns:OrderCancelNotification"', 'element="nope:X"'), "not declared"),
        (
            _wsdl_variant("<wsdl:types>", '<wsdl:import namespace="urn:x" location="more.wsdl"/><wsdl:types>'),
            "no way to read it",
        ),
        (b'<description xmlns="http://www.w3.org/ns/wsdl"/>', "WSDL 2.0"),
        (b"<definitions/>", "not a WSDL 1.1 document"),
        (b"<wsdl:definitions", "not well-formed"),
        (
            b'<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]><wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/">&e;</wsdl:definitions>',
            "document type declaration",
        ),
    ],
    ids=[
        "rpc",
        "encoded",
        "type-part",
        "binding",
        "message",
        "prefix",
        "import",
        "wsdl20",
        "not-wsdl",
        "broken",
        "entity",
    ],
)
def test_wsdls_cpimock_cannot_serve_a_channel_from_are_refused(wsdl: bytes, match: str) -> None:
    with pytest.raises(WsdlError, match=match):
        operations_of(wsdl)


def test_unknown_service_or_port_names_are_refused() -> None:
    with pytest.raises(WsdlError, match="no service 'p1:Orders'; it has OrderService"):
        operations_of(ORDER_WSDL, service="p1:Orders")
    with pytest.raises(WsdlError, match="no port"):
        operations_of(ORDER_WSDL, port="Nope")


def test_an_imported_wsdl_is_read_through_the_resolver() -> None:
    importer = (
        b'<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" targetNamespace="urn:wrapper">'
        b'<wsdl:import namespace="urn:acme:orders" location="OrderService.wsdl"/></wsdl:definitions>'
    )
    asked: list[str] = []

    def resolve(location: str) -> bytes:
        asked.append(location)
        return ORDER_WSDL

    assert {op.name for op in operations_of(importer, resolve=resolve)} == {"CreateOrder", "CancelOrder"}
    assert asked == ["OrderService.wsdl"]
    looping = importer.replace(
        b'targetNamespace="urn:wrapper">', b'targetNamespace="urn:wrapper"><wsdl:service name="S"/>'
    )
    with pytest.raises(WsdlError, match="levels deep"):
        operations_of(looping, resolve=lambda location: looping)


def test_serving_refuses_wsdls_with_external_references_or_without_soap_ports() -> None:
    with_import = _wsdl_variant(
        "<xsd:schema ",
        '<xsd:schema><xsd:import namespace="urn:t" schemaLocation="types.xsd"/></xsd:schema><xsd:schema ',
    )
    with pytest.raises(WsdlError, match=r"refers to other files \(types\.xsd\)"):
        serve_wsdl(with_import, TENANT_URL)
    no_ports = _wsdl_variant("<soap:address", "<other:address xmlns:other='urn:o'").replace(
        b"<soap12:address", b"<other:address xmlns:other='urn:o'"
    )
    with pytest.raises(WsdlError, match="no SOAP port"):
        serve_wsdl(no_ports, TENANT_URL)
    with pytest.raises(WsdlError, match=r"not a WSDL 1\.1"):
        serve_wsdl(b"<a/>", TENANT_URL)
