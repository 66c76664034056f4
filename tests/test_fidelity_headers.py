"""Headers and CSRF as a real tenant has them: what the load balancer and the runtime set, what
they drop, and what a sender gets back. Real mTLS calls against a server on port 0.

Sources (SAP Help, by title; the rows of docs/fidelity.md name them too): HTTPS Sender Adapter
(loio 0ae4a78909c4479cbc3cc414250919de), Headers and Exchange Properties Provided by the
Integration Framework (d0fcb0988f034e889f611c6e36d43ad5), Specify the Runtime Configuration
(0c1c96e50ff340869090469d260976f3).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given
from hypothesis import strategies as st

from cpimock.http.response_headers import correlation_id as request_correlation_id
from cpimock.mpl.sender_ids import SenderIdError, UsedIds, correlation_id, mpl_id
from tests.e2e_support import add_iflow, issue_secret_key, write_step
from tests.serving import Running, serving

# a step that answers with the headers it was given, and counts its runs
DUMP = """
import json
from pathlib import Path

def process(message):
    with Path(__file__).with_name("runs.txt").open("a") as out:
        out.write(message.headers.get("CamelServletContextPath", "?") + "\\n")
    message.body = json.dumps({name: str(value) for name, value in message.headers.items()})
    return message
"""

FAIL = """
def process(message):
    raise RuntimeError("no such order")
"""
BRAND = """
def process(message):
    message.headers["Server"] = "OrderService/2.1"
    message.headers["X-CorrelationID"] = "set-by-the-step"
    return message
"""


@pytest.fixture
async def running(workspace: Path) -> AsyncIterator[Running]:
    step = write_step(workspace, "dump.py", DUMP) + ":process"
    add_iflow(workspace, "Orders", "/orders", [step], csrf=True)
    add_iflow(workspace, "Invoices", "/invoices", [step], csrf=True)
    add_iflow(workspace, "Open", "/open", [step], allowed_headers=["*"])
    add_iflow(workspace, "Listed", "/listed", [step], allowed_headers=["SSL_CLIENT_CERT", "X-Other"])
    add_iflow(workspace, "Failing", "/failing", [write_step(workspace, "fail.py", FAIL) + ":process"])
    add_iflow(workspace, "Branded", "/branded", [write_step(workspace, "brand.py", BRAND) + ":process"])
    issue_secret_key(workspace, "secret-sender")
    async with serving(workspace) as r:
        yield r


def runs(running: Running) -> list[str]:
    marker = running.root / "iflows" / "runs.txt"
    return marker.read_text().split() if marker.exists() else []


def session(running: Running) -> aiohttp.ClientSession:
    return running.session(running.extract("demo-sender"), cookie_jar=aiohttp.CookieJar(unsafe=True))


async def fetch_token(http: aiohttp.ClientSession, url: str, method: str = "GET") -> str:
    async with http.request(method, url, headers={"X-CSRF-Token": "Fetch"}) as fetched:
        assert fetched.status == 200
        return fetched.headers["X-CSRF-Token"]


def secret_auth(running: Running) -> str:
    key = json.loads((running.root / "certs" / "keys" / "secret-sender.json").read_text())["oauth"]
    return "Basic " + base64.b64encode(f"{key['clientid']}:{key['clientsecret']}".encode()).decode()


# --- CSRF ------------------------------------------------------------------------------------------


async def test_a_csrf_token_works_on_the_iflow_it_was_fetched_on(running: Running) -> None:
    """HTTPS Sender Adapter: a token fetched with X-CSRF-Token: Fetch goes with the modifying call."""
    url = f"{running.url}/http/orders"
    async with session(running) as http:
        token = await fetch_token(http, url)
        async with http.post(url, data=b"<order/>", headers={"X-CSRF-Token": token}) as served:
            assert served.status == 200
    assert runs(running) == ["/orders"]


async def test_a_csrf_token_of_another_iflow_is_refused(running: Running) -> None:
    """CPI keeps CSRF tokens per integration flow: Orders' token does not open Invoices."""
    async with session(running) as http:
        token = await fetch_token(http, f"{running.url}/http/orders")
        url = f"{running.url}/http/invoices"
        async with http.post(url, data=b"<invoice/>", headers={"X-CSRF-Token": token}) as refused:
            assert refused.status == 403
            assert refused.headers["X-CSRF-Token"] == "Required"
            assert "bound to another integration flow" in await refused.text()
        assert runs(running) == []
        # the twin: a token fetched on Invoices itself
        token = await fetch_token(http, url)
        async with http.post(url, data=b"<invoice/>", headers={"X-CSRF-Token": token}) as served:
            assert served.status == 200
    assert runs(running) == ["/invoices"]
    records = await running.records()
    assert [(r.integration_flow_name, r.response_status) for r in records] == [("Invoices", 403), ("Invoices", 200)]


