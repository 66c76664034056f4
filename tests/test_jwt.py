"""cpimock's access tokens: issue, verify, refuse what this workspace did not sign."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given
from hypothesis import strategies as st

from cpimock.errors import PkiError
from cpimock.http.oauth import add_token_routes
from cpimock.identity.basic import FailureLimiter
from cpimock.identity.jws import TokenError
from cpimock.identity.tokens import SIGNING_KEY_FILE, TokenAuthority, load_signing_key, token_roles, xsappname
from cpimock.pki.servicekey import secret_digest
from cpimock.workspace.registry import KeyRecord

TOKEN_URL = "https://mytenant.authentication.eu10.hana.ondemand.com/oauth/token"
CERT_TOKEN_URL = "https://mytenant.authentication.cert.eu10.hana.ondemand.com/oauth/token"
CLIENTID = "sb-1b2c3d4e-0000-4000-8000-000000000001!b42|it-rt-mytenant!b117"
NOW = 1_750_000_000.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict[str, Any], claims: dict[str, Any], sign: Any) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def rs256(key: rsa.RSAPrivateKey) -> Any:
    return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = token.split(".")
    return (json.loads(base64.urlsafe_b64decode(head + "==")), json.loads(base64.urlsafe_b64decode(body + "==")))


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> rsa.RSAPrivateKey:
    return load_signing_key(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def authority(signing_key: rsa.RSAPrivateKey) -> TokenAuthority:
    return TokenAuthority(signing_key, "mytenant", (TOKEN_URL, CERT_TOKEN_URL))


@pytest.fixture
def issued(authority: TokenAuthority) -> tuple[str, dict[str, Any]]:
    return authority.issue_token(
        clientid=CLIENTID, roles={"ESBMessaging.send"}, instance="default", key_name="s4", now=NOW
    )


# --- the key --------------------------------------------------------------------------------------


def test_signing_key_is_made_once_private_and_keeps_its_kid(tmp_path: Path) -> None:
    first = load_signing_key(tmp_path)
    path = tmp_path / SIGNING_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.key_size == 2048
    again = load_signing_key(tmp_path)
    kid = TokenAuthority(first, "t", (TOKEN_URL,)).kid
    assert TokenAuthority(again, "t", (TOKEN_URL,)).kid == kid
    assert [p.name for p in tmp_path.iterdir()] == [SIGNING_KEY_FILE]


def test_signing_key_that_is_not_rsa_2048_is_refused(tmp_path: Path) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = small.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / SIGNING_KEY_FILE).write_bytes(pem)
    with pytest.raises(PkiError, match=r"token-signing\.key.*at least 2048"):
        load_signing_key(tmp_path)


# --- issue and verify -----------------------------------------------------------------------------


def test_token_is_shaped_like_xsuaa_and_verifies(authority: TokenAuthority, issued: tuple[str, dict[str, Any]]) -> None:
    token, claims = issued
    header, payload = parts(token)
    assert header == {
        "alg": "RS256",
        "jku": "https://mytenant.authentication.eu10.hana.ondemand.com/token_keys",
        "kid": authority.kid,
        "typ": "JWT",
    }
    assert payload == claims
    assert claims["sub"] == claims["client_id"] == claims["cid"] == claims["azp"] == CLIENTID
    assert claims["grant_type"] == "client_credentials"
    assert claims["scope"] == ["it-rt-mytenant!b117.ESBMessaging.send", "uaa.resource"]
    assert claims["iss"] == TOKEN_URL
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["zdn"] == "mytenant"
    assert claims["ext_attr"]["enhancer"] == "XSUAA"
    assert "serviceinstanceid" in claims["ext_attr"]
    assert "it-rt-mytenant!b117" in claims["aud"]
    assert authority.verify_token(token, NOW + 10) == claims
    assert token_roles(claims, "mytenant") == {"ESBMessaging.send"}


def test_two_tokens_have_different_jti(authority: TokenAuthority) -> None:
    a = authority.issue_token(clientid=CLIENTID, roles=(), now=NOW)[1]
    b = authority.issue_token(clientid=CLIENTID, roles=(), now=NOW)[1]
    assert a["jti"] != b["jti"]


def test_xsappname_comes_from_the_clientid_or_the_tenant() -> None:
    assert xsappname(CLIENTID, "mytenant") == "it-rt-mytenant!b117"
    assert xsappname("plain-client", "mytenant") == "it-rt-mytenant"


def test_token_asked_at_the_cert_host_names_that_issuer(authority: TokenAuthority) -> None:
    issuer = authority.issuer_for("mytenant.authentication.cert.eu10.hana.ondemand.com:8443")
    token, claims = authority.issue_token(clientid=CLIENTID, roles=(), issuer=issuer, now=NOW)
    assert claims["iss"] == CERT_TOKEN_URL
    assert authority.verify_token(token, NOW)["iss"] == CERT_TOKEN_URL
    assert authority.issuer_for("127.0.0.1:8443") == TOKEN_URL


def test_leeway_accepts_a_token_just_past_exp(authority: TokenAuthority, issued: tuple[str, dict[str, Any]]) -> None:
    assert authority.verify_token(issued[0], NOW + 3600 + 20)["jti"] == issued[1]["jti"]


# --- refusals, each with its reason ---------------------------------------------------------------


def expect(reason: str, authority: TokenAuthority, token: str, now: float = NOW) -> None:
    with pytest.raises(TokenError) as caught:
        authority.verify_token(token, now)
    assert caught.value.reason == reason, caught.value


def test_expired_token_is_refused(authority: TokenAuthority, issued: tuple[str, dict[str, Any]]) -> None:
    expect("expired", authority, issued[0], NOW + 3600 + 31)


def test_token_from_the_future_is_refused(authority: TokenAuthority, issued: tuple[str, dict[str, Any]]) -> None:
    expect("not_yet_valid", authority, issued[0], NOW - 120)


def test_alg_none_is_refused(authority: TokenAuthority, issued: tuple[str, dict[str, Any]]) -> None:
    header, claims = parts(issued[0])
    token = compact({**header, "alg": "none"}, claims, lambda _: b"")
    expect("algorithm", authority, token)


def test_hs256_with_the_public_key_as_secret_is_refused(
    authority: TokenAuthority, issued: tuple[str, dict[str, Any]]
) -> None:
    header, claims = parts(issued[0])
    public_pem = authority.jwks()["keys"][0]["value"].encode()
    token = compact(
        {**header, "alg": "HS256"}, claims, lambda data: hmac.new(public_pem, data, hashlib.sha256).digest()
    )
    expect("algorithm", authority, token)


def test_tampered_payload_is_refused(authority: TokenAuthority, issued: tuple[str, dict[str, Any]]) -> None:
    head, _, signature = issued[0].split(".")
    claims = {**issued[1], "scope": [*issued[1]["scope"], "it-rt-mytenant!b117.Admin"]}
    expect("signature", authority, f"{head}.{b64(json.dumps(claims).encode())}.{signature}")


def test_tampered_signature_is_refused(authority: TokenAuthority, issued: tuple[str, dict[str, Any]]) -> None:
    head, body, signature = issued[0].split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[-1] ^= 0x01
    expect("signature", authority, f"{head}.{body}.{b64(bytes(raw))}")


def test_token_of_another_key_with_our_kid_is_refused(
    authority: TokenAuthority, issued: tuple[str, dict[str, Any]]
) -> None:
    header, claims = parts(issued[0])
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    expect("signature", authority, compact(header, claims, rs256(stranger)))


def test_unknown_kid_is_refused(authority: TokenAuthority, issued: tuple[str, dict[str, Any]]) -> None:
    header, claims = parts(issued[0])
    expect("unknown_kid", authority, compact({**header, "kid": "default-jwt-key-1"}, claims, rs256(authority.key)))
    del header["kid"]
    expect("unknown_kid", authority, compact(header, claims, rs256(authority.key)))


def test_token_of_another_tenant_is_refused(signing_key: rsa.RSAPrivateKey, issued: tuple[str, dict[str, Any]]) -> None:
    other = TokenAuthority(signing_key, "othertenant", (TOKEN_URL,))
    expect("tenant", other, issued[0])


def test_token_of_another_issuer_is_refused(signing_key: rsa.RSAPrivateKey, issued: tuple[str, dict[str, Any]]) -> None:
    other = TokenAuthority(signing_key, "mytenant", ("https://elsewhere.example/oauth/token",))
    expect("issuer", other, issued[0])


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "malformed"),
        ("abc", "malformed"),
        ("a.b", "malformed"),
        ("a.b.c.d", "malformed"),
        ("!!.e30.", "malformed"),
        ("W10.e30.", "malformed"),  # the header is a JSON array
        ("eyJhbGciOiJSUzI1NiIsImFsZyI6Im5vbmUifQ.e30.", "malformed"),  # "alg" twice
        ("eyJhbGciOiJSUzI1NiJ9=.e30.", "malformed"),  # padding
        ("x" * 20_000, "malformed"),
        ("e30.e30.", "algorithm"),  # no alg at all
    ],
)
def test_malformed_tokens_are_refused(authority: TokenAuthority, token: str, reason: str) -> None:
    expect(reason, authority, token)


def test_token_without_exp_is_refused(authority: TokenAuthority, issued: tuple[str, dict[str, Any]]) -> None:
    header, claims = parts(issued[0])
    del claims["exp"]
    expect("malformed", authority, compact(header, claims, rs256(authority.key)))


# --- claims of a token this workspace signed: aud and the times ------------------------------------


def signed(authority: TokenAuthority, issued: tuple[str, dict[str, Any]], **changes: Any) -> str:
    """The issued token with *changes* to its claims (None removes one), signed with the tenant's key."""
    header, claims = parts(issued[0])
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return compact(header, claims, rs256(authority.key))


