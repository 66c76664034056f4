"""Headers and CSRF as a real tenant has them: what the load balancer and the runtime set, what
they drop, and what a sender gets back. Real mTLS calls against a server on port 0.

Sources (SAP Help, by title; the rows of docs/fidelity.md name them too): HTTPS Sender Adapter
(loio 0ae4a78909c4479cbc3cc414250919de), Headers and Exchange Properties Provided by the
Integration Framework (d0fcb0988f034e889f611c6e36d43ad5), Specify the Runtime Configuration
(0c1c96e50ff340869090469d260976f3).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

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


@pytest.fixture
async def running(workspace: Path) -> AsyncIterator[Running]:
    step = write_step(workspace, "dump.py", DUMP) + ":process"
    add_iflow(workspace, "Orders", "/orders", [step], csrf=True)
    add_iflow(workspace, "Invoices", "/invoices", [step], csrf=True)
    add_iflow(workspace, "Open", "/open", [step], allowed_headers=["*"])
    add_iflow(workspace, "Listed", "/listed", [step], allowed_headers=["SSL_CLIENT_CERT", "X-Other"])
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