async def test_an_options_token_fetch_runs_nothing_and_leaves_no_message(running: Running) -> None:
    """HTTPS Sender Adapter: a fetch "returns the token and stops", the iFlow is not run, so CPI
    has no message processing log for it; OPTIONS fetches as GET and HEAD do."""
    url = f"{running.url}/http/orders"
    async with session(running) as http:
        token = await fetch_token(http, url, "OPTIONS")
        assert runs(running) == []
        assert await running.records() == []
        # the twin: an OPTIONS without Fetch is a call like any other, and needs a token
        async with http.options(url) as refused:
            assert refused.status == 403
        async with http.options(url, headers={"X-CSRF-Token": token}) as served:
            assert served.status == 200
    assert runs(running) == ["/orders"]
    assert [r.response_status for r in await running.records()] == [403, 200]


# --- SSL_CLIENT_CERT -------------------------------------------------------------------------------


def leaf_base64(running: Running) -> str:
    leaf = x509.load_pem_x509_certificates(running.extract("demo-sender").cert.read_bytes())[0]
    return base64.b64encode(leaf.public_bytes(Encoding.DER)).decode("ascii")


async def step_headers(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> dict[str, str]:
    async with http.get(url, **kwargs) as served:
        assert served.status == 200, await served.text()
        headers: dict[str, str] = json.loads(await served.text())
        return headers


@pytest.mark.parametrize("address", ["/open", "/listed"])
async def test_ssl_client_cert_is_the_verified_certificate_not_the_senders(running: Running, address: str) -> None:
    """Specify the Runtime Configuration: the load balancer's SSL_CLIENT_CERT (the caller's
    certificate, Base64) reaches the iFlow when Allowed Header(s) lets it through. A sender's own
    header or query parameter of that name is dropped: it would pass for the load balancer's."""
    forged = base64.b64encode(b"not the caller's certificate").decode()
    url = f"{running.url}/http{address}?SSL_CLIENT_CERT={forged}"
    async with session(running) as http:
        seen = await step_headers(http, url, headers={"SSL_CLIENT_CERT": forged, "SSL_CLIENT_USER": "admin"})
    assert seen["SSL_CLIENT_CERT"] == leaf_base64(running)
    assert "SSL_CLIENT_USER" not in seen
    x509.load_der_x509_certificate(base64.b64decode(seen["SSL_CLIENT_CERT"]))  # a certificate indeed


async def test_ssl_client_cert_is_absent_for_basic_callers_and_unlisted_headers(running: Running) -> None:
    """No certificate authenticated the call, or Allowed Header(s) does not list the header: the
    step sees no SSL_CLIENT_CERT, and a sender's own does not stand in for it."""
    forged = {"SSL_CLIENT_CERT": base64.b64encode(b"forged").decode()}
    async with running.session() as http:
        basic = {"Authorization": secret_auth(running), **forged}
        seen = await step_headers(http, f"{running.url}/http/open", headers=basic)
    assert seen["CamelHttpMethod"] == "GET"
    assert "SSL_CLIENT_CERT" not in seen
    async with session(running) as http:
        seen = await step_headers(http, f"{running.url}/http/orders", headers=forged)
    assert "SSL_CLIENT_CERT" not in seen


# --- what every answer carries ----------------------------------------------------------------------


async def answers_of_every_kind(running: Running, sent: dict[str, str]) -> dict[str, Any]:
    """One answer of each kind the server gives, as (status, headers)."""
    seen: dict[str, Any] = {}
    async with session(running) as http:
        for name, method, path in (
            ("iflow 200", "GET", "/http/open"),
            ("iflow 403 (CSRF)", "POST", "/http/orders"),
            ("iflow 404", "GET", "/http/nowhere"),
            ("iflow 500", "GET", "/http/failing"),
            ("unrouted 404", "GET", "/nothing/here"),
            ("OData API", "GET", "/api/v1/MessageProcessingLogs?$top=1"),
            ("OData 400", "GET", "/api/v1/MessageProcessingLogs?$top=x"),
            ("monitor", "GET", "/monitor"),
            ("index", "GET", "/"),
        ):
            async with http.request(method, running.url + path, headers=sent) as answer:
                seen[name] = (answer.status, answer.headers)
    async with running.session() as http:
        async with http.get(f"{running.url}/http/open", headers=sent) as answer:
            seen["iflow 401"] = (answer.status, answer.headers)
        form = {"grant_type": "client_credentials"}
        async with http.post(
            f"{running.url}/oauth/token", data=form, headers={"Authorization": secret_auth(running), **sent}
        ) as answer:
            seen["token endpoint"] = (answer.status, answer.headers)
    return seen


async def test_no_answer_names_the_server_software(running: Running) -> None:
    """A tenant's answers do not say what serves them; aiohttp's Server header gave the mock away."""
    seen = await answers_of_every_kind(running, {})
    statuses = {name: status for name, (status, _) in seen.items()}
    assert statuses == {
        "iflow 200": 200,
        "iflow 403 (CSRF)": 403,
        "iflow 404": 404,
        "iflow 500": 500,
        "unrouted 404": 404,
        "OData API": 200,
        "OData 400": 400,
        "monitor": 200,
        "index": 200,
        "iflow 401": 401,
        "token endpoint": 200,
    }
    for name, (_, headers) in seen.items():
        assert "Server" not in headers, name
        assert uuid.UUID(headers["X-CorrelationID"]), name
    assert len({headers["X-CorrelationID"] for _, headers in seen.values()}) == len(seen)


async def test_a_steps_own_server_and_correlation_headers_go_out(running: Running) -> None:
    """The twin: on CPI every exchange header goes back to the sender, a step's Server too."""
    async with session(running) as http, http.get(f"{running.url}/http/branded") as answer:
        assert answer.status == 204
        assert answer.headers.getall("Server") == ["OrderService/2.1"]
        assert answer.headers.getall("X-CorrelationID") == ["set-by-the-step"]


async def test_a_request_aiohttp_cannot_parse_gets_no_server_header(running: Running) -> None:
    files = running.extract("demo-sender")
    context = running.context(files)

    def send() -> bytes:
        with socket.create_connection(("127.0.0.1", running.server.port)) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /http/open HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n")
                received = b""
                while chunk := tls.recv(4096):
                    received += chunk
                return received

    head = (await asyncio.to_thread(send)).split(b"\r\n\r\n", 1)[0].decode()
    assert head.split("\r\n")[0].endswith(" 400 Bad Request")
    assert "\r\nserver:" not in head.lower()
    assert "\r\nx-correlationid:" in head.lower()


async def test_the_senders_correlation_id_comes_back(running: Running) -> None:
    """SAP's request correlation: a sender's X-CorrelationID is the answer's, on every answer."""
    seen = await answers_of_every_kind(running, {"X-CorrelationID": "ORDER-4711"})
    for name, (_, headers) in seen.items():
        assert headers.getall("X-CorrelationID") == ["ORDER-4711"], name


@given(st.text(max_size=200))
def test_a_correlation_id_is_echoed_only_when_it_is_a_plain_id(sent: str) -> None:
    answered = request_correlation_id(sent)
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", sent):
        assert answered == sent
    else:
        assert str(uuid.UUID(answered)) == answered


# --- the ids a sender chooses -------------------------------------------------------------------------


def b64_uuid(value: uuid.UUID, *, urlsafe: bool, padded: bool) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    text = encode(value.bytes).decode("ascii")
    return text if padded else text.rstrip("=")


async def odata_message(http: aiohttp.ClientSession, running: Running, guid: str) -> dict[str, Any]:
    params = {"$filter": f"MessageGuid eq '{guid}'", "$format": "json"}
    async with http.get(f"{running.url}/api/v1/MessageProcessingLogs", params=params) as answer:
        assert answer.status == 200
        [entity] = (await answer.json())["d"]["results"]
        return entity  # type: ignore[no-any-return]


@pytest.mark.parametrize(("urlsafe", "padded"), [(True, False), (False, True), (True, True)])
async def test_a_pregenerated_mpl_id_is_the_messages_id(running: Running, urlsafe: bool, padded: bool) -> None:
    """Headers and Exchange Properties Provided by the Integration Framework: SAP_PregeneratedMplId,
    a Base64-encoded UUID, is used as the MPL id. The step, the answer and the OData API know the
    message by it; a sender's SAP_MplCorrelationId is its CorrelationId, and comes back."""
    guid = b64_uuid(uuid.uuid4(), urlsafe=urlsafe, padded=padded)
    sent = {"SAP_PregeneratedMplId": guid, "SAP_MplCorrelationId": "S4-ORDER-4711"}
    async with session(running) as http:
        async with http.get(f"{running.url}/http/open", headers=sent) as answer:
            assert answer.status == 200
            assert answer.headers["SAP_MessageProcessingLogID"] == guid
            assert answer.headers["SAP_MplCorrelationId"] == "S4-ORDER-4711"
            seen = json.loads(await answer.text())
        assert (seen["SAP_MessageProcessingLogID"], seen["SAP_MplCorrelationId"]) == (guid, "S4-ORDER-4711")
        await running.records()  # written
        entity = await odata_message(http, running, guid)
    assert (entity["MessageGuid"], entity["CorrelationId"], entity["Status"]) == (guid, "S4-ORDER-4711", "COMPLETED")


async def test_without_ids_of_its_own_a_message_gets_cpis(running: Running) -> None:
    async with session(running) as http, http.get(f"{running.url}/http/open") as answer:
        guid = answer.headers["SAP_MessageProcessingLogID"]
        correlation = answer.headers["SAP_MplCorrelationId"]
    assert re.fullmatch(r"AG[A-Za-z0-9_-]{26}", guid)
    assert re.fullmatch(r"AG[A-Za-z0-9_-]{26}", correlation)
    assert guid != correlation


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({"SAP_PregeneratedMplId": "order-4711"}, 400, "is not a Base64-encoded UUID"),
        ({"SAP_PregeneratedMplId": str(uuid.uuid4())}, 400, "is not a Base64-encoded UUID"),
        ({"SAP_PregeneratedMplId": "AAAAAAAAAAAAAAAAAAAAAB"}, 400, "is not a Base64-encoded UUID"),  # bits past 128
        ({"SAP_MplCorrelationId": "order 4711"}, 400, "is not a correlation id"),
        ({"SAP_MplCorrelationId": "x" * 129}, 400, "is not a correlation id"),
    ],
)
async def test_ids_that_cannot_name_a_message_are_refused(
    running: Running, headers: dict[str, str], status: int, reason: str
) -> None:
    """Failing closed: an id the sender could not find its message by is refused, and the steps do not run."""
    async with session(running) as http, http.get(f"{running.url}/http/open", headers=headers) as refused:
        assert refused.status == status
        assert reason in await refused.text()
    assert runs(running) == []
    [rec] = await running.records()
    assert (rec.refusal_stage, rec.response_status) == ("http", status)
    assert rec.message_guid != headers.get("SAP_PregeneratedMplId")