@pytest.mark.parametrize(
    "aud",
    [
        None,  # no aud at all
        "uaa",
        ["uaa", CLIENTID],  # the client, but not the runtime
        ["it-rt-othertenant!b117"],
        ["it-rt-mytenant!b118"],  # this tenant's runtime, but not the one of the token's scopes
        [1, 2],
        {"it-rt-mytenant!b117": True},
    ],
)
def test_a_token_whose_aud_does_not_name_this_runtime_is_refused(
    authority: TokenAuthority, issued: tuple[str, dict[str, Any]], aud: Any
) -> None:
    expect("audience", authority, signed(authority, issued, aud=aud))


def test_a_token_of_a_client_of_another_runtime_is_refused(
    authority: TokenAuthority, issued: tuple[str, dict[str, Any]]
) -> None:
    other = "sb-1b2c3d4e-0000-4000-8000-000000000001!b42|it-rt-othertenant!b117"
    expect("audience", authority, signed(authority, issued, client_id=other, aud=["uaa", "it-rt-othertenant!b117"]))
    expect("malformed", authority, signed(authority, issued, client_id=None))


@pytest.mark.parametrize("aud", ["it-rt-mytenant!b117", ["it-rt-mytenant!b117"], ["uaa", "it-rt-mytenant!b117"]])
def test_a_token_whose_aud_names_this_runtime_is_accepted(
    authority: TokenAuthority, issued: tuple[str, dict[str, Any]], aud: Any
) -> None:
    assert authority.verify_token(signed(authority, issued, aud=aud), NOW)["aud"] == aud


