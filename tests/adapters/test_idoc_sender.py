"""The IDoc sender served at /cxf/: IDoc-XML as an S/4 XML-HTTP port posts it, from the JDK's own
HttpClient with the .pfx and from curl; the answers S/4 turns into status 03 and 02.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree

from cpimock.adapters.idoc.document import IDOC_SOAP_NAMESPACE
from cpimock.adapters.soap.protocol import SOAP11_ENVELOPE
from cpimock.cli import main as cli
from cpimock.pki.exports import export_files, write_files
from cpimock.pki.servicekey import read_service_key
from tests.e2e_support import add_iflow, add_instance, write_step
from tests.serving import Running, serving

pytestmark = pytest.mark.clients
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="a JDK is not installed")

SAMPLES = Path(__file__).parent / "samples" / "idoc"
POST_IDOC = Path(__file__).parent / "PostIdoc.java"
PASSWORD = "changeit"

STEPS = """
from cpimock.message import SoapFault

HEADERS = (
    "SapIDocType", "SapIDocTransferId", "SapIDocDbId", "SapIDocContentType", "SapIdocSoapNamespace",
    "SapMessageId", "SapPlainSoapQoS", "SapPlainSoapQueueId", "SapAuthenticatedUserName",
)


def receive(message):
    for name in HEADERS:
        if message.headers.get(name) is not None:
            message.log.add_custom_header(name, message.headers[name])
    message.log.add_attachment("idoc", message.text, "text/xml")
    return message


def refuse(message):
    raise SoapFault("customer 0000100042 is blocked for sales", faultcode="client")


def broken(message):
    raise ValueError("the partner profile is missing")
