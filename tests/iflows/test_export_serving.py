"""CPI exports served by a test tenant over mTLS: each sender channel called with its accepting and
rejecting twins, as a sender team's own tests would (``tenant.add_export``)."""

from __future__ import annotations

import io
import shutil
import ssl
import subprocess
import zipfile
from pathlib import Path

import aiohttp
import pytest

from cpimock.errors import CpimockError
from cpimock.message import Message
from cpimock.steps.groovy.toolchain import find_toolchain
from cpimock.testing import Tenant, ThreadedTenant

from ..steps.groovy_support import requires_groovy
from .exports import (
    Channel,
    Flow,
    content_modifier,
    package_files,
    request_reply,
    script,
    write_folder,
    write_zip,
    zip_bytes,
)

SAMPLES = Path(__file__).parents[1] / "adapters" / "samples"
ORDERS05 = (SAMPLES / "idoc" / "ORDERS05.soap.xml").read_bytes()
WSDL = (SAMPLES / "OrderService.wsdl").read_bytes()
SAP_NS = "http://www.sap.com/webas/640/soap/features/messageId/"
GUID = "00163ec1-abf4-1eeb-acbf-25ab61ffa285"
OTHER_GUID = "00163ec1-abf4-1eeb-acbf-25ab61ffa286"
ORDER = b'<p1:Order xmlns:p1="urn:acme:orders"><p1:Id>4711</p1:Id></p1:Order>'
ACK = content_modifier(
    "Acknowledge",
    headers=[
        ("Create", "SAP_ApplicationID", "xpath", "/p1:Order/p1:Id", "java.lang.String"),
        ("Create", "Content-Type", "constant", "application/xml", ""),
    ],
    body="<ack id='${header.SAP_ApplicationID}' flow='${camelId}'/>",
)


