"""The SOAP 1.x sender served at /cxf/: real SOAP clients (zeep, curl) over mTLS, and every refusal.

zeep builds its requests from the WSDL it downloads from the channel (``?wsdl``) with the
service key's certificate, as SoapUI or SOAMANAGER would; curl posts hand-written envelopes.
"""

from __future__ import annotations

import asyncio
import io
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
import zeep.exceptions
from lxml import etree
from yarl import URL
from zeep.transports import Transport

from cpimock.adapters.soap.fault import MPL_NAMESPACE
from cpimock.adapters.soap.protocol import SOAP11_ENVELOPE, SOAP12_ENVELOPE
from cpimock.errors import CpimockError
from cpimock.http.server import Server
from tests.e2e_support import add_iflow, add_instance, write_step
from tests.serving import KeyFiles, Running, serving

pytestmark = pytest.mark.clients
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

SAMPLES = Path(__file__).parent / "samples"
S11 = {"s": SOAP11_ENVELOPE}
S12 = {"s": SOAP12_ENVELOPE}

STEPS = """
from cpimock.message import SoapFault, SoapHeader


def echo(message):
    trace = [h for h in message.getSoapHeaders() if h.local == "Trace"]
    message.properties["seen"] = message.text
    message.body = (
        '<r:Reply xmlns:r="urn:reply">'
        f'<Action>{message.headers.get("SOAPAction", "")}</Action>'
        f'<Trace>{trace[0].xml if trace else ""}</Trace>'
        f'<Got>{message.text}</Got>'
        "</r:Reply>"
    )
    message.soap_headers = [SoapHeader("urn:reply", "Served", '<r:Served xmlns:r="urn:reply">cpimock</r:Served>')]
    return message


def broken(message):
    raise ValueError("the mapping is broken")


def locked(message):
    raise SoapFault(
        "Order 4711 is locked", faultcode="client", detail="<app:Owner>ADA</app:Owner>", namespaces={"app": "urn:acme"}
    )


def notify(message):
    if b"fail" in message.body:
        raise ValueError("the notification cannot be stored")
    message.log.add_custom_header("notified", message.text)
    return message


def orders(message):
    if message.headers.get("operationName") == "CreateOrder":
        message.body = (
            '<o:OrderCreateConfirmation xmlns:o="urn:acme:orders"><OrderID>4711</OrderID><Status>CREATED</Status>'
            "</o:OrderCreateConfirmation>"
        )
    return message


def plain_text(message):
    message.body = "not XML"
    return message
"""


@pytest.fixture
async def running(workspace: Path) -> AsyncIterator[Running]:
    steps = write_step(workspace, "soap_steps.py", STEPS)
    (workspace / "iflows" / "OrderService.wsdl").write_bytes((SAMPLES / "OrderService.wsdl").read_bytes())
    add_instance(workspace, "orders", ["Orders.send"])

    def flow(iflow_id: str, address: str, step: str, **settings: Any) -> None:
        add_iflow(workspace, iflow_id, address, [f"{steps}:{step}"] if step else [], adapter="soap", **settings)

    flow("echo", "/soap/echo", "echo")
    flow("broken", "/soap/broken", "broken")
    flow("exception", "/soap/exception", "broken", return_exception_to_sender=True)
    flow("locked", "/soap/locked", "locked")
    flow("notify", "/soap/notify", "notify", message_exchange_pattern="one-way")
    flow("robust", "/soap/robust", "notify", message_exchange_pattern="one-way", processing="robust")
    flow("ack200", "/soap/ack200", "notify", message_exchange_pattern="one-way", one_way_status=200)
    flow("orders", "/soap/orders", "orders", wsdl="iflows/OrderService.wsdl", service="p1:OrderService")
    flow("wsa", "/soap/wsa", "echo", ws_addressing=True)
    flow("role", "/soap/role", "echo", role="Orders.send")
    flow("small", "/soap/small", "echo", max_body_mb=1)
    flow("text", "/soap/text", "plain_text")
    dn = [{"subject": "CN=someone-else, O=T", "issuer": "CN=cpimock Client CA, OU=cpimock Clients, O=cpimock"}]
    flow("dn", "/soap/dn", "echo", authorization="client-certificate", client_certificates=dn)
    async with serving(workspace, client_auth="optional") as r:
        yield r


