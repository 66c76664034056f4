"""SOAP (SAP RM) served at /cxf/: exactly-once delivery by the sender's message id, over real TLS.

The calls are shaped as an S/4 ABAP proxy sends them through a SOAMANAGER logical port with
SAP RM: one-way SOAP 1.1 with the SAP ``messageId`` header.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lxml import etree

from cpimock.adapters.processing import DUPLICATE
from cpimock.adapters.soap.protocol import SOAP11_ENVELOPE
from cpimock.errors import CpimockError
from cpimock.http.server import Server
from cpimock.mpl.delivered import DeliveredIds
from cpimock.mpl.journal import MplRecord
from tests.e2e_support import add_iflow, write_step
from tests.serving import Running, serving

SAP_NS = "http://www.sap.com/webas/640/soap/features/messageId/"
GUID = "00163ec1-abf4-1eeb-acbf-25ab61ffa285"
SAMPLES = Path(__file__).parent / "samples"

STEPS = """
import asyncio

from tests.adapters import rm_gate


def record(message):
    for name in ("SapMessageIdEx", "SapMessageId", "SapPlainSoapQoS", "SapPlainSoapQueueId"):
        if message.headers.get(name) is not None:
            message.log.add_custom_header(name, message.headers[name])
    message.log.add_custom_header("ran", "yes")
    if b"fail" in message.body and not rm_gate.healed.is_set():
        raise ValueError("the receiver is down")
    return message


async def gated(message):
    rm_gate.entered.set()
    await asyncio.to_thread(rm_gate.opened.wait, 30)
    message.log.add_custom_header("ran", "yes")
    return message
