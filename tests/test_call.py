"""``cpimock call``: success with each kind of authentication, and the plain-words diagnosis of each failure."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cpimock.cli import main
from cpimock.message import Message
from cpimock.pki.authority import build_certificate
from cpimock.pki.keys import cert_to_pem, generate_key, key_to_pem, now
from cpimock.pki.servicekey import certificate_details
from cpimock.pki.store import Pki
from cpimock.testing import ThreadedTenant
from cpimock.workspace.create import ensure_workspace


def answer(message: Message) -> Message:
    message.body = b"got " + message.body
    message.headers["SAP_MessageType"] = "Reply"
    return message


@pytest.fixture(scope="module")
def tenant() -> Iterator[ThreadedTenant]:
    with ThreadedTenant() as tenant:
        yield tenant


@pytest.fixture(autouse=True)
def _fresh(tenant: ThreadedTenant) -> None:
    tenant.clear()
    tenant.iflow("/orders", steps=[answer])


def call(tenant: ThreadedTenant, key: Path, *args: str, path: str = "/http/orders", trust: bool = True) -> Result:
    options = ["--cacert", str(tenant.ca_path)] if trust else []
    return CliRunner().invoke(main, ["call", tenant.url + path, "--key", str(key), *options, *args])


def hostile_key(folder: Path, name: str, pki: Pki, *, expired: bool = False, chain: bool = True) -> Path:
    """A Certificate service key the tenant's TLS layer refuses (expired, foreign or without its chain)."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = generate_key()
    start = now() - dt.timedelta(days=30 if expired else 1)
    cert = build_certificate(
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]),
        public_key=key.public_key(),
        issuer=pki.client_ca,
        not_before=start,
        not_after=start + dt.timedelta(days=10 if expired else 100),
        eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    certs = [cert, pki.client_ca.cert, pki.root.cert] if chain else [cert]
    data = {
        "oauth": {
            "clientid": f"sb-{name}",
            "certificate": b"".join(cert_to_pem(c) for c in certs).decode(),
            "key": key_to_pem(key).decode(),
            "url": "https://localhost",
            "tokenurl": "https://localhost/oauth/token",
            "certificatedetails": certificate_details(cert),
        }
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def foreign_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("foreign")
    ensure_workspace(root)
    return Pki.load(root / "certs")


# --- success with each kind of authentication ------------------------------------------------


def test_certificate(tenant: ThreadedTenant) -> None:
    result = call(tenant, tenant.demo_key.json_path, "-d", "ping", "-H", "Content-Type: text/plain")
    assert result.exit_code == 0, result.output
    [record] = tenant.messages(iflow="orders")
    assert result.stdout.splitlines()[0] == "HTTP 200 OK"
    assert f"SAP_MessageProcessingLogID: {record.message_guid}" in result.stdout
    assert "SAP_MessageType: Reply" in result.stdout
    assert result.stdout.endswith("got ping\n")
    assert (record.auth_method, record.service_key) == ("certificate", "demo-sender")


def test_basic_with_a_clientid_secret_key(tenant: ThreadedTenant) -> None:
    key = tenant.service_key("basic", key_type="clientid-secret")
    result = call(tenant, key.json_path, "-d", "ping")
    assert result.exit_code == 0, result.output
    assert tenant.messages(iflow="orders")[0].auth_method == "basic"


@pytest.mark.parametrize("kind", ["certificate", "clientid-secret"])
def test_oauth_token_then_call(tenant: ThreadedTenant, kind: str) -> None:
    key = tenant.service_key(f"oauth-{kind}", key_type=kind)  # type: ignore[arg-type]
    result = call(tenant, key.json_path, "--auth", "oauth", "-d", "ping")
    assert result.exit_code == 0, result.output
    assert "got an access token" in result.stderr
    assert tenant.messages(iflow="orders")[0].auth_method == "oauth"


def test_csrf_fetch_then_post(tenant: ThreadedTenant) -> None:
    tenant.iflow("/guarded", steps=[answer], csrf=True)
    refused = call(tenant, tenant.demo_key.json_path, "-d", "ping", path="/http/guarded")
    assert refused.exit_code == 1
    assert "add --csrf" in refused.stderr
    result = call(tenant, tenant.demo_key.json_path, "-d", "ping", "--csrf", path="/http/guarded")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("got ping\n")


def test_a_body_from_a_file(tenant: ThreadedTenant, tmp_path: Path) -> None:
    body = tmp_path / "order.xml"
    body.write_bytes(b"<order/>")
    result = call(tenant, tenant.demo_key.json_path, "-d", f"@{body}")
    assert result.stdout.endswith("got <order/>\n")


# --- diagnosis ----------------------------------------------------------------------------------


def test_expired_certificate(tenant: ThreadedTenant, tmp_path: Path) -> None:
    pki = tenant.server.snapshot.pki
    key = hostile_key(tmp_path, "expired", pki, expired=True)
    result = call(tenant, key, "-d", "x")
    assert result.exit_code == 1
    until = (now() - dt.timedelta(days=20)).strftime("%Y-%m-%d")
    assert f"the key's certificate expired on {until}" in result.stderr
    assert f"the server refused the client certificate: it expired on {until}" in result.stderr, result.stderr
    assert "create a new service key" in result.stderr


def test_certificate_of_a_foreign_ca(tenant: ThreadedTenant, tmp_path: Path, foreign_pki: Pki) -> None:
    key = hostile_key(tmp_path, "foreign", foreign_pki)
    result = call(tenant, key, "-d", "x")
    assert result.exit_code == 1
    assert "is an unknown CA there" in result.stderr
    assert "use a service key of this tenant" in result.stderr


def test_certificate_without_its_chain(tmp_path: Path) -> None:
    """Required client certificates: the handshake is refused, and call names the missing intermediate."""
    with ThreadedTenant(client_auth="required") as strict:
        strict.iflow("/orders", steps=[answer])
        key = hostile_key(tmp_path, "chainless", strict.server.snapshot.pki, chain=False)
        result = call(strict, key, "-d", "x")
    assert result.exit_code == 1
    assert "the chain is incomplete" in result.stderr
    assert "without its intermediate CA" in result.stderr


def test_certificate_without_its_chain_counts_as_none_where_certificates_are_optional(
    tenant: ThreadedTenant, tmp_path: Path
) -> None:
    """Optional client certificates: as SAP's load balancer, the tenant drops the chainless
    certificate and answers 401; call says why (SAP Help loio 4509f60, 7f84d16)."""
    key = hostile_key(tmp_path, "chainless", tenant.server.snapshot.pki, chain=False)
    result = call(tenant, key, "-d", "x")
    assert result.exit_code == 1
    assert "HTTP 401" in result.stdout
    assert "came without its intermediate CA certificate" in result.stdout
    assert "went without its intermediate CA" in result.stderr
    assert "load balancer" in result.stderr


def test_the_same_certificate_with_its_chain_is_accepted_at_tls(tenant: ThreadedTenant, tmp_path: Path) -> None:
    # the twin of the two above: TLS lets it in; as it maps to no service key, the answer is 401
    key = hostile_key(tmp_path, "unmapped", tenant.server.snapshot.pki)
    result = call(tenant, key, "-d", "x")
    assert "HTTP 401" in result.stdout
    assert "belongs to no service key of this tenant" in result.stderr
    assert "(A missing role would be 403.)" in result.stderr


def test_key_without_the_role(tenant: ThreadedTenant) -> None:
    key = tenant.service_key("no-role", roles=[])
    result = call(tenant, key.json_path, "-d", "x")
    assert result.exit_code == 1
    assert "HTTP 403 Forbidden" in result.stdout
    assert "lacks the role the iFlow's sender channel asks for" in result.stderr


def test_untrusted_server_certificate_names_the_root_to_add(tenant: ThreadedTenant) -> None:
    result = call(tenant, tenant.demo_key.json_path, "-d", "x", trust=False)
    assert result.exit_code == 1
    assert "the server's certificate is not trusted here (issued by CN=cpimock" in result.stderr
    assert f"add --cacert {tenant.ca_path}" in result.stderr


def test_url_without_the_http_prefix(tenant: ThreadedTenant) -> None:
    result = call(tenant, tenant.demo_key.json_path, "-d", "x", path="/orders")
    assert result.exit_code == 1
    expected = f"iFlow endpoints are under /http/ (HTTPS) and /cxf/ (SOAP, IDoc); try {tenant.url}/http/orders"
    assert expected in result.stderr


def test_unknown_address_under_http(tenant: ThreadedTenant) -> None:
    result = call(tenant, tenant.demo_key.json_path, "-d", "x", path="/http/nowhere")
    assert "no iFlow is deployed at this address" in result.stderr


def test_http_url_says_https_only(tenant: ThreadedTenant) -> None:
    url = tenant.url.replace("https://", "http://") + "/http/orders"
    result = CliRunner().invoke(main, ["call", url, "--key", str(tenant.demo_key.json_path)])
    assert result.exit_code == 1
    assert "answers on HTTPS only; use https://" in result.stderr
    assert tenant.messages() == []


def test_unreachable_port(tenant: ThreadedTenant) -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = CliRunner().invoke(
        main, ["call", f"https://127.0.0.1:{port}/http/orders", "--key", str(tenant.demo_key.json_path)]
    )
    assert result.exit_code == 1
    assert f"nothing listens at 127.0.0.1:{port} (connection refused)" in result.stderr


def test_missing_and_malformed_keys(tenant: ThreadedTenant, tmp_path: Path) -> None:
    missing = call(tenant, tmp_path / "nope.json")
    assert missing.exit_code == 1
    assert "no such file; give the path of the service key JSON" in missing.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"oauth": {"clientid": ')
    malformed = call(tenant, broken)
    assert malformed.exit_code == 1
    assert str(broken) in malformed.stderr
    assert "Traceback" not in malformed.output


def test_a_secret_key_cannot_use_a_certificate(tenant: ThreadedTenant) -> None:
    key = tenant.service_key("secret-only", key_type="clientid-secret")
    result = call(tenant, key.json_path, "--auth", "cert")
    assert result.exit_code == 1
    assert "use --auth basic or --auth oauth" in result.stderr


def test_bad_header_syntax(tenant: ThreadedTenant) -> None:
    result = call(tenant, tenant.demo_key.json_path, "-H", "no colon")
    assert result.exit_code == 1
    assert "write a header as 'Name: value'" in result.stderr


# -- SOAP and IDoc files ---------------------------------------------------------------------------

SAMPLES = Path(__file__).parent / "adapters" / "samples"


def soap_answer(message: Message) -> Message:
    message.body = f'<r:Ok xmlns:r="urn:r" action="{message.headers.get("SOAPAction")}">{message.text}</r:Ok>'
    return message


def idoc_number(message: Message) -> Message:
    message.log.add_custom_header("number", message.headers["SapIDocTransferId"])
    return message


def test_soap_posts_an_envelope_or_wraps_a_payload(tenant: ThreadedTenant, tmp_path: Path) -> None:
    tenant.iflow("/soap", steps=[soap_answer], adapter="soap")
    payload = tmp_path / "order.xml"
    payload.write_text('<o:Order xmlns:o="urn:acme">4711</o:Order>')
    result = call(tenant, tenant.demo_key.json_path, "--soap", str(payload), "--soap-action", "urn:a", path="/cxf/soap")
    assert result.exit_code == 0, result.output
    assert "HTTP 200 OK" in result.output
    assert "Content-Type: text/xml; charset=utf-8" in result.output
    assert '<r:Ok xmlns:r="urn:r" action="urn:a"><o:Order xmlns:o="urn:acme">4711</o:Order></r:Ok>' in result.output
    twelve = call(tenant, tenant.demo_key.json_path, "--soap", str(payload), "--soap-version", "1.2", path="/cxf/soap")
    assert twelve.exit_code == 0, twelve.output
    assert "application/soap+xml; charset=utf-8" in twelve.output


def test_soap_explains_a_fault(tenant: ThreadedTenant, tmp_path: Path) -> None:
    tenant.iflow("/soap", steps=[soap_answer], adapter="soap")
    rpc = tmp_path / "rpc.xml"
    rpc.write_text(
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><m:Get xmlns:m="urn:m"/></s:Body>'
        "</s:Envelope>"
    )
    result = call(tenant, tenant.demo_key.json_path, "--soap", str(rpc), path="/cxf/soap")
    assert result.exit_code == 1
    assert "error: 500: SOAP fault soap:Client (message processing log AG" in result.output
    assert "the request failed: the message declares encodingStyle" in result.output


def test_idoc_posts_an_idoc_as_an_xml_http_port_does(tenant: ThreadedTenant) -> None:
    flow = tenant.iflow("/idoc", steps=[idoc_number], adapter="idoc")
    for name in ("ORDERS05.soap.xml", "MATMAS05.latin1.xml"):
        result = call(tenant, tenant.demo_key.json_path, "--idoc", str(SAMPLES / "idoc" / name), path="/cxf/idoc")
        assert result.exit_code == 0, result.output
        assert "HTTP 200 OK" in result.output
    records = tenant.messages(iflow=flow.id)
    assert [r.application_message_id for r in records] == ["0000000000471101", "0000000000471401"]


def test_soap_and_idoc_refuse_what_is_not_one_message(tenant: ThreadedTenant, tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text("<o:Order")
    result = call(tenant, tenant.demo_key.json_path, "--idoc", str(broken), path="/cxf/idoc")
    assert result.exit_code == 1
    assert "is not well-formed XML" in result.output
    assert "Traceback" not in result.output
    both = call(tenant, tenant.demo_key.json_path, "--idoc", str(broken), "-d", "x", path="/cxf/idoc")
    assert "error: -d and --soap/--idoc: give the body one way" in both.output


def test_unknown_address_under_cxf(tenant: ThreadedTenant) -> None:
    result = call(tenant, tenant.demo_key.json_path, "-d", "x", path="/cxf/nowhere")
    assert result.exit_code == 1
    assert "SOAP and IDoc under /cxf/" in result.output
