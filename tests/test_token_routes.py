"""The OAuth token endpoint: client credentials three ways, XSUAA-shaped answers and errors."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from cpimock.http.oauth import add_token_routes
from cpimock.identity.basic import FailureLimiter
from cpimock.identity.tokens import TokenAuthority, load_signing_key, token_roles
from cpimock.pki.servicekey import secret_digest
from cpimock.workspace.registry import KeyRecord

TOKEN_URL = "https://mytenant.authentication.eu10.hana.ondemand.com/oauth/token"
S4_ID = "sb-00000000-0000-4000-8000-0000000000a1!b42|it-rt-mytenant!b117"
S4_SECRET = "00000000-0000-4000-8000-0000000000a2$c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="
OTHER_ID = "sb-00000000-0000-4000-8000-0000000000b1!b42|it-rt-mytenant!b117"
OTHER_SECRET = "other-secret"
CERT_ID = "sb-00000000-0000-4000-8000-0000000000c1!b42|it-rt-mytenant!b117"
CREATED = "2025-01-01T00:00:00Z"


@dataclass(frozen=True)
class FakePeer:
    method: str
    key_name: str | None
    clientid: str | None


RECORDS = [
    KeyRecord("s4", "default", "clientid-secret", S4_ID, CREATED, secret_sha256=secret_digest(S4_SECRET)),
    KeyRecord("other", "monitoring", "clientid-secret", OTHER_ID, CREATED, secret_sha256=secret_digest(OTHER_SECRET)),
    KeyRecord(
        "gone",
        "default",
        "clientid-secret",
        "sb-gone|it-rt-mytenant!b117",
        CREATED,
        secret_sha256=secret_digest("gone-secret"),
        revoked=True,
    ),
    KeyRecord("cert-sender", "default", "certificate", CERT_ID, CREATED, fingerprint="AA:BB", serial="0x1"),
]
ROLES = {"default": frozenset({"ESBMessaging.send", "Orders.write"}), "monitoring": frozenset({"MonitoringDataRead"})}


def basic(clientid: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{clientid}:{secret}".encode()).decode()}


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TokenAuthority:
    certs: Path = tmp_path_factory.mktemp("certs")
    return TokenAuthority(load_signing_key(certs), "mytenant", (TOKEN_URL,), lifetime_s=1800)


@pytest.fixture
async def client(aiohttp_client: Any, authority: TokenAuthority) -> Any:
    def peer(request: web.Request) -> FakePeer | None:
        # stands in for the TLS layer: a test header says which certificate "was presented"
        name = request.headers.get("X-Test-Cert")
        record = next((r for r in RECORDS if r.name == name), None)
        return FakePeer("certificate", record.name, record.clientid) if record else None

    app = web.Application()
    add_token_routes(
        app,
        authority=authority,
        records=lambda: RECORDS,
        instance_roles=ROLES.get,
        limiter=FailureLimiter(max_failures=5, window_s=60, cooldown_s=60),
        peer_identity=peer,
    )
    return await aiohttp_client(app)


async def check_token(response: Any, authority: TokenAuthority, clientid: str) -> dict[str, Any]:
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "jti"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 1800
    claims = authority.verify_token(body["access_token"])
    assert claims["client_id"] == clientid
    assert body["jti"] == claims["jti"]
    assert body["scope"] == " ".join(claims["scope"])
    return claims


async def test_secret_in_basic_header_and_grant_in_query(client: Any, authority: TokenAuthority) -> None:
    response = await client.post("/oauth/token?grant_type=client_credentials", headers=basic(S4_ID, S4_SECRET))
    claims = await check_token(response, authority, S4_ID)
    assert claims["scope"] == [
        "it-rt-mytenant!b117.ESBMessaging.send",
        "it-rt-mytenant!b117.Orders.write",
        "uaa.resource",
    ]
    assert claims["cpimock_key"] == "s4"


async def test_secret_in_the_form_body(client: Any, authority: TokenAuthority) -> None:
    form = {"grant_type": "client_credentials", "client_id": OTHER_ID, "client_secret": OTHER_SECRET}
    claims = await check_token(await client.post("/oauth/token", data=form), authority, OTHER_ID)
    assert token_roles(claims, "mytenant") == {"MonitoringDataRead"}


async def test_certificate_with_client_id_in_the_body(client: Any, authority: TokenAuthority) -> None:
    form = {"grant_type": "client_credentials", "client_id": CERT_ID}
    response = await client.post("/oauth/token", data=form, headers={"X-Test-Cert": "cert-sender"})
    claims = await check_token(response, authority, CERT_ID)
    assert claims["cpimock_key"] == "cert-sender"


async def test_certificate_of_another_key_than_client_id_is_refused(client: Any) -> None:
    form = {"grant_type": "client_credentials", "client_id": CERT_ID}
    response = await client.post("/oauth/token", data=form, headers={"X-Test-Cert": "s4"})
    assert response.status == 401


async def test_client_id_without_secret_or_certificate_is_refused(client: Any) -> None:
    response = await client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": CERT_ID})
    assert response.status == 401
    assert await response.json() == {"error": "unauthorized", "error_description": "Bad credentials"}


@pytest.mark.parametrize(
    "headers",
    [
        basic(S4_ID, "wrong"),
        basic(S4_ID, S4_SECRET + "\n"),
        basic("sb-unknown", S4_SECRET),
        basic("sb-gone|it-rt-mytenant!b117", "gone-secret"),
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Bearer abc"},
    ],
    ids=["wrong-secret", "secret-with-newline", "unknown-client", "revoked", "malformed", "not-basic"],
)
async def test_bad_client_credentials_get_401_like_xsuaa(client: Any, headers: dict[str, str]) -> None:
    response = await client.post("/oauth/token?grant_type=client_credentials", headers=headers)
    assert response.status == 401
    assert await response.json() == {"error": "unauthorized", "error_description": "Bad credentials"}
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="UAA/client"')


async def test_no_client_authentication_gets_401(client: Any) -> None:
    response = await client.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert response.status == 401
    assert (await response.json())["error"] == "unauthorized"


async def test_unsupported_grant_gets_400(client: Any) -> None:
    response = await client.post("/oauth/token?grant_type=password", headers=basic(S4_ID, S4_SECRET))
    assert response.status == 400
    assert (await response.json())["error"] == "unsupported_grant_type"


async def test_missing_grant_gets_400_invalid_request(client: Any) -> None:
    response = await client.post("/oauth/token", headers=basic(S4_ID, S4_SECRET))
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_request"


async def test_credentials_given_twice_get_400(client: Any) -> None:
    form = {"grant_type": "client_credentials", "client_id": S4_ID, "client_secret": S4_SECRET}
    response = await client.post("/oauth/token", data=form, headers=basic(S4_ID, S4_SECRET))
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_request"


async def test_conflicting_grant_types_in_query_and_body_get_400(client: Any) -> None:
    response = await client.post(
        "/oauth/token?grant_type=client_credentials", data={"grant_type": "password"}, headers=basic(S4_ID, S4_SECRET)
    )
    assert response.status == 400


async def test_brute_force_loop_gets_429_while_another_client_is_served(client: Any, authority: TokenAuthority) -> None:
    url = "/oauth/token?grant_type=client_credentials"
    statuses = [(await client.post(url, headers=basic(S4_ID, f"guess-{i}"))).status for i in range(8)]
    assert statuses == [401, 401, 401, 401, 429, 429, 429, 429]
    refused = await client.post(url, headers=basic(S4_ID, S4_SECRET))
    assert refused.status == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert (await refused.json())["error"] == "too_many_requests"
    # the other client, from the same address, is not slowed
    await check_token(await client.post(url, headers=basic(OTHER_ID, OTHER_SECRET)), authority, OTHER_ID)


async def test_success_resets_the_failure_count(client: Any, authority: TokenAuthority) -> None:
    url = "/oauth/token?grant_type=client_credentials"
    for _ in range(3):
        for _ in range(4):
            assert (await client.post(url, headers=basic(S4_ID, "guess"))).status == 401
        await check_token(await client.post(url, headers=basic(S4_ID, S4_SECRET)), authority, S4_ID)


async def test_token_endpoint_takes_only_post(client: Any) -> None:
    assert (await client.get("/oauth/token?grant_type=client_credentials")).status == 405


async def test_key_set_is_served_at_both_paths(client: Any, authority: TokenAuthority) -> None:
    for path in ("/token_keys", "/.well-known/jwks.json"):
        response = await client.get(path)
        assert response.status == 200
        assert await response.json() == authority.jwks()