async def test_a_pregenerated_id_names_one_message_only(running: Running) -> None:
    """A second message under the id of the first would be lost: it is refused with 409, also
    after the first one reached the store; a header sent twice is refused too."""
    guid = b64_uuid(uuid.uuid4(), urlsafe=True, padded=False)
    url = f"{running.url}/http/open"
    async with session(running) as http:
        async with http.get(url, headers={"SAP_PregeneratedMplId": guid}) as first:
            assert first.status == 200
        async with http.get(url, headers={"SAP_PregeneratedMplId": guid}) as again:
            assert again.status == 409
            assert "is the id of a message the tenant has already" in await again.text()
        twice = [("SAP_PregeneratedMplId", guid), ("SAP_PregeneratedMplId", guid)]
        async with http.get(url, headers=twice) as doubled:
            assert doubled.status == 400
    assert runs(running) == ["/open"]
    # the store, not only this process's memory: a new server on the same workspace
    await running.server.stop()
    async with serving(running.root) as restarted, session(restarted) as http:
        async with http.get(f"{restarted.url}/http/open", headers={"SAP_PregeneratedMplId": guid}) as after:
            assert after.status == 409
        fresh = b64_uuid(uuid.uuid4(), urlsafe=True, padded=False)
        async with http.get(f"{restarted.url}/http/open", headers={"SAP_PregeneratedMplId": fresh}) as other:
            assert other.status == 200


