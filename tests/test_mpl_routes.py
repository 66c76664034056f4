"""The MPL over HTTP: the OData API and the monitor page on an app with only these routes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from cpimock.mpl.journal import Journal, MplRecord
from cpimock.mpl.record import StoredAttachment
from cpimock.mpl.routes import add_mpl_routes
from tests.mpl_samples import scripted_mix

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(tmp_path / "cpimock.db")
    yield j
    j.close()


@pytest.fixture
def mix(journal: Journal) -> dict[str, MplRecord]:
    recs = scripted_mix()
    for rec in recs.values():
        journal.record(rec)
    journal.flush()
    return recs


@pytest.fixture
async def client(aiohttp_client: Any, journal: Journal) -> Any:
    app = web.Application()
    add_mpl_routes(app, journal, None, tenant="mytenant")
    return await aiohttp_client(app)


async def odata(client: Any, path: str, **params: str) -> Any:
    resp = await client.get(f"/api/v1/{path}", params=params, headers={"Accept": "application/json"})
    assert resp.content_type == "application/json"
    return resp.status, await resp.json()


ALL = {"cpimockRefusals": "include"}


async def test_the_api_returns_exactly_the_scripted_calls(client: Any, mix: dict[str, MplRecord]) -> None:
    status, body = await odata(
        client, "MessageProcessingLogs", **{"$inlinecount": "allpages", "$orderby": "LogStart asc"}, **ALL
    )
    assert status == 200
    assert body["d"]["__count"] == "6"
    got = [(e["MessageGuid"], e["Status"], e["CustomStatus"], e["IntegrationFlowName"]) for e in body["d"]["results"]]
    assert got == [
        (mix["accepted"].message_guid, "COMPLETED", "COMPLETED", "clientCertAuth"),
        (mix["handshake"].message_guid, "FAILED", "REFUSED", None),
        (mix["unauthorized"].message_guid, "FAILED", "REFUSED", None),
        (mix["forbidden"].message_guid, "FAILED", "REFUSED", "clientCertAuth"),
        (mix["not_found"].message_guid, "FAILED", "REFUSED", None),
        (mix["failed"].message_guid, "FAILED", "FAILED", "clientCertAuth"),
    ]
    host = f"http://{client.host}:{client.port}"
    assert body["d"]["results"][0]["__metadata"]["uri"].startswith(f"{host}/api/v1/MessageProcessingLogs('AG")


async def test_reasons_filters_and_paging(client: Any, mix: dict[str, MplRecord]) -> None:
    reasons = {}
    for name in ("handshake", "unauthorized", "forbidden", "not_found", "failed"):
        path = f"/api/v1/MessageProcessingLogs('{mix[name].message_guid}')/ErrorInformation/$value"
        resp = await client.get(path, params=ALL)
        assert resp.status == 200
        reasons[name] = await resp.text()
    assert reasons["handshake"].startswith("Refused at tls: the client sent no certificate")
    assert reasons["unauthorized"] == "Refused at auth: the certificate is not mapped to any service key"
    assert reasons["forbidden"].startswith("Refused at authorization: service instance 'reader' lacks")
    assert reasons["not_found"] == "Refused at routing: no iFlow is deployed at /http/nope"
    assert reasons["failed"] == "ValueError: order 4711 has no lines"
    _, body = await odata(
        client,
        "MessageProcessingLogs",
        **{"$filter": "Status eq 'FAILED'", "$top": "2", "$orderby": "LogStart desc"},
        **ALL,
    )
    page1 = [e["MessageGuid"] for e in body["d"]["results"]]
    assert page1 == [mix["failed"].message_guid, mix["not_found"].message_guid]
    _, body = await odata(
        client,
        "MessageProcessingLogs",
        **{"$filter": "Status eq 'FAILED'", "$top": "2", "$skip": "2", "$orderby": "LogStart desc"},
        **ALL,
    )
    assert [e["MessageGuid"] for e in body["d"]["results"]] == [
        mix["forbidden"].message_guid,
        mix["unauthorized"].message_guid,
    ]
    _, body = await odata(
        client,
        "MessageProcessingLogs",
        **{"$filter": "IntegrationFlowName eq 'clientCertAuth' and CustomStatus ne 'REFUSED'"},
        **ALL,
    )
    assert len(body["d"]["results"]) == 2


async def test_attachments_and_properties_over_http(client: Any, mix: dict[str, MplRecord]) -> None:
    guid = mix["accepted"].message_guid
    _, body = await odata(client, f"MessageProcessingLogs('{guid}')/Attachments")
    [att] = body["d"]["results"]
    resp = await client.get(f"/api/v1/MessageProcessingLogAttachments('{att['Id']}')/$value")
    assert resp.content_type == "application/json"
    assert await resp.read() == b'{"order": 4711}'
    _, body = await odata(client, f"MessageProcessingLogs('{guid}')/CustomHeaderProperties")
    assert body["d"]["results"][0]["Value"] == "4711"


async def test_a_bad_query_is_a_400_never_a_500(client: Any, mix: dict[str, MplRecord]) -> None:
    many = " or ".join(["Status eq 'x'"] * 450)  # once a 503 "parser stack overflow"
    for params in (
        {"$filter": "Status eq 'x' and ("},
        {"$top": "1e9"},
        {"$orderby": "Secret"},
        {"$filter": "'" * 3},
        {"$filter": many},
        {"$filter": "(Status eq 'x' or " * 30 + "Status eq 'x'" + ")" * 30},
    ):
        status, body = await odata(client, "MessageProcessingLogs", **params)
        assert status == 400
        assert set(body["error"]) == {"code", "message"}
    status, _ = await odata(client, "MessageProcessingLogs('AGnothere')")
    assert status == 404
    status, _ = await odata(client, "Nothing/here")
    assert status == 404


async def test_the_authorize_callback_decides(aiohttp_client: Any, journal: Journal, mix: dict[str, MplRecord]) -> None:
    decisions: list[str] = []

    async def authorize(request: web.Request) -> bool:
        decisions.append(request.path)
        return request.headers.get("X-Let-Me") == "in"

    app = web.Application()
    add_mpl_routes(app, journal, authorize)
    client = await aiohttp_client(app)
    for path in ("/api/v1/MessageProcessingLogs", "/monitor", "/monitor/api/messages"):
        refused = await client.get(path)
        assert refused.status == 403
        allowed = await client.get(path, headers={"X-Let-Me": "in"})
        assert allowed.status == 200
    refused = await client.get("/api/v1/MessageProcessingLogs", headers={"Accept": "application/json"})
    body = await refused.json()
    assert body["error"]["code"] == "Forbidden"
    refused = await client.get("/api/v1/MessageProcessingLogs")  # CPI's default: OData's XML error
    assert refused.content_type == "application/xml"
    assert "<code>Forbidden</code>" in await refused.text()
    assert len(decisions) == 8


async def test_without_a_callback_only_loopback_may_read(client: Any) -> None:
    resp = await client.get("/api/v1/MessageProcessingLogs")
    assert resp.status == 200  # the test client is on 127.0.0.1


def test_the_loopback_check_refuses_remote_peers() -> None:
    from aiohttp.test_utils import make_mocked_request

    from cpimock.net import host_of, is_loopback

    remote = make_mocked_request("GET", "/monitor")
    remote._transport_peername = ("192.0.2.7", 40000)  # type: ignore[attr-defined]
    assert not is_loopback(remote.remote or "")
    local = make_mocked_request("GET", "/monitor")
    local._transport_peername = ("::1", 40000, 0, 0)  # type: ignore[attr-defined]
    assert is_loopback(local.remote or "")
    assert [
        is_loopback(host_of(a)) for a in ("127.8.9.10:5", "[::1]:5", "[fe80::1%eth0]:5", "unknown", "10.0.0.1:5")
    ] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert is_loopback("localhost")
    assert is_loopback("fe80::1%lo") is False


async def test_the_monitor_page_and_its_json(client: Any, mix: dict[str, MplRecord]) -> None:
    resp = await client.get("/monitor")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    policy = resp.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy
    assert "script-src 'sha256-" in policy
    assert "frame-ancestors 'none'" in policy
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    page = await resp.text()
    assert '<option value="clientCertAuth">clientCertAuth</option>' in page
    assert '<option value="REFUSED">REFUSED</option>' in page
    listing = await (await client.get("/monitor/api/messages", params={"status": "REFUSED"})).json()
    assert listing["total"] == 4
    assert {m["refusal_stage"] for m in listing["messages"]} == {"tls", "auth", "authorization", "routing"}
    newer = await (await client.get("/monitor/api/messages", params={"after": str(listing["last_seq"])})).json()
    assert newer["messages"] == []
    guid = mix["accepted"].message_guid
    detail = await (await client.get(f"/monitor/api/messages/{guid}")).json()
    assert detail["caller"]["subject"].startswith("CN=demo-sender")
    assert detail["request"]["body"] == {"size": 15, "truncated": False, "text": '{"order": 4711}'}
    att = detail["attachments"][0]
    download = await client.get(f"/monitor/api/attachments/{att['id']}")
    assert download.headers["Content-Disposition"] == "attachment; filename*=UTF-8''payload"
    assert (await client.get("/monitor/api/messages/AGnope")).status == 404
    assert (await client.get("/monitor/api/attachments/999")).status == 404


# adds an inline script to the page; resolves with the directive that refused it, or "ran"
INJECT = """() => new Promise((resolve) => {
  document.addEventListener("securitypolicyviolation", (e) => resolve(e.violatedDirective), { once: true });
  document.addEventListener("injected", () => resolve("ran"), { once: true });
  const script = document.createElement("script");
  try {
    script.textContent = "document.documentElement.dataset.injected = 'yes';"
      + "document.dispatchEvent(new Event('injected'))";
  } catch (refused) { /* a Trusted Types refusal also fires the violation event */ }
  document.body.append(script);
})"""


async def test_the_monitor_in_headless_chromium(
    aiohttp_server: Any, journal: Journal, mix: dict[str, MplRecord], tmp_path: Path
) -> None:
    playwright_api = pytest.importorskip("playwright.async_api", reason="the PyPI package playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}; install Debian's chromium package")
    app = web.Application()
    add_mpl_routes(app, journal, None)
    server = await aiohttp_server(app)
    url = f"http://127.0.0.1:{server.port}/monitor"
    expect = playwright_api.expect
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # the page works under its strict policy: nothing of its own is refused
            page.on("console", lambda msg: errors.append(msg.text) if "Refused" in msg.text else None)
            await page.goto(url)
            rows = page.locator("#rows tr")
            await expect(rows).to_have_count(6)
            await page.select_option("#status", "FAILED")
            await expect(rows).to_have_count(5)
            await page.click(f"tr[data-guid='{mix['handshake'].message_guid}']")
            await page.wait_for_selector("#detail section.refusal")
            refusal = await page.locator("#detail section.refusal").text_content() or ""
            assert "Refused at tls" in refusal
            assert "the client sent no certificate" in refusal
            await page.screenshot(path=str(tmp_path / "monitor-refused.png"), full_page=True)
            await page.select_option("#status", "")
            await expect(rows).to_have_count(6)
            await page.click(f"tr[data-guid='{mix['accepted'].message_guid}']")
            await page.wait_for_selector("#detail >> text=demo-sender")
            details = await page.locator("#detail").text_content() or ""
            assert "Hello demo-sender" in details
            assert "CN=demo-sender" in details
            # live update: a new call shows up without a reload
            journal.record(MplRecord(integration_flow_name="clientCertAuth", request_path="/http/late"))
            journal.flush()
            await expect(rows).to_have_count(7, timeout=10_000)
            # an IDoc's type and number beside its path in the list
            idoc = MplRecord(
                integration_flow_name="idocOrders",
                request_method="POST",
                request_path="/cxf/idoc/orders",
                application_message_type="ORDERS05",
                application_message_id="0000000000471101",
            )
            journal.record(idoc)
            journal.flush()
            await expect(page.locator(f"tr[data-guid='{idoc.message_guid}'] .sub").first).to_have_text(
                "POST /cxf/idoc/orders · ORDERS05 0000000000471101", timeout=10_000
            )
            await page.screenshot(path=str(tmp_path / "monitor.png"), full_page=True)
            assert errors == []
            # the rejecting twin: a script that is not the page's own (as an injection would add) is refused
            outcome = await page.evaluate(INJECT)
            assert outcome in ("require-trusted-types-for", "script-src-elem"), outcome
            assert await page.evaluate("document.documentElement.dataset.injected") is None
        finally:
            await browser.close()
    assert (tmp_path / "monitor.png").stat().st_size > 10_000
    keep = os.environ.get("CPIMOCK_SCREENSHOT_DIR")  # to look at the pictures after the run
    if keep:
        for name in ("monitor.png", "monitor-refused.png"):
            shutil.copy(tmp_path / name, Path(keep) / name)


# --- attachments from senders are never run by a browser ------------------------------------------

# what a sender's payload, logged as an attachment by a step, may hold: each one marks its document
# and reads the whole log through the OData API, on the tenant's origin (document.title would not
# do: XML documents have none)
MARK = (
    "const root=document.documentElement;root.setAttribute('data-xss','RAN');"
    "fetch('/api/v1/MessageProcessingLogs').then(()=>root.setAttribute('data-xss','READ'))"
)
MARKED = "document.documentElement && document.documentElement.getAttribute('data-xss')"
ACTIVE = {
    "xhtml": (
        "application/xhtml+xml",
        f'<html xmlns="http://www.w3.org/1999/xhtml"><body><script>{MARK}</script></body></html>',
    ),
    "svg": ("image/svg+xml", f'<svg xmlns="http://www.w3.org/2000/svg"><script>{MARK}</script></svg>'),
    "html": ("text/html", f"<html><body><script>{MARK}</script></body></html>"),
    # the common "log the payload" step, with XHTML inside the XML
    "xml": ("text/xml", f'<order><h:script xmlns:h="http://www.w3.org/1999/xhtml">{MARK}</h:script></order>'),
    "html in upper case, with a parameter": ("TEXT/HTML; charset=utf-8", f"<script>{MARK}</script>"),
    "a broken media type": ("text/html\r\nX-Injected: 1", f"<script>{MARK}</script>"),
}
# types served inline: shown as text, even when the content is HTML
PASSIVE = {"text": ("text/plain", f"<html><body><script>{MARK}</script></body></html>")}


@pytest.fixture
def hostile(journal: Journal) -> dict[str, int]:
    """One message with an attachment per payload; the attachment ids by payload name."""
    payloads = {**ACTIVE, **PASSIVE}
    rec = MplRecord(
        integration_flow_name="orders",
        request_path="/http/orders",
        attachments=[StoredAttachment(name, media, body.encode()) for name, (media, body) in payloads.items()],
    )
    journal.record(rec)
    journal.flush()
    return {a.name: int(a.id or 0) for a in journal.attachments(rec.message_guid)}


def value_path(att_id: int) -> str:
    return f"/api/v1/MessageProcessingLogAttachments('{att_id}')/$value"


async def test_attachments_are_served_so_that_no_browser_runs_them(client: Any, hostile: dict[str, int]) -> None:
    for name, att_id in hostile.items():
        resp = await client.get(value_path(att_id))
        assert resp.status == 200
        assert resp.headers["X-Content-Type-Options"] == "nosniff", name
        assert "sandbox" in resp.headers["Content-Security-Policy"], name
        assert "X-Injected" not in resp.headers
        if name in ACTIVE:
            assert resp.headers["Content-Disposition"].startswith("attachment;"), name
        else:
            assert "Content-Disposition" not in resp.headers
    assert (await client.get(value_path(hostile["html"]))).content_type == "text/html"
    assert (await client.get(value_path(hostile["a broken media type"]))).content_type == "application/octet-stream"
    listing = await client.get("/api/v1/MessageProcessingLogs")
    assert listing.headers["X-Content-Type-Options"] == "nosniff"


async def test_hostile_attachments_run_no_script_in_headless_chromium(
    aiohttp_server: Any, journal: Journal, hostile: dict[str, int]
) -> None:
    playwright_api = pytest.importorskip("playwright.async_api", reason="the PyPI package playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}; install Debian's chromium package")

    async def unprotected(request: web.Request) -> web.Response:
        # the twin: the same bytes under their own media type, as the attachment API served them
        found = journal.attachment(int(request.match_info["id"]))
        assert found is not None
        return web.Response(body=found[1].data, headers={"Content-Type": found[1].content_type})

    app = web.Application()
    add_mpl_routes(app, journal, None)
    app.router.add_get("/unprotected/{id}", unprotected)
    server = await aiohttp_server(app)
    base = f"http://127.0.0.1:{server.port}"
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name in ("xhtml", "svg", "html", "xml"):
                page = await browser.new_page()
                await page.goto(f"{base}/unprotected/{hostile[name]}")
                await page.wait_for_function(f"{MARKED} === 'READ'")  # the payload does run, unprotected
                await page.close()
            for name in ACTIVE:
                page = await browser.new_page()
                async with page.expect_download() as download:
                    with pytest.raises(playwright_api.Error, match="Download is starting"):
                        await page.goto(base + value_path(hostile[name]))
                assert (await download.value).suggested_filename == name
                assert page.url == "about:blank"
                assert await page.evaluate(MARKED) is None
                await page.close()
            reads: list[str] = []
            for name in PASSIVE:
                page = await browser.new_page()
                page.on("request", lambda req: reads.append(req.url) if "MessageProcessingLogs" in req.url else None)
                await page.goto(base + value_path(hostile[name]))
                assert MARK in (await page.text_content("body") or "")  # shown as text ...
                assert await page.evaluate(MARKED) is None  # ... and not run
                await page.close()
            assert reads == []
        finally:
            await browser.close()