def envelope(payload: str, version: str = "1.1", header: str = "") -> bytes:
    ns = SOAP11_ENVELOPE if version == "1.1" else SOAP12_ENVELOPE
    head = f"<soap:Header>{header}</soap:Header>" if header else ""
    return f'<soap:Envelope xmlns:soap="{ns}">{head}<soap:Body>{payload}</soap:Body></soap:Envelope>'.encode()


ORDER = '<o:Order xmlns:o="urn:acme">4711</o:Order>'


async def post(
    running: Running,
    path: str,
    body: bytes,
    *,
    files: KeyFiles | bool | None = True,
    content_type: str = "text/xml; charset=utf-8",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    key = running.extract("demo-sender") if files is True else (files or None)
    sent = {"Content-Type": content_type, **(headers or {})}
    url = URL(running.url + path, encoded=True)  # as written: an encoded slash stays one
    async with running.session(key) as session:
        async with session.post(url, data=io.BytesIO(body), headers=sent) as answer:
            return answer.status, dict(answer.headers), await answer.read()


def fault(body: bytes, version: str | None = None) -> dict[str, str | None]:
    """The code, string and MPL id of a SOAP fault (of *version*, else the one it is in)."""
    root = etree.fromstring(body)
    version = version or ("1.1" if etree.QName(root).namespace == SOAP11_ENVELOPE else "1.2")
    ns = S11 if version == "1.1" else S12
    [node] = root.xpath("/s:Envelope/s:Body/s:Fault", namespaces=ns)
    if version == "1.1":
        code, string = node.findtext("faultcode"), node.findtext("faultstring")
    else:
        code = node.findtext("s:Code/s:Value", namespaces=ns)
        string = node.findtext("s:Reason/s:Text", namespaces=ns)
    return {"code": code, "string": string, "mpl": root.findtext(f".//{{{MPL_NAMESPACE}}}MessageProcessingLogID")}


# -- zeep: the generic WSDL of a Manual channel, request-reply and one-way, SOAP 1.1 and 1.2 ---------


def zeep_client(running: Running, path: str, files: KeyFiles) -> zeep.Client:
    session = requests.Session()
    session.cert = (str(files.cert), str(files.key))
    session.verify = str(running.ca_path)
    session.trust_env = False  # REQUESTS_CA_BUNDLE would take the place of verify
    return zeep.Client(f"{running.url}{path}?wsdl", transport=Transport(session=session))


@pytest.mark.parametrize(("port", "version"), [("echo_Soap11", "1.1"), ("echo_Soap12", "1.2")])
async def test_zeep_calls_a_request_reply_channel_through_the_wsdl_it_downloads(
    running: Running, port: str, version: str
) -> None:
    files = running.extract("demo-sender")

    def call() -> Any:
        client = zeep_client(running, "/cxf/soap/echo", files)
        service = client.bind("echo", port)
        ordered = etree.fromstring(b'<o:Order xmlns:o="urn:acme">4711</o:Order>')
        with client.settings(raw_response=True):
            return service.Operation(_value_1=[ordered])

    answer = await asyncio.to_thread(call)
    assert answer.status_code == 200
    root = etree.fromstring(answer.content)
    assert etree.QName(root).namespace == (SOAP11_ENVELOPE if version == "1.1" else SOAP12_ENVELOPE)
    # zeep wraps the payload in the generic WSDL's Request element
    assert root.findtext(".//Got/{urn:cpimock:echo}Request/{urn:acme}Order") == "4711"
    assert root.findtext(".//Action") == "urn:cpimock:echo:Operation"
    assert root.find(".//{urn:reply}Served") is not None  # the SOAP header the step set
    [record] = await running.records()
    assert (record.integration_flow_name, record.status, record.service_key) == ("echo", "COMPLETED", "demo-sender")
    assert record.response_headers[1] == ("SAP_MessageProcessingLogID", record.message_guid)


async def test_zeep_sends_one_way_and_gets_202_before_the_steps_ran(running: Running) -> None:
    files = running.extract("demo-sender")

    def call(text: str) -> Any:
        client = zeep_client(running, "/cxf/soap/notify", files)
        with client.settings(raw_response=True):
            note = etree.fromstring(f'<n:Note xmlns:n="urn:acme">{text}</n:Note>'.encode())
            return client.bind("notify", "notify_Soap11").Operation(_value_1=[note])

    stored, failed = await asyncio.gather(asyncio.to_thread(call, "stored"), asyncio.to_thread(call, "fail"))
    # WS Standard: both are acknowledged, the failure is not returned to the sender
    assert (stored.status_code, stored.content) == (202, b"")
    assert (failed.status_code, failed.content) == (202, b"")
    await running.server.endpoint.settle()
    records = {r.request_body.count(b"fail"): r for r in await running.records()}
    assert (records[0].status, records[0].response_status) == ("COMPLETED", 202)
    stored_record = running.server.journal.get(records[0].message_guid) if running.server.journal else None
    assert stored_record is not None
    [(name, value)] = stored_record.custom_header_properties
    assert (name, "<n:Note" in value, ">stored</n:Note>" in value) == ("notified", True, True)
    assert (records[1].status, records[1].response_status) == ("FAILED", 202)
    assert "the notification cannot be stored" in (records[1].error or "")


async def test_a_robust_one_way_channel_returns_the_failure_as_a_fault(running: Running) -> None:
    status, _, body = await post(running, "/cxf/soap/robust", envelope("<n:Note xmlns:n='urn:acme'>ok</n:Note>"))
    assert (status, body) == (202, b"")
    status, _, body = await post(running, "/cxf/soap/robust", envelope("<n:Note xmlns:n='urn:acme'>fail</n:Note>"))
    assert status == 500
    [_, failed] = await running.records()
    assert fault(body) == {
        "code": "soap:Server",
        "string": f"An internal server error occured: The MPL ID for the failed message is : {failed.message_guid}\n"
        "For more details please check tail log.",
        "mpl": failed.message_guid,
    }


async def test_a_one_way_channel_may_acknowledge_with_200_and_an_empty_envelope(running: Running) -> None:
    status, headers, body = await post(running, "/cxf/soap/ack200", envelope(ORDER, "1.2"), content_type=SOAP12)
    assert status == 200
    assert headers["Content-Type"] == "application/soap+xml; charset=utf-8"
    assert etree.fromstring(body).xpath("count(/s:Envelope/s:Body/*)", namespaces=S12) == 0


SOAP12 = "application/soap+xml; charset=utf-8"


# -- a WSDL-based channel ----------------------------------------------------------------------------


async def test_zeep_calls_the_operations_of_a_wsdl_based_channel(running: Running) -> None:
    files = running.extract("demo-sender")

    def call() -> tuple[Any, str]:
        client = zeep_client(running, "/cxf/soap/orders", files)
        address = client.service._binding_options["address"]
        return client.service.CreateOrder(OrderID="4711", Customer="ACME", Quantity=12), address

    confirmation, address = await asyncio.to_thread(call)
    assert (confirmation.OrderID, confirmation.Status) == ("4711", "CREATED")
    assert address == f"{running.url}/cxf/soap/orders"  # the served WSDL points at the tenant


async def test_a_payload_the_wsdl_has_no_operation_for_is_a_client_fault(running: Running) -> None:
    status, _, body = await post(running, "/cxf/soap/orders", envelope(ORDER))
    assert status == 500
    answer = fault(body)
    assert answer["code"] == "soap:Client"
    assert "{urn:acme}Order is not the input of any operation of the channel's WSDL" in (answer["string"] or "")
    [record] = await running.records()
    assert (record.refusal_stage, record.message_guid) == ("processing", answer["mpl"])


async def test_a_broken_wsdl_stops_the_server_from_starting_with_one_line(workspace: Path) -> None:
    (workspace / "iflows" / "broken.wsdl").write_text("<definitions/>")
    add_iflow(workspace, "bad", "/bad", [], adapter="soap", wsdl="iflows/broken.wsdl")
    with pytest.raises(CpimockError) as caught:
        async with Server(workspace, port=0, watch=False):
            pass
    assert str(caught.value) == (
        f"integration flow bad: the WSDL {workspace / 'iflows/broken.wsdl'} cannot be served: the WSDL is not a "
        "WSDL 1.1 document: its root element is definitions"
    )


# -- curl: hand-written envelopes, SOAP headers, faults ----------------------------------------------


async def curl(running: Running, path: str, body: bytes, *extra: str, files: KeyFiles | None = None) -> str:
    files = files or running.extract("demo-sender")
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-i", "--cacert", str(running.ca_path), "--cert", str(files.cert), "--key", str(files.key),
        "--data-binary", "@-", *extra, f"{running.url}{path}",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(body), 30)
    return out.decode()


