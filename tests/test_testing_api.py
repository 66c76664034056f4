"""The testing API: tenants in a test, iFlows from plain functions, keys on demand, the MPL, step errors."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path

import aiohttp
import pytest
import requests
from cryptography.hazmat.primitives.serialization import pkcs12

from cpimock.errors import CpimockError, HandlerLoadError
from cpimock.http.server import SHUTDOWN_GRACE_S
from cpimock.message import Message
from cpimock.testing import StepFailed, Tenant, ThreadedTenant
from tests.test_workspace import workspace_keys


def greet(message: Message) -> Message:
    message.body = b"hello " + message.body
    return message


async def shout(message: Message) -> None:
    await asyncio.sleep(0)
    message.body = message.body.upper()


def broken(message: Message) -> Message:
    raise ValueError("the mapping is broken")


async def post(url: str, ctx: ssl.SSLContext, body: bytes = b"Ada", **kwargs: object) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body, ssl=ctx, **kwargs) as response:
        return response.status, await response.text()


async def test_plain_functions_are_steps_and_the_mpl_shows_the_call() -> None:
    async with Tenant() as tenant:
        flow = tenant.iflow("/orders", steps=[greet, shout])
        key = tenant.service_key("s4")

        assert await post(flow.url, key.ssl_context()) == (200, "HELLO ADA")
        [record] = tenant.messages(iflow="orders", status="COMPLETED")
        assert (record.service_key, record.request_body, record.response_body) == ("s4", b"Ada", b"HELLO ADA")
        assert tenant.messages(status="FAILED") == []


async def test_a_key_without_the_iflows_role_is_refused() -> None:
    async with Tenant() as tenant:
        flow = tenant.iflow("/orders", steps=[greet], role="Orders.send")
        allowed = tenant.service_key("allowed", roles=["Orders.send"])
        refused = tenant.service_key("refused")  # ESBMessaging.send only

        assert (await post(flow.url, allowed.ssl_context()))[0] == 200
        status, text = await post(flow.url, refused.ssl_context())
        assert status == 403
        assert "Orders.send" in text
        assert [r.refusal_stage for r in tenant.messages(status="FAILED")] == ["authorization"]


async def test_a_step_exception_is_reraised_by_check_and_on_exit() -> None:
    with pytest.raises(ValueError, match="mapping is broken"):
        async with Tenant() as tenant:
            flow = tenant.iflow("/bad", steps=[broken])
            assert (await post(flow.url, tenant.demo_key.ssl_context()))[0] == 500

    async with Tenant() as tenant:
        flow = tenant.iflow("/bad", steps=[broken])
        await post(flow.url, tenant.demo_key.ssl_context())
        with pytest.raises(ValueError, match="mapping is broken"):
            tenant.check()
        tenant.check()  # reported once


async def test_take_errors_acknowledges_expected_failures_and_clear_forgets_them() -> None:
    async with Tenant() as tenant:
        flow = tenant.iflow("/bad", steps=[broken])
        await post(flow.url, tenant.demo_key.ssl_context())
        [error] = tenant.take_errors()
        assert isinstance(error, ValueError)
        await post(flow.url, tenant.demo_key.ssl_context())
        tenant.clear()
        tenant.check()
        assert tenant.messages() == []


async def test_a_file_step_that_fails_is_reported_from_the_mpl(tmp_path: Path) -> None:
    step = tmp_path / "mapping.py"
    step.write_text("def process(message):\n    raise KeyError('customer')\n")
    async with Tenant() as tenant:
        flow = tenant.iflow("/file", steps=[f"{step}:process"])
        assert (await post(flow.url, tenant.demo_key.ssl_context()))[0] == 500
        with pytest.raises(StepFailed, match="KeyError: 'customer'"):
            tenant.check()


async def test_what_cpimock_toml_refuses_raises_and_the_tenant_keeps_serving(tmp_path: Path) -> None:
    async with Tenant() as tenant:
        flow = tenant.iflow("/ok", steps=[greet])
        with pytest.raises(CpimockError, match="not a CPI address"):
            tenant.iflow("no spaces allowed", steps=[greet])
        with pytest.raises(HandlerLoadError):
            tenant.iflow("/missing", steps=[f"{tmp_path / 'nowhere.py'}:process"])
        assert await post(flow.url, tenant.demo_key.ssl_context()) == (200, "hello Ada")


async def test_clear_removes_registered_iflows_but_keeps_keys() -> None:
    async with Tenant() as tenant:
        flow = tenant.iflow("/orders", steps=[greet])
        key = tenant.service_key("s4")
        tenant.clear()
        assert (await post(flow.url, key.ssl_context()))[0] == 404
        assert tenant.service_key("s4") is key


async def test_two_tenants_at_once_are_separate() -> None:
    async with Tenant() as one, Tenant() as two:
        assert one.port != two.port
        flow_one = one.iflow("/orders", steps=[greet])
        key_two = two.service_key("only-on-two")
        # both tenants trust the same process-wide CA, but only the issuing tenant knows the key
        assert (await post(flow_one.url, key_two.ssl_context()))[0] == 401
        assert (await post(flow_one.url, one.demo_key.ssl_context()))[0] == 200
        assert len(one.messages()) == 2
        assert two.messages() == []


async def test_a_fresh_pki_does_not_trust_other_tenants_keys() -> None:
    async with Tenant() as shared, Tenant(fresh_pki=True) as fresh:
        flow = fresh.iflow("/orders", steps=[greet])
        ctx = ssl.create_default_context(cafile=str(fresh.ca_path))
        ctx.load_cert_chain(shared.demo_key.cert_path, shared.demo_key.key_path)
        with pytest.raises(aiohttp.ClientError):
            await post(flow.url, ctx)
        assert (await post(flow.url, fresh.demo_key.ssl_context()))[0] == 200


async def test_the_template_keys_are_rsa_2048_each_its_own_and_not_a_fresh_pki_s() -> None:
    async with Tenant() as shared, Tenant(fresh_pki=True) as fresh:
        template, own = workspace_keys(shared.root), workspace_keys(fresh.root)
    names = {"root-ca.key", "client-ca.key", "server.key", "token-signing.key", "demo-sender"}
    assert set(template) == set(own) == names
    assert len(set(template.values())) == len(set(own.values())) == len(names)
    assert not set(template.values()) & set(own.values())


async def test_an_untrusted_key_is_the_rejecting_twin_of_a_service_key() -> None:
    async with Tenant() as tenant:
        flow = tenant.iflow("/orders", steps=[greet])
        untrusted = tenant.untrusted_key("stranger")
        with pytest.raises(aiohttp.ClientError):
            await post(flow.url, untrusted.ssl_context())
        assert (await post(flow.url, tenant.demo_key.ssl_context()))[0] == 200
        assert untrusted.cert_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
        assert oct(untrusted.key_path.stat().st_mode & 0o777) == "0o600"
        [refused] = [r for r in tenant.messages() if r.refusal_stage == "tls"]
        assert "unknown" in (refused.refusal_reason or "") or "not known" in (refused.refusal_reason or "")


def test_an_untrusted_key_works_with_requests_and_curl() -> None:
    with ThreadedTenant(client_auth="optional") as tenant:
        flow = tenant.iflow("/orders", steps=[greet])
        with pytest.raises(requests.exceptions.SSLError):
            requests.post(flow.url, data=b"x", cert=tenant.untrusted_key().cert, verify=tenant.ca_path, timeout=10)
        curl = subprocess.run(
            [
                "curl",
                "-sS",
                "--cert",
                str(tenant.untrusted_key().cert_path),
                "--key",
                str(tenant.untrusted_key().key_path),
                "--cacert",
                str(tenant.ca_path),
                "-d",
                "x",
                flow.url,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert curl.returncode != 0, curl.stdout
        ok = requests.post(flow.url, data=b"Ada", cert=tenant.demo_key.cert, verify=tenant.ca_path, timeout=10)
        assert (ok.status_code, ok.text) == (200, "hello Ada")


async def test_key_files_and_pkcs12() -> None:
    async with Tenant() as tenant:
        key = tenant.service_key("files")
        assert key.cert_path.read_bytes().count(b"BEGIN CERTIFICATE") == 3  # leaf, client CA, root
        assert key.key_path.read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----")
        assert key.ca_path.read_bytes().count(b"BEGIN CERTIFICATE") == 2
        loaded = pkcs12.load_pkcs12(key.pfx_path.read_bytes(), key.pfx_password.encode())
        assert loaded.cert is not None
        assert len(loaded.additional_certs) == 2
        assert key.data["oauth"]["url"] == f"https://localhost:{tenant.port}"

        secret = tenant.service_key("secret", key_type="clientid-secret")
        assert secret.basic == (secret.data["oauth"]["clientid"], secret.data["oauth"]["clientsecret"])
        with pytest.raises(CpimockError, match="no certificate"):
            _ = secret.cert_path


async def test_an_idle_keep_alive_client_does_not_hold_up_stop() -> None:
    tenant = Tenant()
    await tenant.start()
    session = requests.Session()
    # a synchronous client on another thread: this one runs the server
    response = await asyncio.to_thread(
        session.get, tenant.url + "/", cert=tenant.demo_key.cert, verify=str(tenant.ca_path)
    )
    assert response.status_code == 200
    try:
        # no wait for the grace period: idle connections are closed at once
        await asyncio.wait_for(tenant.stop(), SHUTDOWN_GRACE_S / 2)
    finally:
        session.close()


def test_threaded_tenant_serves_synchronous_clients() -> None:
    with ThreadedTenant() as tenant:
        flow = tenant.iflow("/orders", steps=[greet])
        basic = tenant.service_key("basic", key_type="clientid-secret")
        with requests.Session() as session:
            ok = session.post(flow.url, data=b"Bob", auth=basic.basic, verify=str(tenant.ca_path))
            wrong = session.post(flow.url, data=b"Bob", auth=(basic.clientid, "wrong"), verify=str(tenant.ca_path))
        assert (ok.status_code, ok.text) == (200, "hello Bob")
        assert wrong.status_code == 401
        assert ok.headers["SAP_MessageProcessingLogID"] == tenant.messages(status="COMPLETED")[0].message_guid


def test_threaded_tenant_reraises_step_errors_on_exit() -> None:
    with pytest.raises(ValueError, match="broken"), ThreadedTenant() as tenant:
        flow = tenant.iflow("/bad", steps=[broken])
        with requests.Session() as session:
            session.post(flow.url, data=b"x", cert=tenant.demo_key.cert, verify=str(tenant.ca_path))


def test_using_a_tenant_before_start_says_so() -> None:
    with pytest.raises(CpimockError, match="not started"):
        _ = ThreadedTenant().url


def test_tenants_never_stopped_are_cleaned_up_at_exit(tmp_path: Path) -> None:
    script = tmp_path / "forgetful.py"
    script.write_text(
        textwrap.dedent("""
        import asyncio
        from cpimock.testing import Tenant, ThreadedTenant

        threaded = ThreadedTenant()
        threaded.start()
        print(threaded.port, threaded.root)

        async def main():
            tenant = Tenant()
            await tenant.start()
            print(tenant.port, tenant.root)

        asyncio.run(main())
    """)
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-X", "dev", str(script)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    assert len(lines) == 2
    for port, root in lines:
        assert not Path(root).exists()
        with socket.socket() as probe:  # the port is free again
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", int(port)))