"""


@pytest.fixture
async def running(workspace: Path) -> AsyncIterator[Running]:
    steps = write_step(workspace, "idoc_steps.py", STEPS)
    add_instance(workspace, "idoc", ["IDoc.send"])

    def flow(iflow_id: str, address: str, step: str, **settings: Any) -> None:
        add_iflow(workspace, iflow_id, address, [f"{steps}:{step}"], adapter="idoc", **settings)

    flow("orders", "/s4/orders", "receive")
    flow("assign", "/s4/assign", "receive", idoc_answer="idoc-assign")
    flow("remove", "/s4/remove", "receive", invalid_xml_characters="remove")
    flow("substitute", "/s4/substitute", "receive", invalid_xml_characters="substitute")
    flow("refuse", "/s4/refuse", "refuse")
    flow("broken", "/s4/broken", "broken")
    flow("role", "/s4/role", "receive", role="IDoc.send")
    flow("small", "/s4/small", "receive", max_body_mb=1)
    async with serving(workspace, client_auth="required") as r:
        yield r


async def post(running: Running, path: str, body: bytes, content_type: str = "text/xml") -> tuple[int, bytes]:
    headers = {"Content-Type": content_type}
    async with running.session(running.extract("demo-sender")) as session:
        async with session.post(running.url + path, data=io.BytesIO(body), headers=headers) as answer:
            return answer.status, await answer.read()


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def headers_of(running: Running, guid: str) -> dict[str, str]:
    journal = running.server.journal
    assert journal is not None
    record = journal.get(guid)
    assert record is not None
    return dict(record.custom_header_properties)


def step_saw(running: Running, guid: str) -> str:
    journal = running.server.journal
    assert journal is not None
    record = journal.get(guid)
    assert record is not None
    [attachment] = record.attachments
    return attachment.data.decode("utf-8")


def fault_of(body: bytes) -> tuple[str | None, str | None]:
    root = etree.fromstring(body)
    return root.findtext(".//faultcode"), root.findtext(".//faultstring")


# -- the JDK's HttpClient with the .pfx, as a Java sender or S/4's HTTP client does ------------------


def pfx_of(running: Running, name: str, folder: Path) -> Path:
    key = read_service_key(running.root / "certs" / "keys" / f"{name}.json")
    files, _ = export_files(key, pfx_password=PASSWORD, alias=name)
    write_files(folder, files)
    return folder / "cert.pfx"


async def java_post(running: Running, path: str, pfx: Path | str, file: Path, content_type: str) -> tuple[int, str]:
    java = shutil.which("java")
    assert java is not None
    proc = await asyncio.create_subprocess_exec(
        java, str(POST_IDOC), f"{running.url}{path}", str(pfx), PASSWORD, str(running.ca_path), content_type,
        str(file),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(errors="replace")


@needs_java
async def test_java_posts_an_idoc_with_the_pfx_and_gets_200_so_s4_sets_status_03(
    running: Running, tmp_path: Path
) -> None:
    pfx = pfx_of(running, "demo-sender", tmp_path / "demo")
    code, out = await java_post(running, "/cxf/s4/orders", pfx, SAMPLES / "ORDERS05.soap.xml", "text/xml")
    assert code == 0, out
    assert out.splitlines()[0] == "HTTP 200"
    [record] = await running.records()
    assert (record.status, record.service_key) == ("COMPLETED", "demo-sender")
    assert (record.application_message_id, record.application_message_type) == ("0000000000471101", "ORDERS05")
    seen = headers_of(running, record.message_guid)
    assert seen["SapIDocType"] == "ORDERS05"
    assert seen["SapIDocTransferId"] == "0000000000471101"
    assert seen["SapIDocContentType"] == "text/xml"
    assert seen["SapIdocSoapNamespace"] == IDOC_SOAP_NAMESPACE
    assert seen["SapMessageId"] == "005056A1B2C31EDF9AB7F4C6E1D2A3B4"
    assert len(seen["SapIDocDbId"]) == 16
    assert "SapPlainSoapQoS" not in seen  # exactly once, not in order
    # the steps get the IDoc-XML without the envelope
    assert etree.QName(etree.fromstring(step_saw(running, record.message_guid).encode())).localname == "ORDERS05"


@needs_java
async def test_java_without_the_pfx_is_refused_in_the_handshake(running: Running, tmp_path: Path) -> None:
    code, out = await java_post(running, "/cxf/s4/orders", "-", SAMPLES / "ORDERS05.soap.xml", "text/xml")
    assert code != 0
    assert "HTTP 200" not in out
    await running.server.settle()
    assert [r.refusal_stage for r in await running.records()] == ["tls"]


@needs_java
async def test_java_with_a_key_whose_instance_lacks_the_role_gets_403(running: Running, tmp_path: Path) -> None:
    code, out = await java_post(
        running,
        "/cxf/s4/role",
        pfx_of(running, "demo-sender", tmp_path / "d"),
        SAMPLES / "ORDERS05.soap.xml",
        "text/xml",
    )
    assert (code, out.splitlines()[0]) == (0, "HTTP 403")
    assert "IDoc.send" in out
    running.issue("s4-idoc", "idoc")
    await running.reload()
    code, out = await java_post(
        running,
        "/cxf/s4/role",
        pfx_of(running, "s4-idoc", tmp_path / "s4"),
        SAMPLES / "ORDERS05.soap.xml",
        "text/xml",
    )
    assert (code, out.splitlines()[0]) == (0, "HTTP 200"), out


# -- curl: plain IDoc-XML, bulks, encodings, the exactly-once-in-order key ---------------------------


async def curl_post(running: Running, path: str, file: Path, content_type: str) -> tuple[int, str]:
    files = running.extract("demo-sender")
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", str(running.ca_path),
        "--cert", str(files.cert), "--key", str(files.key), "-H", f"Content-Type: {content_type}",
        "--data-binary", f"@{file}", f"{running.url}{path}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode()


@needs_curl
async def test_curl_posts_a_plain_bulk_of_three_debmas_idocs(running: Running) -> None:
    assert await curl_post(running, "/cxf/s4/orders", SAMPLES / "DEBMAS07.bulk.xml", "text/xml") == (0, "200")
    [record] = await running.records()
    seen = headers_of(running, record.message_guid)
    assert (seen["SapIDocType"], seen["SapIDocTransferId"]) == ("DEBMAS07", "0000000000471201")  # the first IDoc's
    assert "SapIdocSoapNamespace" not in seen
    assert step_saw(running, record.message_guid).count("<IDOC BEGIN") == 3


@needs_curl
async def test_curl_posts_an_idoc_as_application_x_sap_idoc(running: Running) -> None:
    single = SAMPLES / "MATMAS05.latin1.xml"
    assert await curl_post(running, "/cxf/s4/orders", single, "application/x-sap.idoc") == (0, "200")
    [record] = await running.records()
    assert headers_of(running, record.message_guid)["SapIDocContentType"] == "application/x-sap.idoc"


async def test_an_idoc_in_iso_8859_1_reaches_the_steps_as_text(running: Running) -> None:
    assert (await post(running, "/cxf/s4/orders", sample("MATMAS05.latin1.xml")))[0] == 200
    [record] = await running.records()
    assert (record.application_message_id, record.application_message_type) == ("0000000000471401", "MATMAS05")
    assert "ISO-8859-1" in step_saw(running, record.message_guid)[:60]


async def test_exactly_once_in_order_gives_the_queue_from_the_arckey(running: Running) -> None:
    assert (await post(running, "/cxf/s4/orders", sample("ORDERS05.eoio.soap.xml")))[0] == 200
    [record] = await running.records()
    seen = headers_of(running, record.message_guid)
    assert (seen["SapPlainSoapQoS"], seen["SapPlainSoapQueueId"]) == ("ExactlyOnceInOrder", "SAP_ORD1")


async def test_the_idoc_assign_answer_maps_each_idoc_number(running: Running) -> None:
    status, body = await post(running, "/cxf/s4/assign", sample("DEBMAS07.bulk.soap.xml"))
    assert status == 200
    root = etree.fromstring(body)
    assert etree.QName(root).namespace == SOAP11_ENVELOPE
    assigns = root.findall(f".//{{{IDOC_SOAP_NAMESPACE}}}idocAssign")
    assert [a.findtext("TransferId") for a in assigns] == ["0000000000471301", "0000000000471302"]
    db_ids = [int(a.findtext("DbId") or "0") for a in assigns]
    assert db_ids[1] == db_ids[0] + 1
    [record] = await running.records()
    assert headers_of(running, record.message_guid)["SapIDocDbId"] == assigns[0].findtext("DbId")


# -- the channel's invalid XML character handling ----------------------------------------------------


async def test_an_invalid_character_is_refused_under_throw_error_so_s4_sets_status_02(running: Running) -> None:
    status, body = await post(running, "/cxf/s4/orders", sample("invalid-characters.xml"))
    assert status == 500
    code, string = fault_of(body)
    assert code == "soap:Client"
    assert "holds U+0001, which XML 1.0 does not allow, as a raw character at line 27, column 22" in (string or "")
    [record] = await running.records()
    assert (record.status, record.refusal_stage) == ("FAILED", "processing")


@pytest.mark.parametrize(
    ("path", "expected"), [("/cxf/s4/remove", "Nordwind AG [0m"), ("/cxf/s4/substitute", "Nordwind# AG #[0m")]
)
async def test_remove_and_substitute_clean_the_idoc_before_the_steps(
    running: Running, path: str, expected: str
) -> None:
    assert (await post(running, path, sample("invalid-characters.xml")))[0] == 200
    [record] = await running.records()
    assert f"<NAME1>{expected}</NAME1>" in step_saw(running, record.message_guid)


# -- what S/4 turns into status 02 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("mixed-types.bulk.xml", "the request mixes IDoc types (DEBMAS07 and ORDERS05)"),
        ("no-control-record.xml", "has no control record EDI_DC40 as its first segment"),
    ],
)
async def test_what_is_not_an_idoc_s4_can_send_is_a_client_fault(running: Running, name: str, said: str) -> None:
    status, body = await post(running, "/cxf/s4/orders", sample(name))
    assert status == 500
    code, string = fault_of(body)
    assert (code, said in (string or "")) == ("soap:Client", True)


async def test_a_failed_step_is_a_server_fault_with_the_mpl_id(running: Running) -> None:
    status, body = await post(running, "/cxf/s4/broken", sample("ORDERS05.soap.xml"))
    assert status == 500
    [record] = await running.records()
    code, string = fault_of(body)
    assert code == "soap:Server"
    assert record.message_guid in (string or "")
    assert (record.status, record.application_message_id) == ("FAILED", "0000000000471101")


async def test_a_step_refuses_the_idoc_with_its_own_fault(running: Running) -> None:
    status, body = await post(running, "/cxf/s4/refuse", sample("ORDERS05.soap.xml"))
    assert status == 500
    assert fault_of(body) == ("soap:Client", "customer 0000100042 is blocked for sales")


async def test_entity_expansion_in_an_idoc_is_refused(running: Running) -> None:
    attack = b'<?xml version="1.0"?><!DOCTYPE ORDERS05 [<!ENTITY x "xxxxxxxxxx"><!ENTITY y "&x;&x;&x;&x;">]>'
    attack += sample("ORDERS05.soap.xml").split(b"?>", 1)[1].replace(b"<MANDT>100</MANDT>", b"<MANDT>&y;</MANDT>")
    status, body = await post(running, "/cxf/s4/orders", attack)
    assert status == 500
    assert "document type declaration" in (fault_of(body)[1] or "")


async def test_an_idoc_over_the_channels_limit_is_refused_with_413(running: Running) -> None:
    big = sample("DEBMAS07.bulk.xml").replace(b"<NAME1>", b"<NAME1>" + b"x" * (1024 * 1024), 1)
    status, body = await post(running, "/cxf/s4/small", big)
    assert status == 413
    assert "exceeds the 1 MB limit" in (fault_of(body)[1] or "")
    assert (await post(running, "/cxf/s4/small", sample("DEBMAS07.bulk.xml")))[0] == 200


async def test_an_sm59_connection_test_gets_500_and_is_recorded(running: Running) -> None:
    async with running.session(running.extract("demo-sender")) as session:
        async with session.get(f"{running.url}/cxf/s4/orders") as answer:
            assert answer.status == 500
    [record] = await running.records()
    assert (record.refusal_stage, record.request_method) == ("http", "GET")


# -- the IDoc's number and type in `cpimock messages` and the monitor ---------------------------------


async def test_cpimock_messages_and_the_monitor_show_the_idoc_number_and_type(running: Running) -> None:
    assert (await post(running, "/cxf/s4/orders", sample("ORDERS05.soap.xml")))[0] == 200
    [record] = await running.records()
    async with running.session(running.extract("demo-sender")) as session:
        async with session.get(f"{running.url}/monitor/api/messages") as answer:
            [listed] = (await answer.json())["messages"]
    assert (listed["application_message_type"], listed["application_message_id"]) == ("ORDERS05", "0000000000471101")
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["messages", "--workspace", str(running.root)])
    assert result.exit_code == 0, result.output
    assert "ORDERS05 0000000000471101 · POST /cxf/s4/orders" in result.output
    shown = await asyncio.to_thread(CliRunner().invoke, cli, ["messages", "--workspace", str(running.root), "--json"])
    assert json.loads(shown.output)["messages"][0]["application_message_id"] == record.application_message_id


# -- openssl s_client: a hand-made HTTP/1.1 request with a chunked body, as an ICM may send one -------


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
async def test_a_chunked_idoc_over_openssl_s_client_is_read_whole(running: Running) -> None:
    files = running.extract("demo-sender")
    idoc = sample("DEBMAS07.bulk.xml")
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in (idoc[:700], idoc[700:]))
    request = (
        b"POST /cxf/s4/orders HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    proc = await asyncio.create_subprocess_exec(
        "openssl", "s_client", "-connect", f"127.0.0.1:{running.server.port}", "-CAfile", str(running.ca_path),
        "-cert", str(files.cert), "-key", str(files.key), "-cert_chain", str(files.cert), "-quiet", "-ign_eof",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(request), 30)
    assert b"HTTP/1.1 200 OK" in out
    [record] = await running.records()
    assert record.request_body == idoc
    assert headers_of(running, record.message_guid)["SapIDocTransferId"] == "0000000000471201"