@needs_curl
async def test_curl_posts_an_envelope_and_the_step_sees_the_payload_and_the_soap_headers(running: Running) -> None:
    trace = '<t:Trace xmlns:t="urn:trace" soap:mustUnderstand="0">run-7</t:Trace>'
    out = await curl(
        running,
        "/cxf/soap/echo",
        envelope(ORDER, header=trace),
        "-H", "Content-Type: text/xml; charset=utf-8", "-H", 'SOAPAction: "urn:acme:order"',
    )  # fmt: skip
    assert out.startswith("HTTP/1.1 200 OK")
    body = out.split("\r\n\r\n", 1)[1].encode()
    root = etree.fromstring(body)
    assert root.findtext(".//Action") == "urn:acme:order"
    assert root.findtext(".//Trace/{urn:trace}Trace") == "run-7"
    assert root.find(f"{{{SOAP11_ENVELOPE}}}Header/{{urn:reply}}Served") is not None


@needs_curl
async def test_curl_sees_a_failed_step_as_a_server_fault_with_the_mpl_id(running: Running) -> None:
    out = await curl(running, "/cxf/soap/broken", envelope(ORDER), "-H", "Content-Type: text/xml")
    assert out.startswith("HTTP/1.1 500")
    [record] = await running.records()
    answer = fault(out.split("\r\n\r\n", 1)[1].encode())
    assert answer["code"] == "soap:Server"
    assert answer["mpl"] == record.message_guid
    assert record.message_guid in (answer["string"] or "")
    assert "mapping is broken" not in out  # return_exception_to_sender is off
    assert record.status == "FAILED"
    assert "the mapping is broken" in (record.error or "")


