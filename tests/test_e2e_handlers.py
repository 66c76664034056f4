"""Issue 4 end to end: the example iFlow steps called over mTLS against a real server.

Every call goes through a TLS handshake with the service key's certificate; each accepting call
has a rejecting twin (a failing step, a timeout, a caller without a certificate).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from cpimock.adapters.answers import error_template
from cpimock.mpl.record import MplRecord
from tests.e2e_support import add_iflow, copy_example, write_step
from tests.serving import Running, serving

Session = aiohttp.ClientSession

ECHO = '''
import threading

from cpimock.message import Message


def process(message: Message) -> Message:
    message.set_json({
        "headers": dict(message.headers.items()),
        "properties": {k: v for k, v in message.properties.items() if isinstance(v, str | list)},
        "thread": threading.current_thread().name,
    })
    return message


def declared(message: Message) -> Message:
    """What the body reads as once the step dropped Content-Type: the request's charset decides."""
    del message.headers["Content-Type"]
    charset, text = message.charset, message.text
    message.set_json({"charset": charset, "text": text})
    return message


async def aprocess(message: Message) -> Message:
    message.set_json({"thread": threading.current_thread().name})
    return message
'''

SLOW = """
import asyncio
import time


def hang(message):
    time.sleep(5)


async def ahang(message):
    await asyncio.sleep(5)


def wrong_type(message):
    return {"not": "a message"}


def bad_code(message):
    message.headers["CamelHttpResponseCode"] = "OK"


class Unprintable:
    def __str__(self):
        raise RuntimeError("no text for this value")


def unprintable_header(message):
    message.headers["X-Order"] = Unprintable()
"""


@pytest.fixture
async def running(workspace: Path) -> AsyncIterator[Running]:
    """The default workspace plus every example iFlow, an echo iFlow and misbehaving steps."""
    add_iflow(workspace, "jsonToXml", "/jsonToXml", [copy_example(workspace, "json_to_xml.py") + ":process"])
    add_iflow(workspace, "orders", "/orders", [copy_example(workspace, "accepted.py") + ":process"])
    add_iflow(
        workspace,
        "ordersWithHeader",
        "/ordersWithHeader",
        ["iflows/accepted.py:process"],
        allowed_headers=["X-Order-Id"],
    )
    failing = copy_example(workspace, "failing.py") + ":process"
    add_iflow(workspace, "failing", "/failing", [failing])
    add_iflow(workspace, "failingLoud", "/failingLoud", [failing], return_exception_to_sender=True)
    chain = copy_example(workspace, "chain.py")
    add_iflow(workspace, "chain", "/chain", [f"{chain}:parse", f"{chain}:enrich", f"{chain}:render"])
    add_iflow(
        workspace, "customer", "/customer", [copy_example(workspace, "async_lookup.py") + ":process"], timeout_s=5
    )
    echo = write_step(workspace, "echo.py", ECHO)
    add_iflow(workspace, "echo", "/echo/*", [f"{echo}:process"], allowed_headers=["X-Custom-.*", "X-Trace", "CamelFoo"])
    add_iflow(workspace, "echoAsync", "/echoAsync", [f"{echo}:aprocess"])
    add_iflow(workspace, "declared", "/declared", [f"{echo}:declared"])
    slow = write_step(workspace, "slow.py", SLOW)
    add_iflow(workspace, "hang", "/hang", [f"{slow}:hang"], timeout_s=0.3)
    add_iflow(workspace, "hangLoud", "/hangLoud", [f"{slow}:ahang"], timeout_s=0.3, return_exception_to_sender=True)
    add_iflow(workspace, "wrongType", "/wrongType", [f"{slow}:wrong_type"])
    add_iflow(workspace, "badCode", "/badCode", [f"{slow}:bad_code"])
    add_iflow(workspace, "unprintable", "/unprintable", [f"{slow}:unprintable_header"])
    async with serving(workspace) as r:
        yield r


@pytest.fixture
async def session(running: Running) -> AsyncIterator[Session]:
    async with running.session(running.extract("demo-sender")) as s:
        yield s


async def call(session: Session, running: Running, path: str, **kwargs: object) -> tuple[int, dict[str, str], bytes]:
    method = str(kwargs.pop("method", "POST"))
    async with session.request(method, running.url + "/http" + path, **kwargs) as response:  # type: ignore[arg-type]
        return response.status, dict(response.headers), await response.read()


async def record_of(running: Running, guid: str) -> MplRecord:
    journal = running.server.journal
    assert journal is not None
    await journal.aflush()
    rec = journal.get(guid)
    assert rec is not None, f"no MPL record {guid}"
    return rec


async def failed_record(running: Running, answer: tuple[int, dict[str, str], bytes]) -> MplRecord:
    """The MPL record of a call whose steps failed: a 500 with SAP's error template, status FAILED."""
    status, headers, body = answer
    assert status == 500
    guid = headers["SAP_MessageProcessingLogID"]
    assert body.decode() == error_template(guid)
    rec = await record_of(running, guid)
    assert rec.status == "FAILED"
    return rec


# --- the demo and the examples -------------------------------------------------------------------


async def test_demo_iflow_greets_the_certificate_caller(running: Running, session: Session) -> None:
    status, headers, body = await call(session, running, "/clientCertAuth", json={"name": "Ada"})
    assert status == 200
    guid = headers["SAP_MessageProcessingLogID"]
    text = body.decode()
    assert text.startswith("Hello Ada, cpimock received your message of 15 bytes (application/json).\n")
    assert "Caller: service key demo-sender, instance default, roles ESBMessaging.send" in text
    assert "Certificate: CN=demo-sender," in text
    assert f"Message processing log ID: {guid}" in text
    rec = await record_of(running, guid)
    assert (rec.status, rec.integration_flow_name, rec.service_key) == ("COMPLETED", "clientCertAuth", "demo-sender")
    assert rec.application_message_type == "Greeting"
    assert rec.custom_header_properties == [("greeted", "Ada")]


async def test_demo_iflow_answers_a_latin_1_request_in_utf_8_as_it_declares(running: Running, session: Session) -> None:
    body = '{"name": "Jürgen"}'.encode("iso-8859-1")
    headers = {"Content-Type": "application/json; charset=ISO-8859-1"}
    status, answer_headers, answer = await call(session, running, "/clientCertAuth", data=body, headers=headers)
    assert status == 200
    assert answer_headers["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.decode("utf-8").startswith("Hello Jürgen, cpimock received your message of 18 bytes")


async def test_demo_iflow_refuses_a_caller_without_certificate(running: Running) -> None:
    async with running.session() as anonymous:
        status, headers, body = await call(anonymous, running, "/clientCertAuth", json={"name": "Ada"})
    assert status == 401
    assert b"no certificate and no credentials" in body
    rec = await record_of(running, headers["Cpimock-Message-Id"])
    assert (rec.status, rec.refusal_stage) == ("FAILED", "auth")


async def test_json_to_xml_example(running: Running, session: Session) -> None:
    status, headers, body = await call(
        session, running, "/jsonToXml", json={"order": {"id": 42, "paid": True, "items": ["pen", "ink"]}}
    )
    assert status == 200
    assert headers["Content-Type"] == "application/xml; charset=utf-8"
    assert body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b"<order><id>42</id><paid>true</paid><items>pen</items><items>ink</items></order>"
    )


async def test_json_to_xml_example_fails_a_json_array(running: Running, session: Session) -> None:
    rec = await failed_record(running, await call(session, running, "/jsonToXml", json=[1, 2]))
    assert rec.error is not None
    assert "ValueError: expected a JSON object with a single root member" in rec.error
    assert rec.error_step == "iflows/json_to_xml.py:process"


async def test_accepted_example_answers_202_with_its_application_id(running: Running, session: Session) -> None:
    status, headers, body = await call(session, running, "/orders", json={"orderId": "4711"})
    assert status == 202
    assert json.loads(body) == {"status": "accepted", "orderId": "4711"}
    # exchange headers go back to the sender, as on CPI
    assert headers["SAP_ApplicationID"] == "4711"
    assert headers["SAP_MessageType"] == "OrderCreate"
    rec = await record_of(running, headers["SAP_MessageProcessingLogID"])
    assert (rec.status, rec.response_status) == ("COMPLETED", 202)
    assert (rec.application_message_id, rec.application_message_type) == ("4711", "OrderCreate")
    assert (rec.sender, rec.receiver, rec.custom_status) == ("demo-sender", "ERP", "Queued")
    assert rec.custom_header_properties == [("OrderId", "4711")]


async def test_a_request_header_reaches_the_step_only_when_allowed(running: Running, session: Session) -> None:
    headers = {"X-Order-Id": "A-1", "Content-Type": "text/plain"}
    _, allowed, body = await call(session, running, "/ordersWithHeader", data=b"x", headers=headers)
    assert allowed["SAP_ApplicationID"] == "A-1"
    assert json.loads(body)["orderId"] == "A-1"
    _, filtered, body = await call(session, running, "/orders", data=b"x", headers=headers)
    assert filtered["SAP_ApplicationID"] == "unknown"
    assert json.loads(body)["orderId"] is None


async def test_failing_example_gets_the_sap_error_template(running: Running, session: Session) -> None:
    status, headers, body = await call(session, running, "/failing", data=b"<order/>")
    assert status == 500
    guid = headers["SAP_MessageProcessingLogID"]
    assert body.decode() == (
        f"An internal server error occured: The MPL ID for the failed message is : {guid}\n"
        "For more details please check tail log."
    )
    assert headers["Content-Type"] == "text/plain;charset=utf-8"
    rec = await record_of(running, guid)
    assert rec.status == "FAILED"
    assert rec.error is not None
    assert "OrderRejected: order rejected: the payload failed validation" in rec.error
    assert [(a.name, a.data) for a in rec.attachments] == [("rejected payload", b"<order/>")]
    assert (rec.response_status, rec.response_body) == (500, body)


async def test_failing_example_returns_the_exception_when_configured(running: Running, session: Session) -> None:
    status, headers, body = await call(session, running, "/failingLoud", data=b"<order/>")
    assert status == 500
    guid = headers["SAP_MessageProcessingLogID"]
    assert body.decode() == (
        "An internal server error occured: order rejected: the payload failed validation\n"
        f"The MPL ID for the failed message is : {guid}"
    )
    assert (await record_of(running, guid)).status == "FAILED"


async def test_three_step_chain(running: Running, session: Session) -> None:
    status, headers, body = await call(
        session,
        running,
        "/chain",
        data=b"P-1,2\nP-2, 3\n",
        headers={"Content-Type": "text/csv", "SAP_MessageProcessingLogLevel": "DEBUG"},
    )
    assert status == 200
    assert json.loads(body) == {"lines": [{"sku": "P-1", "qty": 2}, {"sku": "P-2", "qty": 3}], "total": 5}
    assert headers["Content-Type"].startswith("application/json")
    rec = await record_of(running, headers["SAP_MessageProcessingLogID"])
    assert rec.status == "COMPLETED"
    # message.log.set_property reaches the MPL at log level DEBUG, as setStringProperty does on CPI
    assert (rec.log_level, rec.log_properties) == ("DEBUG", [("lineCount", "2")])


async def test_three_step_chain_fails_in_its_first_step(running: Running, session: Session) -> None:
    rec = await failed_record(running, await call(session, running, "/chain", data=b"P-1,two\n"))
    assert rec.error_step == "iflows/chain.py:parse"


async def test_async_step_runs_on_the_loop_and_sync_step_on_a_worker(running: Running, session: Session) -> None:
    status, _, body = await call(session, running, "/customer", data=b"C001")
    assert (status, json.loads(body)) == (200, {"id": "C001", "name": "Ada Lovelace"})
    _, _, body = await call(session, running, "/echoAsync", data=b"")
    assert json.loads(body)["thread"] == "MainThread"
    _, _, body = await call(session, running, "/echo/x", data=b"")
    assert json.loads(body)["thread"] == "cpimock-step"


async def test_async_example_answers_404_for_an_unknown_customer(running: Running, session: Session) -> None:
    status, headers, body = await call(session, running, "/customer", data=b"C999")
    assert (status, body) == (404, b"no customer 'C999'\n")
    # a 404 the step chose is a completed message, not a routing refusal
    rec = await record_of(running, headers["SAP_MessageProcessingLogID"])
    assert (rec.status, rec.refusal_stage, rec.response_status) == ("COMPLETED", None, 404)


# --- failures that must not harm the server -------------------------------------------------------


async def test_a_hanging_sync_step_times_out_and_others_are_served(running: Running, session: Session) -> None:
    hang = asyncio.ensure_future(call(session, running, "/hang", data=b""))
    # served while the hanging step holds its thread
    status, _, _ = await call(session, running, "/clientCertAuth", data=b"Grace")
    assert status == 200
    rec = await failed_record(running, await hang)
    assert rec.error == "step 'iflows/slow.py:hang' ran past the iFlow's timeout of 0.3 s"


async def test_an_async_timeout_is_returned_to_the_sender_when_configured(running: Running, session: Session) -> None:
    status, headers, body = await call(session, running, "/hangLoud", data=b"")
    assert status == 500
    guid = headers["SAP_MessageProcessingLogID"]
    assert body.decode() == (
        "An internal server error occured: step 'iflows/slow.py:ahang' ran past the iFlow's "
        f"timeout of 0.3 s\nThe MPL ID for the failed message is : {guid}"
    )
    assert (await record_of(running, guid)).status == "FAILED"


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/wrongType", "step 'iflows/slow.py:wrong_type' returned dict; return the Message or None"),
        ("/badCode", "CamelHttpResponseCode must be a number from 200 to 599, got 'OK'"),
        ("/unprintable", "the answer the steps left cannot be sent: no text for this value"),
    ],
)
async def test_a_step_leaving_no_valid_answer_fails_the_message(
    running: Running, session: Session, path: str, error: str
) -> None:
    rec = await failed_record(running, await call(session, running, path, data=b""))
    assert rec.error == error


# --- what the step sees ---------------------------------------------------------------------------


async def test_the_step_sees_cpis_headers_and_the_caller(running: Running, session: Session) -> None:
    status, headers, body = await call(
        session,
        running,
        "/Echo/orders/4711?X-Trace=q&other=1",
        data=b"{}",
        headers={
            "Content-Type": "application/json",
            "X-Custom-Color": "blue",
            "X-Trace": "h",
            "X-Other": "no",
            "CamelHttpMethod": "DELETE",
            "CamelFoo": "x",
            "SAP_ApplicationID": "not-allowed",
        },
    )
    assert status == 200
    seen = json.loads(body)
    h = seen["headers"]
    guid = headers["SAP_MessageProcessingLogID"]
    assert h["CamelHttpMethod"] == "POST"
    assert h["CamelHttpUrl"] == f"{running.url}/http/Echo/orders/4711"
    assert h["CamelHttpQuery"] == "X-Trace=q&other=1"
    assert h["CamelHttpPath"] == "orders/4711"
    assert h["CamelServletContextPath"] == "/echo/*"
    assert h["SAP_MessageProcessingLogID"] == guid
    assert h["SapAuthenticatedUserName"].startswith("sb-")
    assert h["Content-Type"] == "application/json"
    assert h["X-Custom-Color"] == "blue"
    assert h["X-Trace"] == "h,q"  # the query parameter is appended to the header of the same name
    for dropped in ("X-Other", "other", "CamelFoo", "SAP_ApplicationID", "User-Agent", "Host", "Authorization"):
        assert dropped not in h
    props = seen["properties"]
    assert props["SAP_MessageProcessingLogID"] == guid
    assert props["CpimockAuthMethod"] == "certificate"
    assert props["CpimockServiceKey"] == "demo-sender"
    assert props["CpimockServiceInstance"] == "default"
    assert props["CpimockRoles"] == ["ESBMessaging.send"]
    assert props["CpimockCertificateSubject"].startswith("CN=demo-sender,")
    assert props["CpimockCertificateSerial"].startswith("0x")
    assert props["CpimockCertificateFingerprint"].count(":") == 31


@pytest.mark.parametrize(
    ("content_type", "body", "charset"),
    [
        ("text/plain; Charset=ISO-8859-1", "Grüße".encode("iso-8859-1"), "iso-8859-1"),
        ('text/plain; format=flowed; charset="windows-1252"', "Grüße".encode("cp1252"), "windows-1252"),
        ("text/plain", "Grüße".encode(), "utf-8"),  # none declared: UTF-8
    ],
)
async def test_the_charset_the_request_declared_decodes_the_body(
    running: Running, session: Session, content_type: str, body: bytes, charset: str
) -> None:
    status, _, answer = await call(session, running, "/declared", data=body, headers={"Content-Type": content_type})
    assert status == 200
    seen = json.loads(answer)
    assert (seen["charset"].lower(), seen["text"]) == (charset, "Grüße")


async def test_a_non_wildcard_address_gives_an_empty_path_and_no_query(running: Running, session: Session) -> None:
    _, _, body = await call(session, running, "/echo", data=b"")
    h = json.loads(body)["headers"]
    # /echo/* called as /echo: nothing after the prefix
    assert (h["CamelHttpPath"], h["CamelHttpQuery"]) == ("", None)
    async with running.session(running.extract("demo-sender")) as other:
        status, _, _ = await call(other, running, "/echoes", data=b"")
    assert status == 404


# --- hot reload ----------------------------------------------------------------------------------


def _rewrite(path: Path, source: str, generation: int) -> None:
    path.write_text(source, encoding="utf-8")
    # a distinct mtime even on file systems with coarse timestamps
    stamp = 1_700_000_000_000_000_000 + generation * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


async def test_a_changed_step_file_is_used_by_the_next_request(
    running: Running, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    step = running.root / "iflows" / "live.py"
    _rewrite(step, "def process(message):\n    message.body = 'version 1'\n", 1)
    add_iflow(running.root, "live", "/live", ["iflows/live.py:process"])
    await running.reload()
    assert (await call(session, running, "/live", data=b""))[2] == b"version 1"

    _rewrite(step, "def process(message):\n    message.body = 'version 2, longer'\n", 2)
    assert (await call(session, running, "/live", data=b""))[2] == b"version 2, longer"

    caplog.set_level(logging.WARNING, logger="cpimock.steps")
    _rewrite(step, "def process(message:\n    message.body = 'broken'\n", 3)
    status, _, body = await call(session, running, "/live", data=b"")
    assert (status, body) == (200, b"version 2, longer")  # the old code is kept
    assert any(
        "iflows/live.py: importing the file failed: SyntaxError" in r.getMessage()
        and "keeping the code loaded before" in r.getMessage()
        for r in caplog.records
    )

    _rewrite(step, "def process(message):\n    message.body = 'version 3'\n", 4)
    assert (await call(session, running, "/live", data=b""))[2] == b"version 3"


async def test_a_step_file_broken_from_the_start_fails_its_messages(running: Running, session: Session) -> None:
    step = running.root / "iflows" / "broken.py"
    _rewrite(step, "import no_such_module_here\n", 1)
    add_iflow(running.root, "broken", "/broken", ["iflows/broken.py:process"])
    await running.reload()
    rec = await failed_record(running, await call(session, running, "/broken", data=b""))
    assert rec.error is not None
    assert "No module named 'no_such_module_here'" in rec.error
    # fixed while running: picked up by the next request
    _rewrite(step, "def process(message):\n    message.body = 'fixed'\n", 2)
    assert (await call(session, running, "/broken", data=b""))[:3:2] == (200, b"fixed")
