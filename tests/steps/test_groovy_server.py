"""Groovy steps behind the real server: an mTLS call, the answer, and the MPL record."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest

from cpimock.steps.groovy import runner
from cpimock.steps.groovy.toolchain import find_toolchain
from cpimock.testing import Tenant

from .groovy_support import requires_groovy, write

pytestmark = requires_groovy


async def post(url: str, ctx: ssl.SSLContext, body: bytes, **headers: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body, ssl=ctx, headers=headers) as response:
        return response.status, await response.text(), dict(response.headers)


async def test_a_groovy_iflow_answers_over_mtls_and_its_log_reaches_the_mpl(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "iflows/greet.groovy",
        """
        import com.sap.gateway.ip.core.customdev.util.Message
        import groovy.json.JsonSlurper

        def Message processData(Message message) {
            def order = new JsonSlurper().parse(message.getBody(java.io.Reader))
            def log = messageLogFactory.getMessageLog(message)
            log.setStringProperty("Customer", order.customer)
            log.setIntegerProperty("Items", order.items.size())
            log.addAttachmentAsString("Order", message.getBody(String), "application/json")
            log.addCustomHeaderProperty("OrderNumber", order.number)
            message.setHeader("SAP_ApplicationID", order.number)
            message.setHeader("CamelHttpResponseCode", 202)
            message.setHeader("Content-Type", "text/plain; charset=utf-8")
            message.setBody("Order ${order.number} for ${order.customer} accepted")
            return message
        }
    """,
    )
    async with Tenant() as tenant:
        flow = tenant.iflow("/orders", steps=[str(script)])
        key = tenant.service_key("s4")
        body = b'{"number": "4711", "customer": "Ada", "items": [1, 2]}'
        debug = {"Content-Type": "application/json", "SAP_MessageProcessingLogLevel": "debug"}
        status, text, headers = await post(flow.url, key.ssl_context(), body, **debug)

        assert (status, text) == (202, "Order 4711 for Ada accepted")
        assert headers["Content-Type"] == "text/plain; charset=utf-8"
        [record] = tenant.messages(iflow="orders", status="COMPLETED")
        assert record.application_message_id == "4711"
        assert record.service_key == "s4"
        assert runner.worker_for(find_toolchain()).running
        full = tenant.message(record.message_guid)
        assert full is not None
        assert full.log_properties == [("Customer", "Ada"), ("Items", "2")]
        assert full.custom_header_properties == [("OrderNumber", "4711")]
        assert [(a.name, a.content_type, a.data) for a in full.attachments] == [("Order", "application/json", body)]
        tenant.check()
    assert not runner.worker_for(find_toolchain()).running  # the JVM stops with the last server


async def test_a_groovy_exception_is_cpis_500_and_the_mpl_says_what_the_script_threw(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "iflows/reject.groovy",
        """
        def processData(message) {
            messageLogFactory.getMessageLog(message).setStringProperty("Stage", "validation")
            throw new IllegalArgumentException("order has no customer")
        }
    """,
    )
    async with Tenant() as tenant:
        hidden = tenant.iflow("/hidden", steps=[str(script)])
        shown = tenant.iflow("/shown", steps=[str(script)], return_exception_to_sender=True)
        ctx = tenant.demo_key.ssl_context()

        status, text, _ = await post(hidden.url, ctx, b"{}", SAP_MessageProcessingLogLevel="DEBUG")
        assert status == 500
        assert text.startswith("An internal server error occured: The MPL ID for the failed message is : ")
        status, text, _ = await post(shown.url, ctx, b"{}")
        assert status == 500
        assert f"java.lang.IllegalArgumentException: order has no customer @ line 3 in {script}" in text

        failed = tenant.messages(status="FAILED")
        assert [r.integration_flow_name for r in failed] == ["hidden", "shown"]
        assert "ScriptException: java.lang.IllegalArgumentException: order has no customer" in (failed[0].error or "")
        logged = tenant.message(failed[0].message_guid)
        assert logged is not None
        assert logged.log_properties == [("Stage", "validation")]
        assert len(tenant.take_errors()) == 2


async def test_a_groovy_step_past_the_iflows_timeout_fails_and_the_next_call_is_served(tmp_path: Path) -> None:
    loop = write(tmp_path, "iflows/loop.groovy", "def processData(message) { while (true) { } }")
    ok = write(tmp_path, "iflows/ok.groovy", "def processData(message) { message.setBody('still here'); message }")
    async with Tenant() as tenant:
        stuck = tenant.iflow("/stuck", steps=[str(loop)], timeout_s=1)
        fine = tenant.iflow("/fine", steps=[str(ok)])
        ctx = tenant.demo_key.ssl_context()

        status, _, _ = await post(stuck.url, ctx, b"x")
        assert status == 500
        [record] = tenant.messages(iflow="stuck")
        assert "ran past the iFlow's timeout of 1 s" in (record.error or "")
        status, text, _ = await post(fine.url, ctx, b"x")
        assert (status, text) == (200, "still here")
        tenant.take_errors()


async def test_the_demo_iflow_switched_to_its_groovy_twin_answers_as_the_python_step_does(tmp_path: Path) -> None:
    """The demo workspace's one-line switch: steps = ["iflows/demo.groovy"] greets like demo.py."""
    from importlib import resources

    twin = tmp_path / "demo.groovy"
    twin.write_bytes(resources.files("cpimock.workspace").joinpath("templates/iflows/demo.groovy").read_bytes())
    python = resources.files("cpimock.workspace").joinpath("templates/iflows/demo.py")
    pyfile = tmp_path / "demo.py"
    pyfile.write_bytes(python.read_bytes())
    async with Tenant() as tenant:
        groovy = tenant.iflow("/greetGroovy", steps=[str(twin)])
        plain = tenant.iflow("/greetPython", steps=[f"{pyfile}:process"])
        ctx = tenant.demo_key.ssl_context()
        body = b'{"name": "Ada"}'
        g_status, g_text, g_headers = await post(groovy.url, ctx, body, **{"Content-Type": "application/json"})
        p_status, p_text, p_headers = await post(plain.url, ctx, body, **{"Content-Type": "application/json"})
        assert (g_status, p_status) == (200, 200)
        g_id, p_id = g_headers["SAP_MessageProcessingLogID"], p_headers["SAP_MessageProcessingLogID"]
        assert g_text.replace(g_id, "ID") == p_text.replace(p_id, "ID")
        assert g_text.startswith("Hello Ada, cpimock received your message of 15 bytes (application/json).\n")
        assert g_headers["Content-Type"] == "text/plain; charset=utf-8"
        record = tenant.message(g_id)
        assert record is not None
        assert (record.application_message_type, record.custom_header_properties) == ("Greeting", [("greeted", "Ada")])
        # the rejecting twin: a broken body is still greeted, by the first line (both steps alike)
        g_status, g_text, _ = await post(groovy.url, ctx, b"Grace\nHopper", **{"Content-Type": "text/plain"})
        assert g_status == 200
        assert g_text.startswith("Hello Grace, ")


def test_groovy_home_in_cpimock_toml_is_checked_at_load(tmp_path: Path) -> None:
    from cpimock.config import parse_config
    from cpimock.errors import ConfigError

    home = tmp_path / "groovy-4"
    (home / "lib").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"groovy\.home: .* has no lib/\*\.jar"):
        parse_config({"groovy": {"home": "groovy-4"}}, tmp_path)
    (home / "lib" / "groovy-4.0.29.jar").write_bytes(b"PK")
    assert parse_config({"groovy": {"home": "groovy-4"}}, tmp_path).groovy.home == home.resolve()
    assert find_toolchain(home).groovy_jars == (home / "lib" / "groovy-4.0.29.jar",)