async def test_return_exception_to_sender_puts_the_exception_into_the_fault(running: Running) -> None:
    status, _, body = await post(running, "/cxf/soap/exception", envelope(ORDER, "1.2"), content_type=SOAP12)
    assert status == 500
    answer = fault(body, "1.2")
    assert answer["code"] == "soap:Receiver"
    assert (answer["string"] or "").startswith("An internal server error occured: the mapping is broken")


@pytest.mark.parametrize(
    ("version", "content_type", "code"), [("1.1", "text/xml", "app:Locked"), ("1.2", SOAP12, None)]
)
async def test_a_step_raises_its_own_soap_fault(
    running: Running, version: str, content_type: str, code: str | None
) -> None:
    status, _, body = await post(running, "/cxf/soap/locked", envelope(ORDER, version), content_type=content_type)
    assert status == 500
    answer = fault(body, version)
    assert answer["code"] == ("soap:Client" if version == "1.1" else "soap:Sender")
    assert answer["string"] == "Order 4711 is locked"
    assert answer["mpl"] is None  # exactly the detail the step gave
    assert etree.fromstring(body).findtext(".//{urn:acme}Owner") == "ADA"
    [record] = await running.records()
    assert record.status == "FAILED"
    assert "Order 4711 is locked" in (record.error or "")