def with_raw_claim(authority: TokenAuthority, issued: tuple[str, dict[str, Any]], name: str, raw: str) -> str:
    """The issued token with claim *name* written as the raw JSON text *raw* (NaN, 1e400, ...)."""
    header, claims = parts(issued[0])
    claims[name] = "@@RAW@@"
    body = json.dumps(claims).replace('"@@RAW@@"', raw).encode()
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(body)}"
    return f"{signing_input}.{b64(rs256(authority.key)(signing_input.encode()))}"


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "raw", ["NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 400, '"1750000000"', "true", "null"]
)
def test_a_time_claim_that_is_not_a_finite_number_is_refused(
    authority: TokenAuthority, issued: tuple[str, dict[str, Any]], name: str, raw: str
) -> None:
    token = with_raw_claim(authority, issued, name, raw)
    if raw == "null" and name != "exp":
        authority.verify_token(token, NOW)  # an absent nbf or iat is no claim to check
        return
    expect("malformed", authority, token)
    # far in the future it would have been valid: a NaN exp never expired
    with pytest.raises(TokenError):
        authority.verify_token(token, NOW + 10 * 365 * 86400)


def test_the_twin_a_finite_time_claim_passes(authority: TokenAuthority, issued: tuple[str, dict[str, Any]]) -> None:
    token = with_raw_claim(authority, issued, "exp", str(int(NOW) + 60))
    assert authority.verify_token(token, NOW)["exp"] == int(NOW) + 60


@given(st.text(max_size=300) | st.from_regex(r"[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_-]{0,40}"))
def test_random_text_never_verifies_and_only_raises_token_error(signing_key: rsa.RSAPrivateKey, text: str) -> None:
    authority = TokenAuthority(signing_key, "mytenant", (TOKEN_URL,))
    with pytest.raises(TokenError):
        authority.verify_token(text, NOW)


# --- the served key set, checked by an independent implementation ---------------------------------


async def test_cpimock_token_validates_with_pyjwt_against_the_served_jwks(
    aiohttp_client: Any, authority: TokenAuthority
) -> None:
    record = KeyRecord(
        "s4", "default", "clientid-secret", CLIENTID, "2025-01-01T00:00:00Z", secret_sha256=secret_digest("s3cret")
    )
    app = web.Application()
    add_token_routes(
        app,
        authority=authority,
        records=lambda: [record],
        instance_roles=lambda name: frozenset({"ESBMessaging.send"}) if name == "default" else None,
        limiter=FailureLimiter(),
    )
    client = await aiohttp_client(app)
    response = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": CLIENTID, "client_secret": "s3cret"}
    )
    assert response.status == 200
    token = (await response.json())["access_token"]
    for path in ("/token_keys", "/.well-known/jwks.json"):
        jwks = await (await client.get(path)).json()
        key = pyjwt.PyJWKSet.from_dict(jwks)[parts(token)[0]["kid"]]
        claims = pyjwt.decode(token, key.key, algorithms=["RS256"], audience="it-rt-mytenant!b117", issuer=TOKEN_URL)
        assert claims["client_id"] == CLIENTID
        assert claims["cpimock_key"] == "s4"
    # the rejecting twin: the same library refuses a tampered token with that key set
    head, _, signature = token.split(".")
    forged = f"{head}.{b64(json.dumps({**parts(token)[1], 'zid': 'x'}).encode())}.{signature}"
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(forged, key.key, algorithms=["RS256"], audience="it-rt-mytenant!b117")