@given(st.uuids(), st.booleans(), st.booleans())
def test_every_base64_spelling_of_a_uuid_is_an_mpl_id(value: uuid.UUID, urlsafe: bool, padded: bool) -> None:
    text = b64_uuid(value, urlsafe=urlsafe, padded=padded)
    assert mpl_id(text) == text


@given(st.binary(min_size=21, max_size=21))
def test_cpis_own_message_ids_are_mpl_ids(raw: bytes) -> None:
    text = base64.urlsafe_b64encode(raw).decode("ascii")
    assert mpl_id(text) == text


@given(st.one_of(st.text(max_size=40), st.text(alphabet="AQgw-_+/=", min_size=20, max_size=30)))
def test_what_is_taken_as_an_mpl_id_is_one_spelling_of_a_uuid_or_a_message_id(text: str) -> None:
    """Fail closed: whatever is taken decodes to 16 bytes (a UUID) or 21 (a message id), in one
    alphabet, and is the one spelling of those bytes; everything else is refused with the header's name."""
    try:
        taken = mpl_id(text)
    except SenderIdError as exc:
        refusal = str(exc)
        assert refusal.startswith("SAP_PregeneratedMplId ")
        return
    assert taken == text
    urlsafe = not ("+" in text or "/" in text)
    raw = (base64.urlsafe_b64decode if urlsafe else base64.b64decode)(text + "=" * (-len(text) % 4))
    assert len(raw) in (16, 21)
    encoded = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    assert text in (encoded, encoded.rstrip("="))
    assert len(raw) == 16 or urlsafe


