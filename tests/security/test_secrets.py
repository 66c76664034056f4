"""Secrets: file modes, nothing secret in logs or the MPL, the monitor's callers, --expose."""

from __future__ import annotations

import base64
import logging
import re
import stat
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner
from multidict import CIMultiDict
from yarl import URL

from cpimock.cli import main
from cpimock.cli.serve import _check_exposure
from cpimock.errors import CpimockError
from cpimock.identity.callers import Peer
from cpimock.identity.model import Identity
from cpimock.wire import MPL_ID_HEADER
from cpimock.workspace.create import load_workspace
from cpimock.workspace.keys import issue_service_key

from ..serving import Running, serving
from .proc import free_port


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_private_keys_and_the_mpl_are_readable_by_the_owner_only(workspace: Path) -> None:
    async with serving(workspace) as running:
        running.extract("demo-sender")
        config, pki, registry = load_workspace(workspace)
        issue_service_key(config, pki, registry, "s4-basic", "default", key_type="clientid-secret")
        await running.records()
    private = [
        *workspace.glob("certs/*.key"),
        *workspace.glob("certs/keys/*.json"),
        workspace / "certs/registry.json",
        workspace / "cpimock.db",
    ]
    assert workspace / "certs" / "token-signing.key" in private
    for path in private:
        assert mode(path) == 0o600, f"{path.relative_to(workspace)} is {oct(mode(path))}"
    for side in workspace.glob("cpimock.db-*"):  # SQLite's -wal and -shm take the database's mode
        assert mode(side) & 0o077 == 0, f"{side.name} is {oct(mode(side))}"
    for folder in (workspace / "certs", workspace / "certs" / "keys"):
        assert mode(folder) & 0o022 == 0, f"{folder.name}/ is writable by others"


def _secret_key(running: Running) -> tuple[str, str]:
    config, pki, registry = load_workspace(running.root)
    data, record = issue_service_key(config, pki, registry, "s4-basic", "default", key_type="clientid-secret")
    text = repr(data)
    secret = re.search(r"'clientsecret': '([^']+)'", text)
    assert secret is not None
    return record.clientid, secret.group(1)