async def test_a_body_that_is_not_xml_cannot_be_a_soap_reply_and_fails_the_message(running: Running) -> None:
    status, _, body = await post(running, "/cxf/soap/text", envelope(ORDER))
    assert status == 500
    assert fault(body)["code"] == "soap:Server"
    [record] = await running.records()
    assert record.status == "FAILED"
    assert "the iFlow's reply body is not well-formed XML" in (record.error or "")


# -- WS-Addressing ------------------------------------------------------------------------------------

WSA = "http://www.w3.org/2005/08/addressing"
ADDRESSED = (
    f'<wsa:MessageID xmlns:wsa="{WSA}">urn:uuid:7b9c2a38-5c4e-4d39-9b53-0f7d7c1e2a11</wsa:MessageID>'
    f'<wsa:Action xmlns:wsa="{WSA}" soap:mustUnderstand="1">urn:acme:order</wsa:Action>'
)


async def test_ws_addressing_headers_are_accepted_and_answered_when_the_channel_has_it_on(running: Running) -> None:
    status, _, body = await post(running, "/cxf/soap/wsa", envelope(ORDER, header=ADDRESSED))
    assert status == 200
    root = etree.fromstring(body)
    assert root.findtext(f".//{{{WSA}}}RelatesTo") == "urn:uuid:7b9c2a38-5c4e-4d39-9b53-0f7d7c1e2a11"
    assert root.findtext(f".//{{{WSA}}}Action") == "urn:acme:orderResponse"


async def test_a_must_understand_ws_addressing_header_is_a_fault_when_the_channel_has_it_off(running: Running) -> None:
    status, _, body = await post(running, "/cxf/soap/echo", envelope(ORDER, header=ADDRESSED))
    assert status == 500
    answer = fault(body)
    assert answer["code"] == "soap:MustUnderstand"
    assert "is marked mustUnderstand and this channel does not process it" in (answer["string"] or "")


