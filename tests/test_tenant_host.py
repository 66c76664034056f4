"""``[tenant] host``: the keys' ``url`` and ``tokenurl``, the server certificate's names, and Cloud
Foundry's router 404 for a ``Host`` that names no route of the tenant, over real TLS.

Sources (docs/fidelity.md): SAP Help *Creating Service Instance and Service Key for Inbound
Authentication* (loio 19af5e2, the key's ``url`` is the ``-rt`` runtime host, ``tokenurl`` the
``authentication`` host on the bare region), *Configure Communication with Client Certificate*
and the OData API pages (the API host without ``-rt``); Cloud Foundry's gorouter
(``handleMissingRoute``: ``404 Not Found: Requested route ('<host>') does not exist.``,
``X-Cf-Routererror: unknown_route``), which fronts every CPI tenant.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st

from cpimock.cli import main
from cpimock.config import load_config
from cpimock.config.hosts import TenantHosts, host_name, valid_host_name
from cpimock.message import Message
from cpimock.tenant.snapshot import build_snapshot
from cpimock.testing import ThreadedTenant
from cpimock.workspace.keys import point_keys
from cpimock.workspace.registry import Registry
from tests import e2e_support

HOST = "mytenant.it-cpi018-rt.cfapps.eu10-003.hana.ondemand.com"
API = "mytenant.it-cpi018.cfapps.eu10-003.hana.ondemand.com"
TOKEN = "mytenant.authentication.eu10.hana.ondemand.com"
TOKEN_CERT = "mytenant.authentication.cert.eu10.hana.ondemand.com"

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


def cli(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def san_names(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {*san.get_values_for_type(x509.DNSName), *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))}


def oauth_of(path: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads(path.read_text())["oauth"]
    return data


# --- keys and the server certificate --------------------------------------------------


def test_init_with_a_tenant_host_gives_keys_the_runtime_and_token_hosts(tmp_path: Path) -> None:
    """BTP's key: url on the -rt host (region with its -00x), tokenurl on the authentication
    host of the bare region; Certificate keys name the mTLS token host (authentication.cert)."""
    ws = tmp_path / "ws"
    code, out = cli("init", ws, "--tenant-host", HOST.upper())
    assert code == 0, out
    assert f"127.0.0.1 {HOST} {API} {TOKEN} {TOKEN_CERT}" in out
    demo = oauth_of(ws / "certs/keys/demo-sender.json")
    assert demo["url"] == f"https://{HOST}:8443"
    assert demo["tokenurl"] == f"https://{TOKEN_CERT}:8443/oauth/token"
    code, out = cli("servicekey", "create", "s4", "--key-type", "clientid-secret", "-w", ws)
    assert code == 0, out
    secret = oauth_of(ws / "certs/keys/s4.json")
    assert secret["url"] == f"https://{HOST}:8443"
    assert secret["tokenurl"] == f"https://{TOKEN}:8443/oauth/token"
    assert {HOST, API, TOKEN, TOKEN_CERT, "localhost", "127.0.0.1", "::1"} == san_names(ws / "certs/server.pem")
    assert f'host = "{HOST}"' in (ws / "cpimock.toml").read_text()


def test_without_a_tenant_host_keys_carry_localhost(workspace: Path) -> None:
    demo = oauth_of(workspace / "certs/keys/demo-sender.json")
    assert demo["url"] == "https://localhost:8443"
    assert demo["tokenurl"] == "https://localhost:8443/oauth/token"
    assert "hana.ondemand.com" not in " ".join(san_names(workspace / "certs/server.pem"))


def test_a_host_of_ones_own_carries_everything_and_port_443_is_left_out(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert cli("init", ws, "--tenant-host", "cpi.test.example")[0] == 0
    config = load_config(ws / "cpimock.toml")
    hosts = TenantHosts.of(config)
    assert hosts.base_url(443) == "https://cpi.test.example"
    assert hosts.token_url(443, certificate=True) == "https://cpi.test.example/oauth/token"
    assert hosts.certificate_names() == ["cpi.test.example"]


def test_a_changed_tenant_host_issues_the_server_certificate_anew(workspace: Path) -> None:
    before = (workspace / "certs/server.pem").read_bytes()
    build_snapshot(workspace)
    assert (workspace / "certs/server.pem").read_bytes() == before  # unchanged names: kept
    assert cli("init", workspace, "--tenant-host", "first.it-cpi023-rt.cfapps.eu20-001.hana.ondemand.com")[0] == 0
    assert "first.it-cpi023-rt.cfapps.eu20-001.hana.ondemand.com" in san_names(workspace / "certs/server.pem")
    assert "first.authentication.eu20.hana.ondemand.com" in san_names(workspace / "certs/server.pem")
    text = (workspace / "cpimock.toml").read_text().replace("first.", "second.")
    (workspace / "cpimock.toml").write_text(text)
    snapshot = build_snapshot(workspace)  # what serve and a reload do
    names = san_names(workspace / "certs/server.pem")
    assert "second.it-cpi023-rt.cfapps.eu20-001.hana.ondemand.com" in names
    assert not any(n.startswith("first.") for n in names)
    assert snapshot.host_routes is not None
    assert "second.it-cpi023.cfapps.eu20-001.hana.ondemand.com" in snapshot.host_routes


def test_keys_follow_the_served_port_but_imported_and_revoked_keys_do_not(workspace: Path) -> None:
    assert cli("servicekey", "create", "gone", "-w", workspace)[0] == 0
    assert cli("servicekey", "revoke", "gone", "-w", workspace)[0] == 0
    config = load_config(workspace / "cpimock.toml")
    registry = Registry.load(config.certs_dir)
    imported = workspace / "certs/keys/imported.json"
    shutil.copy(workspace / "certs/keys/demo-sender.json", imported)
    moved = point_keys(config, registry, 9443)
    assert moved == ["demo-sender"]
    assert oauth_of(workspace / "certs/keys/demo-sender.json")["url"] == "https://localhost:9443"
    assert oauth_of(workspace / "certs/keys/gone.json")["url"] == "https://localhost:8443"
    assert oauth_of(imported)["url"] == "https://localhost:8443"  # not one of the registry's files
    # a key created afterwards carries the port served last, not [server] port
    assert cli("servicekey", "create", "later", "-w", workspace)[0] == 0
    assert oauth_of(workspace / "certs/keys/later.json")["tokenurl"] == "https://localhost:9443/oauth/token"
    assert point_keys(load_config(workspace / "cpimock.toml"), Registry.load(config.certs_dir), 9443) == []


def test_a_tenant_host_that_is_no_host_name_is_one_line(workspace: Path) -> None:
    for bad in ("https://mytenant.example", "mytenant.example:8443", "127.0.0.1", "no_underscores.example", "x"):
        code, out = cli("init", workspace, "--tenant-host", bad)
        assert code == 1
        [line] = out.strip().splitlines()
        assert "--tenant-host" in line
        assert "not a host name" in line
    text = (workspace / "cpimock.toml").read_text().replace("[tenant]", '[tenant]\nhost = "https://x.example"', 1)
    (workspace / "cpimock.toml").write_text(text)
    code, out = cli("servicekey", "list", "-w", workspace)
    assert code == 1
    assert "tenant.host: must be a host name" in out.strip()


def test_postman_calls_the_production_url_when_a_tenant_host_is_set(tmp_path: Path) -> None:
    def base_url(ws: Path) -> str:
        code, out = cli("postman", "-w", ws, "--out", ws / "postman")
        assert code == 0, out
        [environment] = (ws / "postman").glob("*.postman_environment.json")
        [value] = [v["value"] for v in json.loads(environment.read_text())["values"] if v["key"] == "baseUrl"]
        return str(value)

    hosted, plain = tmp_path / "hosted", tmp_path / "plain"
    assert cli("init", hosted, "--tenant-host", HOST)[0] == 0
    assert cli("init", plain)[0] == 0
    assert base_url(hosted) == f"https://{HOST}:8443"
    assert base_url(plain) == "https://127.0.0.1:8443"


# --- over TLS: the router's 404, the certificate's names ------------------------------


def greet(message: Message) -> Message:
    message.body = b"hello from the tenant"
    return message


@pytest.fixture(scope="module")
def hosted() -> Iterator[ThreadedTenant]:
    with ThreadedTenant(host=HOST) as tenant:
        tenant.iflow("/greet", steps=[greet])
        yield tenant


def curl(tenant: ThreadedTenant, host: str, *extra: str, path: str = "/http/greet") -> tuple[str, str]:
    key = tenant.demo_key
    command = [
        "curl", "-sS", "-i", "--cacert", str(tenant.ca_path), "--cert", str(key.cert_path), "--key", str(key.key_path),
        "--resolve", f"{host}:{tenant.port}:127.0.0.1", *extra, f"https://{host}:{tenant.port}{path}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    return done.stdout, done.stderr


@needs_curl
def test_curl_at_the_production_url_reaches_the_iflow(hosted: ThreadedTenant) -> None:
    out, err = curl(hosted, HOST)
    assert out.startswith("HTTP/1.1 200"), out + err
    assert out.endswith("hello from the tenant")
    assert hosted.demo_key.data["oauth"]["url"] == f"https://{HOST}:{hosted.port}"
    # loopback names stay served: the address a sender uses without the hosts file
    local, err = curl(hosted, "localhost")
    assert local.startswith("HTTP/1.1 200"), local + err


@needs_curl
def test_a_host_that_names_no_route_gets_the_routers_404_and_is_recorded(hosted: ThreadedTenant) -> None:
    hosted.clear()
    hosted.iflow("/greet", steps=[greet])
    # the certificate does not name it, so curl is told not to check the name; the router answers first
    out, err = curl(hosted, "othertenant.it-cpi018-rt.cfapps.eu10-003.hana.ondemand.com", "-k")
    head, _, body = out.partition("\n\n")
    assert head.startswith("HTTP/1.1 404"), out + err
    assert "x-cf-routererror: unknown_route" in head.lower()
    expected = (
        f"Requested route ('othertenant.it-cpi018-rt.cfapps.eu10-003.hana.ondemand.com:{hosted.port}') does not exist."
    )
    assert body == f"404 Not Found: {expected}\n"
    [record] = hosted.messages()
    assert record.response_status == 404
    assert record.refusal_stage == "routing"
    assert record.refusal_reason == expected
    # the same with a forged Host on a loopback connection, also for the API and token paths
    for path in ("/api/v1/MessageProcessingLogs", "/oauth/token", "/http/greet"):
        out, _ = curl(hosted, "localhost", "-H", "Host: evil.example", path=path)
        assert out.startswith("HTTP/1.1 404"), out
        assert "Requested route ('evil.example') does not exist." in out


def test_python_verifies_every_tenant_name_and_refuses_another(hosted: ThreadedTenant) -> None:
    context = hosted.demo_key.ssl_context()
    for name in (HOST, API, TOKEN, TOKEN_CERT):
        with (
            socket.create_connection(("127.0.0.1", hosted.port)) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            tls.sendall(f"GET /http/greet HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), (name, answer[:200])
    with (
        socket.create_connection(("127.0.0.1", hosted.port)) as raw,
        pytest.raises(ssl.SSLCertVerificationError, match=r"mismatch|doesn't match"),
    ):
        context.wrap_socket(raw, server_hostname="othertenant.it-cpi018-rt.cfapps.eu10-003.hana.ondemand.com")


@needs_openssl
def test_openssl_sees_the_tenant_host_in_the_certificate(hosted: ThreadedTenant) -> None:
    key = hosted.demo_key
    command = [
        "openssl", "s_client", "-connect", f"127.0.0.1:{hosted.port}", "-servername", HOST, "-verify_hostname", HOST,
        "-CAfile", str(hosted.ca_path), "-cert", str(key.cert_path), "-key", str(key.key_path), "-verify_return_error",
    ]  # fmt: skip
    done = subprocess.run(command, input="", capture_output=True, text=True, timeout=60)
    assert "Verify return code: 0 (ok)" in done.stdout, done.stdout + done.stderr
    other = [*command[:6], "-verify_hostname", "othertenant.example", *command[8:]]
    done = subprocess.run(other, input="", capture_output=True, text=True, timeout=60)
    assert "Verify return code: 0 (ok)" not in done.stdout
    assert "hostname mismatch" in done.stdout + done.stderr


@needs_curl
def test_without_a_tenant_host_every_host_is_served() -> None:
    with ThreadedTenant() as tenant:
        tenant.iflow("/greet", steps=[greet])
        out, err = curl(tenant, "localhost", "-H", "Host: evil.example")
        assert out.startswith("HTTP/1.1 200"), out + err
        assert tenant.demo_key.data["oauth"]["url"] == f"https://localhost:{tenant.port}"


def raw_exchange(tenant: ThreadedTenant, request: bytes) -> tuple[str, str]:
    """*request* sent as it is; the answer's head and body."""
    head, _, body = e2e_support.raw_exchange(tenant, request).partition("\r\n\r\n")
    return head, body