@given(st.text(max_size=200))
def test_a_correlation_id_is_visible_ascii_up_to_128_characters(text: str) -> None:
    refusal = ""
    try:
        accepted: str | None = correlation_id(text)
    except SenderIdError as exc:
        accepted, refusal = None, str(exc)
    assert refusal.startswith("SAP_MplCorrelationId ") == (accepted is None)
    assert (accepted == text) == (0 < len(text) <= 128 and all("!" <= c <= "~" for c in text))


async def test_copies_claiming_one_id_at_once_get_it_once() -> None:
    """Two messages with one id arriving together: one gets it, the other is told it is used, while
    the store is still being asked."""
    used = UsedIds(lambda guid: False)
    claims = await asyncio.gather(*(used.claim("AAAAAAAAAAAAAAAAAAAAAA") for _ in range(5)))
    assert sorted(claims) == ["new", "used", "used", "used", "used"]


async def test_an_id_the_store_cannot_check_is_not_taken() -> None:
    """Failing closed on a store that cannot answer: "unknown" (the call gets 503), and the id
    stays free for the sender's retry."""
    answers = iter([sqlite3.OperationalError("database is locked"), False])

    def logged(guid: str) -> bool:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    used = UsedIds(logged)
    assert await used.claim("AAAAAAAAAAAAAAAAAAAAAA") == "unknown"
    assert await used.claim("AAAAAAAAAAAAAAAAAAAAAA") == "new"


@pytest.mark.clients
async def test_curl_sees_no_server_header_and_cannot_forge_ssl_client_cert(running: Running) -> None:
    """What a sender team sees with curl: the answer names no server, and the step got the
    certificate curl presented, not the header curl sent."""
    files = running.extract("demo-sender")
    command = [
        "curl", "-s", "-i", "--cert", str(files.cert), "--key", str(files.key), "--cacert", str(running.ca_path),
        "-H", "SSL_CLIENT_CERT: Zm9yZ2Vk", f"{running.url}/http/listed",
    ]  # fmt: skip
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60, check=True)
    head, _, body = done.stdout.replace("\r\n", "\n").partition("\n\n")
    assert head.startswith("HTTP/1.1 200")
    names = [line.split(":", 1)[0].lower() for line in head.splitlines()[1:]]
    assert "server" not in names
    assert "x-correlationid" in names
    assert json.loads(body)["SSL_CLIENT_CERT"] == leaf_base64(running)