"""


def proxy_call(header: str | None = f"uuid:{GUID}", text: str = "4711") -> bytes:
    sap = f'<msgID:messageId xmlns:msgID="{SAP_NS}">{header}</msgID:messageId>' if header else ""
    return (
        f'<soap-env:Envelope xmlns:soap-env="{SOAP11_ENVELOPE}"><soap-env:Header>{sap}</soap-env:Header>'
        '<soap-env:Body><n0:DeliveryRequest xmlns:n0="http://sap.com/xi/SAPGlobal20/Global">'
        f"<ID>{text}</ID></n0:DeliveryRequest></soap-env:Body></soap-env:Envelope>"
    ).encode()


@pytest.fixture
def rm_workspace(workspace: Path) -> Path:
    from tests.adapters import rm_gate

    rm_gate.reset()
    steps = write_step(workspace, "rm_steps.py", STEPS)
    add_iflow(workspace, "delivery", "/rm/delivery", [f"{steps}:record"], adapter="soap-rm")
    add_iflow(workspace, "gated", "/rm/gated", [f"{steps}:gated"], adapter="soap-rm")
    add_iflow(workspace, "again", "/rm/again", [f"{steps}:record"], adapter="soap-rm", duplicates="process")
    return workspace


@pytest.fixture
async def running(rm_workspace: Path) -> AsyncIterator[Running]:
    async with serving(rm_workspace, client_auth="required") as r:
        yield r


async def send(running: Running, path: str, body: bytes, query: str = "") -> tuple[int, bytes]:
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"http://sap.com/xi/WebService/soap1.1"'}
    async with running.session(running.extract("demo-sender")) as session:
        async with session.post(f"{running.url}{path}{query}", data=body, headers=headers) as answer:
            return answer.status, await answer.read()


def ran(running: Running, rec: MplRecord) -> bool:
    journal = running.server.journal
    assert journal is not None
    full = journal.get(rec.message_guid)
    assert full is not None
    return ("ran", "yes") in full.custom_header_properties


async def test_an_abap_proxy_call_is_acknowledged_and_its_message_id_reaches_the_steps(running: Running) -> None:
    assert await send(running, "/cxf/rm/delivery", proxy_call()) == (202, b"")
    [record] = await running.records()
    journal = running.server.journal
    assert journal is not None
    full = journal.get(record.message_guid)
    assert full is not None
    assert full.custom_header_properties == [
        ("SapMessageIdEx", GUID),
        ("SapMessageId", GUID),
        ("SapPlainSoapQoS", "ExactlyOnce"),
        ("ran", "yes"),
    ]
    assert (record.status, record.application_message_id) == ("COMPLETED", GUID)


async def test_a_copy_of_a_delivered_message_is_acknowledged_without_running_the_steps(running: Running) -> None:
    assert (await send(running, "/cxf/rm/delivery", proxy_call()))[0] == 202
    # the same id spelt as another stack spells it
    assert (await send(running, "/cxf/rm/delivery", proxy_call(f"urn:uuid:{GUID.upper()}")))[0] == 202
    first, copy = await running.records()
    assert ran(running, first)
    assert not ran(running, copy)
    assert (copy.status, copy.custom_status, copy.response_status) == ("COMPLETED", DUPLICATE, 202)
    full = running.server.journal.get(copy.message_guid) if running.server.journal else None
    assert full is not None
    assert ("DuplicateOf", first.message_guid) in full.custom_header_properties


async def test_another_message_id_is_another_message(running: Running) -> None:
    other = "00163ec1-abf4-1eeb-acbf-25ab61ffa286"
    await send(running, "/cxf/rm/delivery", proxy_call())
    await send(running, "/cxf/rm/delivery", proxy_call(f"uuid:{other}"))
    assert [ran(running, r) for r in await running.records()] == [True, True]


async def test_the_same_id_for_another_iflow_is_another_message(running: Running) -> None:
    await send(running, "/cxf/rm/delivery", proxy_call())
    await send(running, "/cxf/rm/again", proxy_call())
    assert [ran(running, r) for r in await running.records()] == [True, True]


async def test_copies_arriving_together_run_the_steps_once(running: Running) -> None:
    from tests.adapters import rm_gate

    calls = [asyncio.create_task(send(running, "/cxf/rm/gated", proxy_call())) for _ in range(4)]
    await asyncio.to_thread(rm_gate.entered.wait, 30)
    rm_gate.opened.set()
    assert [status for status, _ in await asyncio.gather(*calls)] == [202] * 4
    records = await running.records()
    assert len(records) == 4
    assert sum(ran(running, r) for r in records) == 1
    assert sorted(r.custom_status or "" for r in records) == ["COMPLETED", DUPLICATE, DUPLICATE, DUPLICATE]


async def test_a_failed_message_runs_again_when_the_sender_retries(running: Running) -> None:
    from tests.adapters import rm_gate

    status, body = await send(running, "/cxf/rm/delivery", proxy_call(text="fail"))
    assert status == 500  # robust: the sender learns of the failure and retries
    assert etree.fromstring(body).findtext(".//faultcode") == "soap:Server"
    rm_gate.healed.set()
    assert (await send(running, "/cxf/rm/delivery", proxy_call(text="fail")))[0] == 202
    assert (await send(running, "/cxf/rm/delivery", proxy_call(text="fail")))[0] == 202
    failed, retried, copy = await running.records()
    assert (failed.status, retried.status, copy.custom_status) == ("FAILED", "COMPLETED", DUPLICATE)
    assert [ran(running, r) for r in (failed, retried, copy)] == [True, True, False]


async def test_duplicates_process_leaves_copies_to_the_steps_as_cpi_does(running: Running) -> None:
    await send(running, "/cxf/rm/again", proxy_call())
    await send(running, "/cxf/rm/again", proxy_call())
    assert [ran(running, r) for r in await running.records()] == [True, True]


async def test_delivered_ids_survive_a_restart(rm_workspace: Path) -> None:
    async with serving(rm_workspace, client_auth="required") as first:
        assert (await send(first, "/cxf/rm/delivery", proxy_call()))[0] == 202
    async with serving(rm_workspace, client_auth="required") as second:
        assert (await send(second, "/cxf/rm/delivery", proxy_call()))[0] == 202
        assert [r.custom_status for r in await second.records()][-1] == DUPLICATE


async def test_the_query_string_may_carry_the_id_and_exactly_once_in_order(running: Running) -> None:
    query = f"?MessageId={GUID}&QualityOfService=ExactlyOnceInOrder&QueueId=DLV_Q1"
    assert (await send(running, "/cxf/rm/delivery", proxy_call(None), query))[0] == 202
    [record] = await running.records()
    full = running.server.journal.get(record.message_guid) if running.server.journal else None
    assert full is not None
    assert ("SapPlainSoapQoS", "ExactlyOnceInOrder") in full.custom_header_properties
    assert ("SapPlainSoapQueueId", "DLV_Q1") in full.custom_header_properties


@pytest.mark.parametrize(
    ("body", "query", "said"),
    [
        (proxy_call(None), "", "the SOAP (SAP RM) request has no message id"),
        (proxy_call("uuid:not a guid"), "", "is not a message id"),
        (proxy_call(), "?MessageId=00163ec1-abf4-1eeb-acbf-25ab61ffa299", "differ; send one message id"),
        (proxy_call(), "?QualityOfService=BestEffort", "is not one SAP RM knows"),
    ],
)
async def test_a_message_without_a_readable_id_is_a_client_fault(
    running: Running, body: bytes, query: str, said: str
) -> None:
    status, answer = await send(running, "/cxf/rm/delivery", body, query)
    assert status == 500
    root = etree.fromstring(answer)
    assert root.findtext(".//faultcode") == "soap:Client"
    assert said in (root.findtext(".//faultstring") or "")
    [record] = await running.records()
    assert (record.refusal_stage, record.application_message_id) == ("processing", None)


async def test_a_soap_rm_channel_with_a_request_reply_wsdl_is_refused_at_start(workspace: Path) -> None:
    (workspace / "iflows" / "OrderService.wsdl").write_bytes((SAMPLES / "OrderService.wsdl").read_bytes())
    add_iflow(workspace, "rm", "/rm", [], adapter="soap-rm", wsdl="iflows/OrderService.wsdl")
    with pytest.raises(CpimockError, match=r"one-way WSDLs only; operation 'CreateOrder' has an output"):
        async with Server(workspace, port=0, watch=False):
            pass


# -- the store of delivered ids ---------------------------------------------------------------------


def test_an_id_is_claimed_once_delivered_or_released(tmp_path: Path) -> None:
    ids = DeliveredIds.open(tmp_path / "cpimock.db")
    assert ids.claim("flow", "m1", "g1").state == "new"
    assert (ids.claim("flow", "m1", "g2").state, ids.claim("flow", "m1", "g2").guid) == ("busy", "g1")
    ids.release("flow", "m1", "g1")
    assert ids.claim("flow", "m1", "g3").state == "new"
    ids.delivered("flow", "m1", "g3")
    assert (ids.claim("flow", "m1", "g4").state, ids.claim("flow", "m1", "g4").guid) == ("delivered", "g3")
    assert ids.claim("other-flow", "m1", "g5").state == "new"
    ids.close()
    assert DeliveredIds.open(tmp_path / "cpimock.db").claim("flow", "m1", "g6").state == "delivered"


def test_the_claim_of_a_process_that_is_gone_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "cpimock.db"
    script = "from pathlib import Path; from cpimock.mpl.delivered import DeliveredIds; import sys\n"
    script += "print(DeliveredIds.open(Path(sys.argv[1])).claim('flow', 'm1', 'g-dead').state)"
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "new"  # that process claimed it and exited without delivering
    assert DeliveredIds.open(path).claim("flow", "m1", "g-next").state == "new"


def test_a_leftover_claim_under_this_processs_pid_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "cpimock.db"
    DeliveredIds.open(path).close()
    with sqlite3.connect(path) as conn:  # what an earlier process with our pid left behind
        conn.execute("INSERT INTO delivered VALUES ('flow', 'm1', 'g-before-restart', 'claimed', ?, 0)", (os.getpid(),))
    conn.close()
    assert DeliveredIds.open(path).claim("flow", "m1", "g-now").state == "new"


def test_two_workers_claiming_one_id_together_get_it_once(tmp_path: Path) -> None:
    path = tmp_path / "cpimock.db"
    DeliveredIds.open(path).close()
    workers = [DeliveredIds.open(path) for _ in range(6)]
    start = threading.Barrier(len(workers))
    outcomes: list[str] = []

    def claim(ids: DeliveredIds, n: int) -> None:
        start.wait()
        outcomes.append(ids.claim("flow", "m1", f"g{n}").state)

    threads = [threading.Thread(target=claim, args=(ids, n)) for n, ids in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["busy"] * 5 + ["new"]


def test_without_a_message_log_the_ids_live_in_memory() -> None:
    ids = DeliveredIds.open(None)
    assert ids.claim("flow", "m1", "g1").state == "new"
    ids.delivered("flow", "m1", "g1")
    assert ids.claim("flow", "m1", "g2").state == "delivered"
    assert DeliveredIds.open(None).claim("flow", "m1", "g3").state == "new"  # each store its own