# -- refused: malformed, hostile, RPC, unauthorized, too large ----------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
<soap:Body><o:Order xmlns:o="urn:acme">&lol3;</o:Order></soap:Body></soap:Envelope>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE o [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
<soap:Body><o:Order xmlns:o="urn:acme">&secret;</o:Order></soap:Body></soap:Envelope>"""
RPC = (
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    b'soap:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><soap:Body><m:GetOrder xmlns:m="urn:acme">'
    b"<id>4711</id></m:GetOrder></soap:Body></soap:Envelope>"
)


@pytest.mark.parametrize(
    ("body", "content_type", "said"),
    [
        (b"<soap:Envelope", "text/xml", "is not well-formed XML"),
        (BILLION_LAUGHS, "text/xml", "carries a document type declaration"),
        (EXTERNAL_ENTITY, "text/xml", "carries a document type declaration"),
        (RPC, "text/xml", "(RPC/encoded); CPI's SOAP sender accepts document/literal messages only"),
        (envelope(ORDER, "1.2"), "text/xml", "a SOAP 1.2 envelope came with Content-Type text/xml"),
        (envelope(ORDER), "application/json", "a SOAP 1.1 envelope came with Content-Type application/json"),
        (b"<o:Order xmlns:o='urn:acme'/>", "text/xml", "the request is not a SOAP envelope"),
    ],
)
async def test_a_request_that_is_not_a_document_literal_envelope_is_a_client_fault(
    running: Running, body: bytes, content_type: str, said: str
) -> None:
    status, headers, answer = await post(running, "/cxf/soap/echo", body, content_type=content_type)
    assert status == 500
    parsed = fault(answer)
    assert parsed["code"] in ("soap:Client", "soap:Sender")
    assert said in (parsed["string"] or "")
    assert b"root:" not in answer  # no entity was expanded or fetched
    [record] = await running.records()
    assert (record.status, record.refusal_stage, record.message_guid) == ("FAILED", "processing", parsed["mpl"])
    assert headers["SAP_MessageProcessingLogID"] == record.message_guid


async def test_the_valid_twin_of_the_refused_requests_is_answered(running: Running) -> None:
    assert (await post(running, "/cxf/soap/echo", envelope(ORDER)))[0] == 200


@pytest.mark.parametrize(
    ("path", "files", "status", "said"),
    [
        ("/cxf/soap/echo", None, 401, "the client sent no certificate and no credentials"),
        ("/cxf/soap/role", True, 403, "Orders.send"),
        ("/cxf/soap/dn", True, 403, "not contained in the accepted subjectAndIssuers list"),
        ("/cxf/soap/a%2Fb", True, 400, "an encoded slash"),
        ("/cxf/soapx", True, 404, "no integration flow is deployed at /cxf/soapx"),
    ],
)
async def test_a_refusal_keeps_its_status_and_is_a_soap_fault_in_the_requests_version(
    running: Running, path: str, files: bool | None, status: int, said: str
) -> None:
    got, headers, body = await post(running, path, envelope(ORDER, "1.2"), files=files, content_type=SOAP12)
    assert got == status
    answer = fault(body, "1.2")
    assert answer["code"] == "soap:Sender"
    assert said in (answer["string"] or "")
    [record] = await running.records()
    assert (record.refusal_stage is not None, record.message_guid) == (True, answer["mpl"])
    if status == 401:
        assert headers["WWW-Authenticate"] == 'Basic realm="SAP Cloud Integration"'


async def test_the_twins_of_the_refusals_are_served(running: Running) -> None:
    orders = running.issue("orders-sender", "orders")
    await running.reload()
    assert (await post(running, "/cxf/soap/role", envelope(ORDER), files=orders))[0] == 200
    assert (await post(running, "/cxf/soap/small", envelope(ORDER)))[0] == 200


async def test_a_body_over_the_channels_limit_is_refused_with_413(running: Running) -> None:
    big = envelope(f'<o:Order xmlns:o="urn:acme">{"x" * (1024 * 1024)}</o:Order>')
    status, _, body = await post(running, "/cxf/soap/small", big)
    assert status == 413
    assert "exceeds the 1 MB limit of integration flow small" in (fault(body)["string"] or "")


async def test_a_get_without_wsdl_is_what_an_sm59_connection_test_sees(running: Running) -> None:
    async with running.session(running.extract("demo-sender")) as session:
        async with session.get(f"{running.url}/cxf/soap/echo") as answer:
            assert answer.status == 500
            assert "takes SOAP requests by POST, not GET" in (fault(await answer.read())["string"] or "")
        async with session.get(f"{running.url}/cxf/soap/echo?wsdl") as answer:
            assert answer.status == 200
            assert b"wsdl:definitions" in await answer.read()
    [record] = await running.records()  # the WSDL download is not a message
    assert record.refusal_stage == "http"


async def test_the_wsdl_is_only_for_callers_the_channel_admits(running: Running) -> None:
    async with running.session(None) as session, session.get(f"{running.url}/cxf/soap/echo?wsdl") as answer:
        assert answer.status == 401


# -- a stopping server and one-way steps still running --------------------------------------------------

HANGING = """
import asyncio


async def hang(message):
    await asyncio.Event().wait()  # never set: the server must cut it short
"""


async def test_a_stopping_server_records_the_one_way_steps_it_cuts_short(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cpimock.http import server as server_module
    from cpimock.mpl.journal import Journal

    monkeypatch.setattr(server_module, "SHUTDOWN_GRACE_S", 0.2)
    steps = write_step(workspace, "stuck.py", HANGING)
    add_iflow(workspace, "hang", "/hang", [f"{steps}:hang"], adapter="soap", message_exchange_pattern="one-way")
    async with serving(workspace, client_auth="optional") as running:
        status, _, _ = await post(running, "/cxf/hang", envelope(ORDER))
        assert status == 202
        assert running.server.endpoint.busy
    journal = Journal.open_readonly(workspace / "cpimock.db")
    try:
        [record] = journal.query(limit=10)
    finally:
        journal.close()
    assert (record.status, record.response_status) == ("FAILED", 202)
    assert record.error == "the server stopped before the steps ended"