NO_HOST_11 = b"POST /http/greet HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
NO_HOST_TEXT = "400 Bad Request: the request is not valid HTTP/1.1: HTTP/1.1 requires a Host header\n"


def test_an_http11_request_without_host_gets_400_and_is_recorded(hosted: ThreadedTenant) -> None:
    """RFC 9112: a server MUST answer 400 to an HTTP/1.1 request without Host (Go's net/http, on
    which Cloud Foundry's router runs, does so before routing); the connection is closed."""
    hosted.clear()
    hosted.iflow("/greet", steps=[greet])
    head, body = raw_exchange(hosted, NO_HOST_11)  # read until the server closes
    assert head.split("\r\n", 1)[0].endswith(" 400 Bad Request"), head
    assert body == NO_HOST_TEXT
    [record] = hosted.messages()
    assert (record.refusal_stage, record.refusal_reason) == (
        "http",
        "the request is not valid HTTP/1.1: HTTP/1.1 requires a Host header",
    )
    assert (record.auth_method, record.service_key) == ("certificate", "demo-sender")  # the caller is known
    # the twin: the same request with a Host is served
    head, body = raw_exchange(hosted, b"POST /http/greet HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), head
    assert body == "hello from the tenant"


@needs_curl
def test_curl_without_host_gets_400_with_or_without_a_tenant_host(hosted: ThreadedTenant) -> None:
    out, err = curl(hosted, "localhost", "-H", "Host:")  # curl leaves the header out
    assert " 400 Bad Request" in out.split("\n", 1)[0], out + err
    assert out.endswith(NO_HOST_TEXT)
    with ThreadedTenant() as plain:
        plain.iflow("/greet", steps=[greet])
        out, err = curl(plain, "localhost", "-H", "Host:")
        assert " 400 Bad Request" in out.split("\n", 1)[0], out + err
        out, err = curl(plain, "localhost")
        assert out.startswith("HTTP/1.1 200"), out + err


def test_an_empty_host_gets_the_routers_400_when_a_tenant_host_is_set(hosted: ThreadedTenant) -> None:
    """gorouter's handleMissingHost: HTTP/1.0 needs no Host, but the router cannot route without
    one: 400 with ``X-Cf-Routererror: empty_host``; so does an HTTP/1.1 ``Host:`` with no value."""
    hosted.clear()
    hosted.iflow("/greet", steps=[greet])
    for request in (
        b"POST /http/greet HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
        b"POST /http/greet HTTP/1.1\r\nHost: \r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    ):
        head, body = raw_exchange(hosted, request)
        assert head.split("\r\n", 1)[0].endswith("400 Bad Request"), head
        assert "x-cf-routererror: empty_host" in head.lower()
        assert body == "400 Bad Request: Request had empty Host header\n"
    records = hosted.messages()
    assert [r.refusal_stage for r in records] == ["routing", "routing"]
    assert all(r.refusal_reason == "Request had empty Host header" for r in records)


def test_without_a_tenant_host_an_http10_request_without_host_is_served() -> None:
    with ThreadedTenant() as tenant:
        tenant.iflow("/greet", steps=[greet])
        head, body = raw_exchange(tenant, b"POST /http/greet HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
        assert head.startswith("HTTP/1.0 200"), head
        assert body == "hello from the tenant"
        _, body = raw_exchange(tenant, NO_HOST_11)  # HTTP/1.1 requires it all the same
        assert body == NO_HOST_TEXT


# --- the parsers --------------------------------------------------------------------------


@given(st.text(max_size=300))
def test_host_name_never_fails_and_the_route_check_fails_closed(value: str) -> None:
    name = host_name(value)
    assert name == name.lower()
    routes = TenantHosts(HOST, API, TOKEN, TOKEN_CERT).routes()
    if name in routes:  # only a tenant name or a loopback name, with at most a port
        assert value.strip().lower().startswith((name, f"[{name}]"))


@given(
    st.lists(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True), min_size=2, max_size=5),
    st.integers(1, 65535),
)
def test_a_valid_name_with_a_port_is_read_back(labels: list[str], port: int) -> None:
    name = ".".join(labels)
    if labels[-1].isdigit():
        assert not valid_host_name(name)
        return
    assert valid_host_name(name)
    assert host_name(f"{name.upper()}:{port}") == name
    assert host_name(name + ".") == name


@given(st.text(max_size=300))
def test_valid_host_name_never_fails(value: str) -> None:
    if valid_host_name(value):
        assert value == value.lower()
        assert "/" not in value
        assert ":" not in value


# --- the command line: serve --port, serve --tenant-host -------------------------------------


def serve(root: Path, *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    """``cpimock serve`` as a process on any free port; returns it and its banner (up to "Press Ctrl-C")."""
    command = [sys.executable, "-m", "cpimock", "serve", "--workspace", str(root), "--port", "0", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    banner = []
    for line in process.stdout:
        banner.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl-C"):
            break
    return process, banner


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)


def test_serve_on_another_port_moves_the_keys_so_oauth_needs_no_token_url(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    assert cli("init", root)[0] == 0
    process, banner = serve(root)
    try:
        [moved] = [line for line in banner if line.startswith("Service keys now carry")]
        port = int(moved.split("https://localhost:", 1)[1].split(" ", 1)[0])
        assert moved.endswith(": demo-sender")
        assert oauth_of(root / "certs/keys/demo-sender.json")["tokenurl"] == f"https://localhost:{port}/oauth/token"
        key, ca = root / "certs/keys/demo-sender.json", root / "certs/root-ca.pem"
        url = f"https://localhost:{port}/http/clientCertAuth"
        code, out = cli("call", url, "--key", key, "--cacert", ca, "--auth", "oauth", "-d", '{"name": "Ada"}')
        assert code == 0, out
        assert "HTTP 200" in out
        # the twin: a key that still names the old port finds no token endpoint there
        stale = tmp_path / "stale.json"
        data = json.loads(key.read_text())
        data["oauth"]["tokenurl"] = "https://localhost:1/oauth/token"
        stale.write_text(json.dumps(data))
        code, out = cli("call", url, "--key", stale, "--cacert", ca, "--auth", "oauth", "-d", "x")
        assert code == 1
        assert "HTTP 200" not in out
    finally:
        stop(process)


def test_serve_with_a_tenant_host_prints_the_hosts_line_and_resolving_curl(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    # listening on every address, so that 127.0.0.2 reaches it: a loopback address that is no route
    process, banner = serve(root, "--tenant-host", HOST, "--host", "0.0.0.0", "--expose")
    try:
        text = "\n".join(banner)
        assert f"Tenant host: {HOST}; other hosts get the router's 404" in text
        assert f"  127.0.0.1 {HOST} {API} {TOKEN} {TOKEN_CERT}" in text
        [curl_line] = [line for line in banner if "/http/clientCertAuth" in line and line.lstrip().startswith("curl")]
        port = int(curl_line.split(f"https://{HOST}:", 1)[1].split("/", 1)[0])
        assert f"--resolve {HOST}:{port}:127.0.0.1" in curl_line
        assert oauth_of(root / "certs/keys/demo-sender.json")["url"] == f"https://{HOST}:{port}"
        # cpimock call at a host the tenant does not serve: the router's 404, explained
        key, ca = root / "certs/keys/demo-sender.json", root / "certs/root-ca.pem"
        # the certificate does not name 127.0.0.2 either: --insecure lets the call reach the router
        trust = ["--key", key, "--cacert", ca, "--insecure"]
        code, out = cli("call", f"https://127.0.0.2:{port}/http/clientCertAuth", *trust, "-d", "x")
        assert code == 1
        assert "no tenant answers at host 127.0.0.2" in out
        code, out = cli("call", f"https://127.0.0.1:{port}/http/clientCertAuth", *trust, "-d", "{}")
        assert code == 0, out
    finally:
        stop(process)


@needs_curl
def test_the_curl_line_of_extract_reaches_the_tenant_host_as_printed(
    hosted: ThreadedTenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    key = hosted.root / "certs/keys/demo-sender.json"
    code, out = cli("servicekey", "extract", key, "--out", "demo", "-w", hosted.root)
    assert code == 0, out
    [line] = [row.strip() for row in out.splitlines() if row.strip().startswith("curl ")]
    assert f"--resolve {HOST}:{hosted.port}:127.0.0.1" in line
    done = subprocess.run([*shlex.split(line), "-sS"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert "Caller: service key demo-sender" in done.stdout, done.stdout + done.stderr  # the demo iFlow
    # the twin: a workspace without a tenant host prints a plain line
    plain = tmp_path / "plain"
    assert cli("init", plain)[0] == 0
    code, out = cli("servicekey", "extract", plain / "certs/keys/demo-sender.json", "--out", "plain-demo", "-w", plain)
    assert code == 0, out
    assert "--resolve" not in out