async def test_no_secret_reaches_the_log_or_the_mpl(workspace: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving(workspace) as running:
        clientid, secret = _secret_key(running)
        await running.reload()
        files = running.extract("demo-sender")
        ctx = running.context(files)
        url = f"{running.url}/http/clientCertAuth"
        basic = "Basic " + base64.b64encode(f"{clientid}:{secret}".encode()).decode()
        wrong = "Basic " + base64.b64encode(f"{clientid}:{secret[::-1]}".encode()).decode()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as http:
            async with http.post(
                f"{running.url}/oauth/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": basic},
            ) as answer:
                assert answer.status == 200
                token = (await answer.json())["access_token"]
            cookie, csrf = "JSESSIONID=s3cr3t-session-cookie-value", "s3cr3t-csrf-token-value-0123456789"
            for auth in (basic, wrong, f"Bearer {token}", f"Bearer {token[:-4]}AAAA"):
                async with http.post(
                    url, data=b"{}", headers={"Authorization": auth, "Cookie": cookie, "X-CSRF-Token": csrf}
                ) as answer:
                    assert answer.status in (200, 401)
        await running.records()
    secrets = {
        "client secret": secret,
        "Basic credentials": basic.split()[1],
        "wrong Basic credentials": wrong.split()[1],
        "access token": token,
        "token signature": token.rsplit(".", 1)[1],
        "cookie value": "s3cr3t-session-cookie-value",
        "CSRF token": csrf,
    }
    for key_file in [*workspace.glob("certs/*.key"), files.key]:
        body = [line for line in key_file.read_text().splitlines() if line and not line.startswith("-----")]
        secrets[f"private key {key_file.name}"] = body[len(body) // 2]
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    stored = b"".join(p.read_bytes() for p in workspace.glob("cpimock.db*"))
    for what, value in secrets.items():
        assert value not in logged, f"the {what} is in the log"
        assert value.encode() not in stored, f"the {what} is in the MPL database"
    assert b"Basic ***" in stored  # the scheme is kept: what the sender tried is still visible


def _credential_shapes(creds: str, token: str) -> dict[str, list[tuple[str, str]]]:
    """Authorization headers as senders get them wrong (or right, in odd ways)."""
    return {
        "a tab after the scheme": [("Authorization", f"Basic\t{creds}")],
        "several spaces": [("Authorization", f"Basic    {creds}")],
        "a lower-case scheme": [("Authorization", f"basic {creds}")],
        "no scheme": [("Authorization", creds)],
        "a malformed Base64": [("Authorization", f"Basic {creds[:12]}*{creds[12:]}")],
        "the header twice": [("Authorization", f"Basic {creds}"), ("Authorization", f"Bearer {token}")],
        "a bearer token after a tab": [("Authorization", f"Bearer\t{token}")],
        "a lower-case bearer": [("authorization", f"bearer {token}")],
        "a proxy credential": [("Proxy-Authorization", f"Basic {creds}")],
    }


async def test_no_credential_in_any_shape_reaches_the_log_or_the_mpl(
    workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving(workspace) as running:
        clientid, secret = _secret_key(running)
        await running.reload()
        creds = base64.b64encode(f"{clientid}:{secret}".encode()).decode()
        url = f"{running.url}/http/clientCertAuth"
        async with running.session() as http:
            async with http.post(
                f"{running.url}/oauth/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {creds}"},
            ) as answer:
                token = (await answer.json())["access_token"]
            calls: dict[str, tuple[str, list[tuple[str, str]]]] = {
                shape: (url, headers) for shape, headers in _credential_shapes(creds, token).items()
            }
            calls["a token in the query"] = (f"{url}?access_token={token}", [])
            calls["a token in the path"] = (f"{url}%3Faccess_token={token}", [])
            calls["secrets in the query"] = (
                f"{url}?client_secret={secret}&password={secret}&sap-client=100",
                [("Authorization", f"Basic {creds}")],
            )
            guids = {}
            for shape, (target, headers) in calls.items():
                async with http.post(URL(target, encoded=True), data=b"{}", headers=CIMultiDict(headers)) as answer:
                    assert answer.status in (200, 400, 401), (shape, answer.status, await answer.text())
                    assert secret not in await answer.text()
                    guids[shape] = answer.headers.get("Cpimock-Message-Id") or answer.headers[MPL_ID_HEADER]
            await running.records()
            shown_by_api = []
            for guid in guids.values():
                for path in (
                    f"/monitor/api/messages/{guid}",
                    f"/api/v1/MessageProcessingLogs('{guid}')?cpimockRefusals=include",
                    f"/api/v1/MessageProcessingLogs('{guid}')/ErrorInformation/$value?cpimockRefusals=include",
                ):
                    async with http.get(running.url + path) as answer:
                        shown_by_api.append(await answer.text())
        records = {r.message_guid: r for r in await running.records()}
    by_shape = {shape: records[guid] for shape, guid in guids.items()}
    assert dict(by_shape["a tab after the scheme"].request_headers)["Authorization"] == "Basic ***"
    assert dict(by_shape["no scheme"].request_headers)["Authorization"] == "***"
    assert by_shape["the header twice"].response_status == 400
    assert by_shape["a token in the query"].request_query == "access_token=***"
    assert by_shape["a token in the path"].request_path == "/http/clientCertAuth?access_token=***"
    assert by_shape["secrets in the query"].request_query == "client_secret=***&password=***&sap-client=100"
    assert by_shape["several spaces"].response_status == by_shape["a lower-case scheme"].response_status == 200
    shown_by_cli = [
        CliRunner().invoke(main, ["messages", "show", guid, *extra, "--workspace", str(workspace)]).output
        for guid in guids.values()
        for extra in ((), ("--json",))
    ]
    places = {
        "the log": "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records),
        "the MPL database": b"".join(p.read_bytes() for p in workspace.glob("cpimock.db*")).decode("latin-1"),
        "the monitor and OData API": "\n".join(shown_by_api),
        "cpimock messages show": "\n".join(shown_by_cli),
    }
    secrets = {
        "the client secret": secret,
        "the Basic credentials": creds,
        "the Base64 after the break": creds[13:],
        "the token": token,
        "the token's signature": token.rsplit(".", 1)[1],
    }
    for place, text in places.items():
        for what, value in secrets.items():
            assert value not in text, f"{what} is in {place}"


# --- who may read the MPL -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "roles", "allowed"),
    [
        ("127.0.0.1:5000", (), True),
        ("127.8.9.10:5000", (), True),
        ("[::1]:5000", (), True),
        ("203.0.113.7:5000", (), False),
        ("[2001:db8::7]:5000", (), False),
        ("203.0.113.7:5000", ("ESBMessaging.send",), False),
        ("203.0.113.7:5000", ("MonitoringDataRead",), True),
        ("unknown", (), False),
    ],
)
async def test_the_monitor_answers_remote_callers_only_with_the_monitoring_role(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, address: str, roles: tuple[str, ...], allowed: bool
) -> None:
    config = workspace / "cpimock.toml"
    config.write_text(config.read_text() + '\n[instances.monitoring]\nroles = ["MonitoringDataRead"]\n')
    instance = "monitoring" if "MonitoringDataRead" in roles else "default"
    identity = Identity("certificate", key_name="k", instance=instance, roles=frozenset(roles))
    async with serving(workspace) as running:
        monkeypatch.setattr("cpimock.http.app.peer_of", lambda request, snapshot: Peer(address, None, identity))
        ctx = running.context(running.extract("demo-sender"))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as http:
            for path in ("/api/v1/MessageProcessingLogs", "/monitor", "/monitor/api/messages"):
                async with http.get(f"{running.url}{path}") as answer:
                    assert (answer.status == 200) is allowed, (path, answer.status)
                    if not allowed:
                        assert answer.status == 403


# --- --expose ------------------------------------------------------------------------------


def test_serve_refuses_a_non_loopback_host_without_expose(workspace: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cpimock",
            "serve",
            "--workspace",
            str(workspace),
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "error: --host 0.0.0.0 would expose the tenant" in done.stderr
    assert "--expose" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_exposure_needs_the_flag(host: str) -> None:
    with pytest.raises(CpimockError, match="--expose"):
        _check_exposure(host, False)
    _check_exposure(host, True)  # the twin: told to, it starts


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_flag(host: str) -> None:
    _check_exposure(host, False)
