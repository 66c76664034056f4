"""Issue 6 end to end: certificate, Basic and OAuth callers of one iFlow, every refusal, CSRF and `auto`.

Served by the public testing API (:class:`cpimock.testing.Tenant`), as a sender's own tests would
serve it: its keys, its iFlows, its MPL.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256

from cpimock.identity.basic import NOT_ACCEPTED
from cpimock.identity.tokens import TokenAuthority, load_signing_key
from cpimock.testing import Tenant, TenantKey

DEMO = "/http/clientCertAuth"
# the secret keys the fixture issues: asking the tenant again with the same arguments gives the same key
SECRET_KEYS: dict[str, dict[str, Any]] = {
    "basic-sender": {"key_type": "clientid-secret"},
    "other-sender": {"key_type": "clientid-secret"},
    "monitor-reader": {"roles": ["MonitoringDataRead"], "key_type": "clientid-secret"},
}


def basic(clientid: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{clientid}:{secret}".encode()).decode()


def b64url(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
async def tenant() -> AsyncIterator[Tenant]:
    """A test tenant with two secret keys, a key of an instance without the send role, and more iFlows."""
    async with Tenant() as t:
        demo = f"{t.root / 'iflows' / 'demo.py'}:process"
        t.iflow("/certOnly", [demo], auth_methods=["certificate"])
        t.iflow("/protected", [demo], csrf=True)
        for name, kind in SECRET_KEYS.items():
            t.service_key(name, **kind)
        assert t.server.snapshot.client_auth == "optional"
        yield t


def key(tenant: Tenant, name: str) -> TenantKey:
    """A key the fixture issued, or the workspace's demo key."""
    return tenant.demo_key if name == "demo-sender" else tenant.service_key(name, **SECRET_KEYS[name])


def secret_of(tenant: Tenant, name: str) -> tuple[str, str]:
    return key(tenant, name).basic