async def call(
    url: str, ctx: ssl.SSLContext, body: bytes = ORDER, *, csrf: bool = False, **headers: str
) -> tuple[int, str, dict[str, str]]:
    """POST *body*; with *csrf*, fetch a token first as SAP clients do (a refused fetch is the answer)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        if csrf:
            async with session.get(url, headers={"X-CSRF-Token": "Fetch"}, ssl=ctx) as fetched:
                if fetched.status != 200:
                    return fetched.status, await fetched.text(), dict(fetched.headers)
                headers["X-CSRF-Token"] = fetched.headers["X-CSRF-Token"]
        async with session.post(url, data=io.BytesIO(body), headers=headers, ssl=ctx) as answer:
            return answer.status, await answer.text(), dict(answer.headers)


def orders(**changes: object) -> Flow:
    flow = Flow(steps=[ACK], namespaces="xmlns:p1=urn:acme:orders")
    for name, value in changes.items():
        setattr(flow, name, value)
    return flow


async def test_an_https_export_with_a_custom_role_and_csrf_answers_as_its_channel(tmp_path: Path) -> None:
    channel = Channel(role="Orders.send", extra={"xsrfProtection": "1", "maximumBodySize": "1"})
    export = write_zip(tmp_path / "Orders.zip", orders(channels=[channel]).files())
    async with Tenant() as tenant:
        [flow] = tenant.add_export(export)
        assert (flow.id, flow.address, flow.url) == ("Orders_Inbound", "/orders", f"{tenant.url}/http/orders")
        sender = tenant.service_key("s4", roles=["Orders.send"])
        status, text, headers = await call(flow.url, sender.ssl_context(), csrf=True)
        assert (status, text) == (200, "<ack id='4711' flow='Orders_Inbound'/>")
        assert headers["Content-Type"] == "application/xml"

        # the rejecting twins: no CSRF token, a key without the role, a body over the channel's 1 MB
        status, _, headers = await call(flow.url, sender.ssl_context())
        assert (status, headers.get("X-CSRF-Token")) == (403, "Required")
        other = tenant.service_key("other")  # ESBMessaging.send only
        assert (await call(flow.url, other.ssl_context(), csrf=True))[0] == 403
        assert (await call(flow.url, sender.ssl_context(), b"x" * (1024 * 1024 + 1), csrf=True))[0] == 413

        [done] = tenant.messages(status="COMPLETED")
        assert (done.integration_flow_name, done.application_message_id) == ("Orders_Inbound", "4711")


async def test_a_folder_export_is_served_as_its_zip_is(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "Orders", orders().files())
    async with Tenant() as tenant:
        [flow] = tenant.add_export(folder)
        key = tenant.service_key("s4")
        assert (await call(flow.url, key.ssl_context(), csrf=True))[:2] == (
            200,
            "<ack id='4711' flow='Orders_Inbound'/>",
        )
        untrusted = tenant.untrusted_key()
        with pytest.raises(aiohttp.ClientError):  # the rejecting twin: refused in the handshake
            await call(flow.url, untrusted.ssl_context(), csrf=True)


async def test_a_soap_channel_answers_with_its_wsdl_and_refuses_what_the_wsdl_lacks(tmp_path: Path) -> None:
    soap = Channel(
        "SOAP",
        "SOAP",
        "/orders/soap",
        extra={
            "serviceDefinition": "WSDL",
            "soapWsdlURL": "/wsdl/OrderService.wsdl",
            "soapServiceName": "p1:OrderService",
        },
    )
    confirm = content_modifier("Confirm", body="<c:Confirmed xmlns:c='urn:acme'>${header.SOAPAction}</c:Confirmed>")
    flow = Flow(channels=[soap], steps=[confirm], extra_files={"src/main/resources/wsdl/OrderService.wsdl": WSDL})
    async with Tenant() as tenant:
        [served] = tenant.add_export(write_zip(tmp_path / "Soap.zip", flow.files()))
        assert served.url == f"{tenant.url}/cxf/orders/soap"
        key = tenant.service_key("proxy")
        async with aiohttp.ClientSession() as session:
            async with session.get(served.url + "?wsdl", ssl=key.ssl_context()) as wsdl:
                assert wsdl.status == 200
                assert f'location="{served.url}"' in await wsdl.text()
        request = envelope(
            '<o:OrderCreateRequest xmlns:o="urn:acme:orders"><OrderID>1</OrderID></o:OrderCreateRequest>'
        )
        status, text, _ = await call(served.url, key.ssl_context(), request, **{"Content-Type": "text/xml"})
        assert status == 200
        assert "<c:Confirmed" in text
        unknown = envelope('<o:Unknown xmlns:o="urn:acme:orders"/>')
        status, text, _ = await call(served.url, key.ssl_context(), unknown, **{"Content-Type": "text/xml"})
        assert status == 500
        assert "<faultcode>soap:Client</faultcode>" in text
        assert "{urn:acme:orders}Unknown is not the input of any operation of the channel's WSDL" in text


async def test_an_idoc_channel_takes_an_idoc_and_refuses_one_without_control_record(tmp_path: Path) -> None:
    idoc = Channel("IDOC", "IDOC", "/idoc/orders", extra={"xmlCharacterHandling": "throwException"})
    flow = Flow(id="Orders_IDoc", channels=[idoc])
    async with Tenant() as tenant:
        [served] = tenant.add_export(write_zip(tmp_path / "Idoc.zip", flow.files()))
        key = tenant.service_key("s4")
        status, _, _ = await call(served.url, key.ssl_context(), ORDERS05, **{"Content-Type": "text/xml"})
        assert status == 200
        broken = b"<ORDERS05><IDOC BEGIN='1'/></ORDERS05>"
        status, text, _ = await call(served.url, key.ssl_context(), broken, **{"Content-Type": "text/xml"})
        assert status == 500
        assert "no control record EDI_DC40" in text
        done = tenant.messages(iflow="Orders_IDoc", status="COMPLETED")
        assert [(r.application_message_type, r.application_message_id) for r in done] == [
            ("ORDERS05", "0000000000471101")
        ]


async def test_a_client_certificate_channel_admits_only_its_subject_and_issuer(tmp_path: Path) -> None:
    async with Tenant() as tenant:
        listed = tenant.service_key("s4-listed")
        other = tenant.service_key("s4-other")
        pair = (listed.certificate.subject.rfc4514_string(), listed.certificate.issuer.rfc4514_string())
        dn = Channel(auth="ClientCertificate", role="", certificates=[pair])
        [flow] = tenant.add_export(write_zip(tmp_path / "Dn.zip", orders(channels=[dn]).files()))
        assert (await call(flow.url, listed.ssl_context()))[0] == 200
        status, text, _ = await call(flow.url, other.ssl_context())
        assert status == 403
        assert "is not contained in the accepted subjectAndIssuers list of the integration flow" in text


async def test_a_parameter_with_spaces_is_set_as_the_configure_dialog_would(tmp_path: Path) -> None:
    flow = orders(
        channels=[Channel(address="{{HTTP Address}}", role="{{Sender Role}}")],
        parameters={"HTTP Address": "/<HTTP Address>", "Sender Role": "ESBMessaging.send"},
    )
    export = write_zip(tmp_path / "Orders.zip", flow.files())
    async with Tenant() as tenant:
        with pytest.raises(CpimockError, match=r"the parameter \{\{HTTP Address\}\} is still the placeholder"):
            tenant.add_export(export)
        [served] = tenant.add_export(export, parameters={"HTTP Address": "/orders/v1"})
        assert served.url == f"{tenant.url}/http/orders/v1"
        key = tenant.service_key("s4")
        assert (await call(served.url, key.ssl_context()))[0] == 200
        assert (await call(f"{tenant.url}/http/orders", key.ssl_context()))[0] == 404


async def test_an_undefined_parameter_is_named_with_where_to_set_it(tmp_path: Path) -> None:
    flow = orders(channels=[Channel(auth="{{Authorization}}")])
    export = write_zip(tmp_path / "Orders.zip", flow.files())
    async with Tenant() as tenant:
        with pytest.raises(CpimockError) as refused:
            tenant.add_export(export)
        assert str(refused.value).startswith(f"{export}: iFlow Orders_Inbound cannot be served: sender channel HTTPS")
        assert '[iflows.parameters] Authorization = "..."' in str(refused.value)
        [served] = tenant.add_export(export, parameters={"Authorization": "RoleBased"})
        assert (await call(served.url, tenant.service_key("s4").ssl_context()))[0] == 200


async def test_a_package_serves_the_flows_picked_each_with_its_own_parameters(tmp_path: Path) -> None:
    first = orders(
        id="Orders_Inbound", channels=[Channel(address="{{HTTP Address}}")], parameters={"HTTP Address": "/a"}
    )
    second = orders(
        id="Invoices_Inbound",
        name="Invoices",
        channels=[Channel(address="{{HTTP Address}}")],
        parameters={"HTTP Address": "/b"},
    )
    third = orders(id="Returns_Inbound", name="Returns", channels=[Channel(address="/returns")])
    files = package_files(
        "Order to Cash",
        [(f"r{n}", f.name, zip_bytes(f.files())) for n, f in enumerate((first, second, third))],
    )
    package = write_zip(tmp_path / "OrderToCash.zip", files)
    async with Tenant() as tenant:
        served = tenant.add_export(
            package,
            flows=["Orders_Inbound", "Invoices_Inbound"],
            flow_parameters={"Invoices_Inbound": {"HTTP Address": "/invoices"}},
        )
        assert [(flow.id, flow.address) for flow in served] == [
            ("Orders_Inbound", "/a"),
            ("Invoices_Inbound", "/invoices"),
        ]
        key = tenant.service_key("s4")
        for flow in served:
            status, text, _ = await call(flow.url, key.ssl_context())
            assert (status, text) == (200, f"<ack id='4711' flow='{flow.id}'/>")
        assert (await call(f"{tenant.url}/http/returns", key.ssl_context()))[0] == 404  # not picked
        assert {r.integration_flow_name for r in tenant.messages(status="COMPLETED")} == {
            "Orders_Inbound",
            "Invoices_Inbound",
        }


async def test_an_unsupported_step_is_left_out_unless_strict_refuses_the_flow(tmp_path: Path) -> None:
    flow = orders(steps=[ACK, request_reply("Call ERP")])
    export = write_zip(tmp_path / "Orders.zip", flow.files())
    async with Tenant() as tenant:
        with pytest.raises(
            CpimockError, match=r"strict = true refuses a flow whose steps cpimock skips, and it skips Call ERP"
        ):
            tenant.add_export(export, strict=True)
        [served] = tenant.add_export(export)
        status, text, _ = await call(served.url, tenant.service_key("s4").ssl_context(), csrf=True)
        assert (status, text) == (200, "<ack id='4711' flow='Orders_Inbound'/>")
        [warning] = tenant.server.snapshot.exports[0].warnings
        assert warning.text == "Request Reply: not run by cpimock"


async def test_a_malicious_zip_is_refused_naming_the_file_and_entry(tmp_path: Path) -> None:
    files = orders().files()
    files["../../evil.sh"] = b"rm -rf /"
    export = write_zip(tmp_path / "Evil.zip", files)
    async with Tenant() as tenant:
        with pytest.raises(CpimockError, match=r"Evil\.zip: entry '\.\./\.\./evil\.sh' climbs out of the export"):
            tenant.add_export(export)
        assert tenant.server.snapshot.exports == ()
        assert not (tmp_path.parent / "evil.sh").exists()


async def test_a_script_replaced_by_a_python_function_runs_in_its_place(tmp_path: Path) -> None:
    flow = orders(steps=[ACK, script("Route", "route.groovy")], scripts={"route.groovy": "def processData(m) { m }"})

    def route(message: Message) -> Message:
        message.body = message.text + "<routed/>"
        return message

    async with Tenant() as tenant:
        [served] = tenant.add_export(write_zip(tmp_path / "Orders.zip", flow.files()), replace={"route.groovy": route})
        status, text, _ = await call(served.url, tenant.service_key("s4").ssl_context(), csrf=True)
        assert (status, text) == (200, "<ack id='4711' flow='Orders_Inbound'/><routed/>")


def envelope(payload: str) -> bytes:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f"{payload}</soap:Body></soap:Envelope>"
    ).encode()


@requires_groovy
async def test_a_groovy_script_of_the_export_runs_with_the_flows_lib_jars(tmp_path: Path) -> None:
    source = tmp_path / "src" / "acme" / "Stamp.java"
    source.parent.mkdir(parents=True)
    source.write_text('package acme; public class Stamp { public static String of(String id) { return "#" + id; } }')
    subprocess.run([str(find_toolchain().javac), "-d", str(tmp_path / "classes"), str(source)], check=True)
    jar = io.BytesIO()
    with zipfile.ZipFile(jar, "w") as archive:
        archive.write(tmp_path / "classes" / "acme" / "Stamp.class", "acme/Stamp.class")
    groovy = """
        import com.sap.gateway.ip.core.customdev.util.Message
        import acme.Stamp

        def Message stamp(Message message) {
            def id = message.getHeaders().get("SAP_ApplicationID")
            messageLogFactory.getMessageLog(message).addCustomHeaderProperty("Order", Stamp.of(id))
            message.setBody(message.getBody(String) + Stamp.of(id))
            return message
        }
    """
    flow = orders(
        steps=[ACK, script("Stamp", "stamp.groovy", "stamp")],
        scripts={"stamp.groovy": groovy},
        extra_files={"src/main/resources/lib/stamp.jar": jar.getvalue()},
    )
    async with Tenant() as tenant:
        [served] = tenant.add_export(write_zip(tmp_path / "Orders.zip", flow.files()))
        status, text, _ = await call(served.url, tenant.service_key("s4").ssl_context(), csrf=True)
        assert (status, text) == (200, "<ack id='4711' flow='Orders_Inbound'/>#4711")
        [record] = tenant.messages(status="COMPLETED")
        full = tenant.message(record.message_guid)
        assert full is not None
        assert full.custom_header_properties == [("Order", "#4711")]

        failing = orders(steps=[script("Stamp", "stamp.groovy", "stamp")], scripts={"stamp.groovy": groovy})
        [broken] = tenant.add_export(write_zip(tmp_path / "Orders.zip", failing.files()))
        status, text, _ = await call(broken.url, tenant.service_key("s4").ssl_context(), csrf=True)
        assert status == 500  # the rejecting twin: without its jar the script does not compile
        [failed] = tenant.take_errors()
        assert "Stamp (CallActivity_10)" in str(failed)
        assert "unable to resolve class acme.Stamp" in str(failed)


def proxy_call(message_id: str) -> bytes:
    """An asynchronous ABAP proxy call as S/4 sends it through SAP RM: one-way, the SAP messageId header."""
    sap = f'<msgID:messageId xmlns:msgID="{SAP_NS}">uuid:{message_id}</msgID:messageId>'
    return (
        '<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/">'
        f"<soap-env:Header>{sap}</soap-env:Header><soap-env:Body>"
        '<n0:DeliveryRequest xmlns:n0="http://sap.com/xi/SAPGlobal20/Global"><ID>4711</ID></n0:DeliveryRequest>'
        "</soap-env:Body></soap-env:Envelope>"
    ).encode()


async def test_one_flow_with_three_sender_channels_serves_each_into_the_same_steps(tmp_path: Path) -> None:
    https = Channel(address="/orders", role="Orders.send")
    rm = Channel("SOAP", "SAP RM", "/orders/async", protocol="SAP RM", role="Orders.send")
    idoc = Channel("IDOC", "IDOC", "/orders/idoc", role="Orders.send")
    tag = content_modifier("Tag", properties=[("Create", "via", "header", "CamelServletContextPath", "")])
    flow = Flow(channels=[https, rm, idoc], steps=[tag])
    async with Tenant() as tenant:
        served = tenant.add_export(write_zip(tmp_path / "Orders.zip", flow.files()))
        assert [f.url.removeprefix(tenant.url) for f in served] == [
            "/http/orders",
            "/cxf/orders/async",
            "/cxf/orders/idoc",
        ]
        sender = tenant.service_key("s4", roles=["Orders.send"])
        other = tenant.service_key("other")
        xml = {"Content-Type": "text/xml"}
        first, second, third = served
        assert (await call(first.url, sender.ssl_context()))[0] == 200
        assert (await call(second.url, sender.ssl_context(), proxy_call(GUID), **xml))[0] == 202
        assert (await call(second.url, sender.ssl_context(), proxy_call(GUID), **xml))[0] == 202  # a copy
        assert (await call(third.url, sender.ssl_context(), ORDERS05, **xml))[0] == 200
        for flow_url, body in ((first.url, ORDER), (second.url, proxy_call(OTHER_GUID)), (third.url, ORDERS05)):
            assert (await call(flow_url, other.ssl_context(), body, **xml))[0] == 403  # the role is the export's
        await tenant.settle()
        done = tenant.messages(iflow="Orders_Inbound", status="COMPLETED")
        assert sorted(r.effective_custom_status for r in done) == ["COMPLETED", "COMPLETED", "COMPLETED", "DUPLICATE"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_does_the_csrf_dance_against_an_exported_channel(tmp_path: Path) -> None:
    export = write_zip(tmp_path / "Orders.zip", orders().files())
    with ThreadedTenant() as tenant:
        [flow] = tenant.add_export(export)
        key = tenant.service_key("s4")
        jar = tmp_path / "jar.txt"
        base = [
            "curl",
            "-sS",
            "--cert",
            str(key.cert_path),
            "--key",
            str(key.key_path),
            "--cacert",
            str(tenant.ca_path),
        ]
        fetched = subprocess.run(
            [*base, "-i", "-c", str(jar), "-H", "X-CSRF-Token: Fetch", flow.url],
            capture_output=True,
            text=True,
            check=True,
        )
        token = next(
            line.split(":", 1)[1].strip()
            for line in fetched.stdout.splitlines()
            if line.lower().startswith("x-csrf-token:")
        )
        posted = [
            *base,
            "-b",
            str(jar),
            "-H",
            "Content-Type: application/xml",
            "--data-binary",
            ORDER.decode(),
            flow.url,
        ]
        answer = subprocess.run([*posted, "-H", f"X-CSRF-Token: {token}"], capture_output=True, text=True, check=True)
        assert answer.stdout == "<ack id='4711' flow='Orders_Inbound'/>"
        refused = subprocess.run(
            [*posted, "-w", "%{http_code}", "-o", "/dev/null"], capture_output=True, text=True, check=True
        )
        assert refused.stdout == "403"  # the rejecting twin: no token


async def test_a_package_flow_that_cannot_be_served_is_named_and_the_others_can_be_picked(tmp_path: Path) -> None:
    good = orders(id="Orders_Inbound", channels=[Channel(address="/orders")])
    bad = orders(id="Invoices_Inbound", name="Invoices", channels=[Channel(address="{{Nowhere}}")])
    files = package_files(
        "Order to Cash", [("a", good.name, zip_bytes(good.files())), ("b", "Invoices", zip_bytes(bad.files()))]
    )
    package = write_zip(tmp_path / "OrderToCash.zip", files)
    async with Tenant() as tenant:
        with pytest.raises(CpimockError) as refused:
            tenant.add_export(package)
        assert "iFlow Invoices_Inbound cannot be served: " in str(refused.value)
        assert "[iflows.flow.Invoices_Inbound.parameters] Nowhere" in str(refused.value)
        assert "or serve the package's other flows with flows = [...]" in str(refused.value)
        [served] = tenant.add_export(package, flows=["Orders_Inbound"])
        assert (await call(served.url, tenant.service_key("s4").ssl_context()))[0] == 200