def session(tenant: Tenant, presenting: TenantKey | None = None, **kwargs: Any) -> aiohttp.ClientSession:
    """A client session trusting the tenant, presenting that key's certificate when given."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tenant.ssl_context(presenting)), **kwargs)


async def post(
    tenant: Tenant,
    path: str = DEMO,
    *,
    presenting: TenantKey | None = None,
    headers: dict[str, str] | None = None,
    body: bytes = b'{"name": "Ada"}',
) -> tuple[int, dict[str, str], str]:
    async with (
        session(tenant, presenting) as client,
        client.post(tenant.url + path, data=body, headers=headers or {}) as response,
    ):
        return response.status, dict(response.headers), await response.text()


async def token_with_secret(tenant: Tenant, name: str) -> dict[str, Any]:
    clientid, secret = secret_of(tenant, name)
    async with (
        session(tenant) as client,
        client.post(
            tenant.url + "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": basic(clientid, secret)},
        ) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.json()  # type: ignore[no-any-return]


async def token_with_certificate(tenant: Tenant, name: str) -> tuple[int, dict[str, Any]]:
    certificate_key = key(tenant, name)
    async with (
        session(tenant, certificate_key) as client,
        client.post(
            tenant.url + "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": certificate_key.clientid},
        ) as response,
    ):
        return response.status, await response.json()


async def records_by_guid(tenant: Tenant) -> dict[str, Any]:
    return {r.message_guid: r for r in tenant.messages()}


# --- the same iFlow, three ways in ----------------------------------------------------------------


async def test_certificate_basic_and_oauth_callers_all_get_200(tenant: Tenant) -> None:
    clientid, secret = secret_of(tenant, "basic-sender")
    by_cert = await post(tenant, presenting=tenant.demo_key)
    by_basic = await post(tenant, headers={"Authorization": basic(clientid, secret)})
    token = await token_with_secret(tenant, "basic-sender")
    by_secret_token = await post(tenant, headers={"Authorization": f"Bearer {token['access_token']}"})
    status, cert_token = await token_with_certificate(tenant, "demo-sender")
    assert status == 200
    by_cert_token = await post(tenant, headers={"Authorization": f"Bearer {cert_token['access_token']}"})
    for status, _, text in (by_cert, by_basic, by_secret_token, by_cert_token):
        assert status == 200
        assert text.startswith("Hello Ada")
    assert "service key demo-sender" in by_cert[2]
    assert "service key basic-sender" in by_basic[2]
    assert "service key basic-sender" in by_secret_token[2]
    assert "service key demo-sender" in by_cert_token[2]
    # the user name the iFlow sees (and hands back) is the key's clientid for Basic and OAuth alike
    assert by_basic[1]["SapAuthenticatedUserName"] == by_secret_token[1]["SapAuthenticatedUserName"] == clientid
    records = await records_by_guid(tenant)
    methods = [
        (
            records[r[1]["SAP_MessageProcessingLogID"]].auth_method,
            records[r[1]["SAP_MessageProcessingLogID"]].service_key,
        )
        for r in (by_cert, by_basic, by_secret_token, by_cert_token)
    ]
    assert methods == [
        ("certificate", "demo-sender"),
        ("basic", "basic-sender"),
        ("oauth", "basic-sender"),
        ("oauth", "demo-sender"),
    ]
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 3600
    assert any(s.endswith(".ESBMessaging.send") for s in token["scope"].split())


async def test_a_token_validates_with_pyjwt_against_the_served_jwks(tenant: Tenant) -> None:
    token = (await token_with_secret(tenant, "basic-sender"))["access_token"]
    async with session(tenant) as client, client.get(tenant.url + "/token_keys") as response:
        assert response.status == 200
        jwks = await response.json()
    key_set = pyjwt.PyJWKSet.from_dict(jwks)
    kid = pyjwt.get_unverified_header(token)["kid"]
    key = next(k for k in key_set.keys if k.key_id == kid)
    clientid, _ = secret_of(tenant, "basic-sender")
    claims = pyjwt.decode(
        token, key.key, algorithms=["RS256"], audience=clientid, options={"require": ["exp", "iat", "iss", "aud"]}
    )
    assert claims["client_id"] == clientid
    assert claims["grant_type"] == "client_credentials"
    assert any(s.endswith(".ESBMessaging.send") for s in claims["scope"])
    # the rejecting twin: one changed claim and PyJWT refuses it too
    head, payload, sig = token.split(".")
    forged = json.loads(unb64url(payload)) | {"client_id": "someone-else"}
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(f"{head}.{b64url(forged)}.{sig}", key.key, algorithms=["RS256"], audience=clientid)


# --- every refusal of issue 6 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b"sb-x:").decode(),
        "Basic",
        "Basic YWJj",  # "abc" without padding trouble but without a colon
        "Digest username=x",
    ],
)
async def test_malformed_authorization_headers_get_401(tenant: Tenant, header: str) -> None:
    status, headers, text = await post(tenant, headers={"Authorization": header})
    assert status == 401, text
    assert "Hello" not in text
    rec = (await records_by_guid(tenant))[headers["Cpimock-Message-Id"]]
    assert (rec.status, rec.refusal_stage) == ("FAILED", "auth")


async def test_a_secret_with_a_trailing_newline_gets_401(tenant: Tenant) -> None:
    clientid, secret = secret_of(tenant, "basic-sender")
    status, headers, text = await post(tenant, headers={"Authorization": basic(clientid, secret + "\n")})
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="SAP Cloud Integration"'
    assert "line break" in text
    # its twin: the same secret without the newline
    assert (await post(tenant, headers={"Authorization": basic(clientid, secret)}))[0] == 200


async def test_an_unknown_clientid_and_a_wrong_secret_get_the_same_401(
    tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cpimock.identity.callers")
    clientid, secret = secret_of(tenant, "basic-sender")
    revoked_id, revoked_secret = secret_of(tenant, "other-sender")
    key(tenant, "other-sender").revoke()
    cases = {
        "no service key has this clientid": basic("sb-nobody|it-rt-mytenant!b1", secret),
        "wrong secret for service key 'basic-sender'": basic(clientid, "not-the-secret"),
        "service key 'other-sender' is revoked": basic(revoked_id, revoked_secret),
        "service key 'demo-sender' is a certificate key without a secret": basic(tenant.demo_key.clientid, "anything"),
    }
    answers = [await post(tenant, headers={"Authorization": header}) for header in cases.values()]
    assert {(status, headers.get("WWW-Authenticate"), text) for status, headers, text in answers} == {
        (401, 'Basic realm="SAP Cloud Integration"', f"401 Unauthorized: {NOT_ACCEPTED}\n")
    }
    records = await records_by_guid(tenant)
    assert {records[headers["Cpimock-Message-Id"]].refusal_reason for _, headers, _ in answers} == {NOT_ACCEPTED}
    # the server's DEBUG log says which, without the secret
    logged = [r.getMessage() for r in caplog.records if r.name == "cpimock.identity.callers"]
    for why, line in zip(cases, logged, strict=True):
        assert why in line
    assert not any(value in line for line in logged for value in (secret, revoked_secret, "not-the-secret"))
    # the twin: the right secret
    assert (await post(tenant, headers={"Authorization": basic(clientid, secret)}))[0] == 200


async def test_a_token_with_alg_none_gets_401(tenant: Tenant) -> None:
    token = (await token_with_secret(tenant, "basic-sender"))["access_token"]
    claims = json.loads(unb64url(token.split(".")[1]))
    unsigned = f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims)}."
    status, _, text = await post(tenant, headers={"Authorization": f"Bearer {unsigned}"})
    assert status == 401
    assert "alg 'none' is not accepted" in text


async def test_a_tampered_token_gets_401(tenant: Tenant) -> None:
    token = (await token_with_secret(tenant, "basic-sender"))["access_token"]
    head, payload, sig = token.split(".")
    raw = bytearray(unb64url(sig))
    raw[10] ^= 0x01
    status, _, text = await post(tenant, headers={"Authorization": f"Bearer {head}.{payload}.{b64url(bytes(raw))}"})
    assert (status, "the signature does not match" in text) == (401, True)
    # a payload granting itself another instance's key, with the original signature
    claims = json.loads(unb64url(payload)) | {"cpimock_key": "demo-sender"}
    status, _, text = await post(tenant, headers={"Authorization": f"Bearer {head}.{b64url(claims)}.{sig}"})
    assert (status, "the signature does not match" in text) == (401, True)
    # its twin: the untouched token
    assert (await post(tenant, headers={"Authorization": f"Bearer {token}"}))[0] == 200


async def test_a_token_of_another_tenant_gets_401(tenant: Tenant) -> None:
    ours = tenant.server.authority
    other = TokenAuthority(load_signing_key(tenant.root / "certs"), "othertenant", ours.issuers)
    clientid, _ = secret_of(tenant, "basic-sender")
    token, _ = other.issue_token(
        clientid=clientid, roles=["ESBMessaging.send"], instance="default", key_name="basic-sender"
    )
    status, _, text = await post(tenant, headers={"Authorization": f"Bearer {token}"})
    assert status == 401
    assert "another tenant" in text
    same, _ = ours.issue_token(
        clientid=clientid, roles=["ESBMessaging.send"], instance="default", key_name="basic-sender"
    )
    assert (await post(tenant, headers={"Authorization": f"Bearer {same}"}))[0] == 200


def resigned(authority: TokenAuthority, token: str, payload: str) -> str:
    """*token*'s header with the raw JSON *payload*, signed with the tenant's own key."""
    head = token.split(".")[0]
    signing_input = f"{head}.{b64url(payload.encode())}"
    return f"{signing_input}.{b64url(authority.key.sign(signing_input.encode(), PKCS1v15(), SHA256()))}"


async def test_a_token_for_another_audience_or_with_a_nan_exp_gets_401(tenant: Tenant) -> None:
    token = (await token_with_secret(tenant, "basic-sender"))["access_token"]
    claims = json.loads(unb64url(token.split(".")[1]))
    authority = tenant.server.authority
    elsewhere = resigned(authority, token, json.dumps(claims | {"aud": ["uaa", "it-rt-othertenant!b1"]}))
    never_expires = resigned(authority, token, json.dumps(claims).replace(f'"exp": {claims["exp"]}', '"exp": NaN'))
    for forged, reason in ((elsewhere, "aud does not name"), (never_expires, "not a JSON number")):
        status, _, text = await post(tenant, headers={"Authorization": f"Bearer {forged}"})
        assert (status, reason in text) == (401, True), text
    # the twin: the same claims signed the same way pass
    same = resigned(authority, token, json.dumps(claims))
    assert (await post(tenant, headers={"Authorization": f"Bearer {same}"}))[0] == 200


async def test_an_expired_token_gets_401(tenant: Tenant) -> None:
    clientid, _ = secret_of(tenant, "basic-sender")
    token, _ = tenant.server.authority.issue_token(
        clientid=clientid,
        roles=["ESBMessaging.send"],
        instance="default",
        key_name="basic-sender",
        now=time.time() - 7200,
    )
    status, headers, text = await post(tenant, headers={"Authorization": f"Bearer {token}"})
    assert status == 401
    assert "expired" in text
    rec = (await records_by_guid(tenant))[headers["Cpimock-Message-Id"]]
    assert rec.refusal_reason is not None
    assert "expired" in rec.refusal_reason


async def test_a_token_without_the_send_scope_gets_403(tenant: Tenant) -> None:
    token = await token_with_secret(tenant, "monitor-reader")
    scopes = token["scope"].split()
    assert any(s.endswith(".MonitoringDataRead") for s in scopes)
    assert not any(s.endswith(".ESBMessaging.send") for s in scopes)
    status, headers, text = await post(tenant, headers={"Authorization": f"Bearer {token['access_token']}"})
    assert status == 403
    assert "lacks the role ESBMessaging.send" in text
    rec = (await records_by_guid(tenant))[headers["Cpimock-Message-Id"]]
    assert (rec.refusal_stage, rec.auth_method, rec.service_key) == ("authorization", "oauth", "monitor-reader")


async def test_wrong_secrets_in_a_loop_get_429_while_others_are_served(tenant: Tenant) -> None:
    clientid, secret = secret_of(tenant, "basic-sender")
    other_id, other_secret = secret_of(tenant, "other-sender")
    statuses = []
    for attempt in range(8):
        status, headers, _ = await post(tenant, headers={"Authorization": basic(clientid, f"wrong-{attempt}")})
        statuses.append(status)
        if status == 429:
            assert int(headers["Retry-After"]) > 0
    assert statuses[:4] == [401] * 4
    assert set(statuses[4:]) == {429}
    # while basic-sender cools down, even its right secret waits ...
    assert (await post(tenant, headers={"Authorization": basic(clientid, secret)}))[0] == 429
    # ... and nobody else is slowed
    assert (await post(tenant, headers={"Authorization": basic(other_id, other_secret)}))[0] == 200
    assert (await post(tenant, presenting=tenant.demo_key))[0] == 200


async def test_a_certificate_only_iflow_answers_401_to_a_basic_caller(tenant: Tenant) -> None:
    clientid, secret = secret_of(tenant, "basic-sender")
    status, headers, text = await post(tenant, "/http/certOnly", headers={"Authorization": basic(clientid, secret)})
    assert status == 401
    assert "does not accept basic callers" in text
    assert "WWW-Authenticate" not in headers
    assert (await post(tenant, "/http/certOnly", presenting=tenant.demo_key))[0] == 200


# --- CSRF, as S/4 and SAP's client libraries do it -----------------------------------------------


def csrf_session(
    tenant: Tenant, presenting: TenantKey | None = None, *, auth: str | None = None
) -> aiohttp.ClientSession:
    # the jar must take cookies from an IP address host (127.0.0.1)
    return session(
        tenant, presenting, cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"Authorization": auth} if auth else None
    )


async def test_the_csrf_fetch_then_post_dance(tenant: Tenant) -> None:
    url = tenant.url + "/http/protected"
    async with csrf_session(tenant, tenant.demo_key) as session:
        async with session.get(url, headers={"X-CSRF-Token": "Fetch"}) as fetched:
            assert fetched.status == 200
            token = fetched.headers["X-CSRF-Token"]
            assert "JSESSIONID" in fetched.cookies
            assert await fetched.read() == b""  # the iFlow did not run
        assert [r.integration_flow_name for r in tenant.messages()] == []
        async with session.post(url, data=b"Ada", headers={"X-CSRF-Token": token}) as posted:
            assert posted.status == 200
            assert (await posted.text()).startswith("Hello Ada")
        async with session.post(url, data=b"Ada") as missing:
            assert missing.status == 403
            assert missing.headers["X-CSRF-Token"] == "Required"
    # the token without its session cookie
    async with csrf_session(tenant, tenant.demo_key) as fresh:
        async with fresh.post(url, data=b"Ada", headers={"X-CSRF-Token": token}) as cookieless:
            assert cookieless.status == 403
            assert cookieless.headers["X-CSRF-Token"] == "Required"
            assert "(no session)" in await cookieless.text()
    statuses = [(r.status, r.response_status) for r in tenant.messages()]
    assert statuses == [("COMPLETED", 200), ("FAILED", 403), ("FAILED", 403)]


async def test_a_csrf_token_reused_by_another_identity_gets_403(tenant: Tenant) -> None:
    url = tenant.url + "/http/protected"
    clientid, secret = secret_of(tenant, "basic-sender")
    async with csrf_session(tenant, auth=basic(clientid, secret)) as owner:
        async with owner.get(url, headers={"X-CSRF-Token": "Fetch"}) as fetched:
            token = fetched.headers["X-CSRF-Token"]
            session_cookie = fetched.cookies["JSESSIONID"].value
        async with owner.post(url, data=b"x", headers={"X-CSRF-Token": token}) as own:
            assert own.status == 200
    # the certificate caller presents basic-sender's token and session cookie
    async with csrf_session(tenant, tenant.demo_key) as thief:
        stolen_headers = {"X-CSRF-Token": token, "Cookie": f"JSESSIONID={session_cookie}"}
        async with thief.post(url, data=b"x", headers=stolen_headers) as stolen:
            assert stolen.status == 403
            assert stolen.headers["X-CSRF-Token"] == "Required"
            text = await stolen.text()
    assert text.startswith("403 Forbidden: CSRF token validation failed (bound to another identity);")


# --- `auto`: required while every way in is a certificate ------------------------------------------


async def test_auto_is_required_when_every_iflow_is_certificate_only() -> None:
    async with Tenant(client_auth="auto") as tenant:
        # the workspace's iFlows (the demo, its IDoc and SOAP twins), every one certificate-only
        for flow in tenant.server.snapshot.config.iflows:
            steps = [f"{tenant.root / step.split(':')[0]}:{step.split(':')[1]}" for step in flow.steps]
            tenant.iflow(flow.address, steps, iflow_id=flow.id, adapter=flow.adapter, auth_methods=["certificate"])
        snapshot = tenant.server.snapshot
        assert snapshot.client_auth == "required"
        assert snapshot.client_auth_reason == "every way in is a client certificate"
        with pytest.raises((ssl.SSLError, ConnectionError, aiohttp.ClientError)):
            await post(tenant)
        await tenant.server.settle()
        assert [r.refusal_stage for r in tenant.messages()] == ["tls"]
        assert (await post(tenant, presenting=tenant.demo_key))[0] == 200
        # a Basic iFlow and a secret key make it optional at the next reload
        demo = f"{tenant.root / 'iflows' / 'demo.py'}:process"
        tenant.iflow("/open", [demo], auth_methods=["basic"])
        clientid, secret = tenant.service_key("basic-sender", key_type="clientid-secret").basic
        assert tenant.server.snapshot.client_auth == "optional"
        assert (await post(tenant, "/http/open", headers={"Authorization": basic(clientid, secret)}))[0] == 200
        # and the certificate-only demo answers that caller 401
        status, _, text = await post(tenant, headers={"Authorization": basic(clientid, secret)})
        assert status == 401
        assert "does not accept basic callers" in text
