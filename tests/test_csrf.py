"""CSRF tokens: the fetch-then-post dance as SAP clients do it, and each way it is refused."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from cpimock.identity.csrf import HEADER, REQUIRED, SESSION_COOKIE, CsrfGuard, Verdict, is_fetch, needs_token

ALICE = "basic:sb-alice|it-rt-mytenant!b1"
BOB = "certificate:bob"


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def guard(clock: Clock) -> CsrfGuard:
    return CsrfGuard(b"k" * 32, lifetime_s=1800, clock=clock)


# --- the guard ------------------------------------------------------------------------------------


def test_fetch_gives_a_new_session_when_the_caller_has_none(guard: CsrfGuard) -> None:
    fetched = guard.fetch(ALICE, None)
    assert fetched.new_session
    assert guard.is_own_session(fetched.session)
    assert guard.check("POST", ALICE, fetched.session, fetched.token) == Verdict(True)


def test_fetch_keeps_a_session_of_ours_and_replaces_a_foreign_one(guard: CsrfGuard) -> None:
    first = guard.fetch(ALICE, None)
    again = guard.fetch(ALICE, first.session)
    assert (again.session, again.new_session) == (first.session, False)
    foreign = guard.fetch(ALICE, "0123456789ABCDEF")
    assert foreign.new_session
    assert foreign.session != "0123456789ABCDEF"


def test_get_and_head_need_no_token(guard: CsrfGuard) -> None:
    for method in ("GET", "HEAD"):
        assert guard.check(method, ALICE, None, None).ok


@given(st.text(min_size=1, max_size=20).filter(lambda m: m not in ("GET", "HEAD")))
def test_every_other_method_needs_a_token(method: str) -> None:
    guard = CsrfGuard(b"k" * 32)
    assert guard.check(method, ALICE, guard.new_session(), None) == Verdict(False, "required")


@pytest.mark.parametrize(
    "method", ["POST", "PUT", "PATCH", "DELETE", "post", "MERGE", "PROPPATCH", "OPTIONS", "TRACE", "get"]
)
def test_modifying_methods_without_token_are_refused_as_required(guard: CsrfGuard, method: str) -> None:
    session = guard.fetch(ALICE, None).session
    assert guard.check(method, ALICE, session, None) == Verdict(False, "required")
    assert guard.check(method, ALICE, session, "Fetch") == Verdict(False, "required")


def test_token_without_session_cookie_is_refused(guard: CsrfGuard) -> None:
    fetched = guard.fetch(ALICE, None)
    assert guard.check("POST", ALICE, None, fetched.token) == Verdict(False, "no session")


def test_token_of_another_identity_is_refused(guard: CsrfGuard) -> None:
    alice = guard.fetch(ALICE, None)
    bob = guard.fetch(BOB, None)
    # Bob replays Alice's token with Alice's cookie, and with his own
    assert guard.check("POST", BOB, alice.session, alice.token) == Verdict(False, "bound to another identity")
    assert guard.check("POST", BOB, bob.session, alice.token) == Verdict(False, "bound to another identity")


def test_token_of_another_session_is_refused(guard: CsrfGuard) -> None:
    first = guard.fetch(ALICE, None)
    second = guard.fetch(ALICE, None)
    assert guard.check("POST", ALICE, second.session, first.token) == Verdict(False, "bound to another session")


def test_token_of_another_iflow_is_refused(guard: CsrfGuard) -> None:
    """CPI's HTTPS adapter keeps CSRF tokens per integration flow: one fetched on Orders is no
    good on Invoices, for the same caller in the same session."""
    fetched = guard.fetch(ALICE, None, "Orders")
    assert guard.check("POST", ALICE, fetched.session, fetched.token, "Orders").ok
    verdict = guard.check("POST", ALICE, fetched.session, fetched.token, "Invoices")
    assert verdict == Verdict(False, "bound to another integration flow")


@given(st.text(max_size=30), st.text(max_size=30))
def test_a_token_is_good_only_on_its_own_iflow(fetched_on: str, sent_to: str) -> None:
    guard = CsrfGuard(b"k" * 32)
    fetched = guard.fetch(ALICE, None, fetched_on)
    assert guard.check("POST", ALICE, fetched.session, fetched.token, sent_to).ok == (fetched_on == sent_to)


def test_expired_token_is_refused(guard: CsrfGuard, clock: Clock) -> None:
    fetched = guard.fetch(ALICE, None)
    clock.now += 1799
    assert guard.check("POST", ALICE, fetched.session, fetched.token).ok
    clock.now += 2
    assert guard.check("POST", ALICE, fetched.session, fetched.token) == Verdict(False, "expired")


@pytest.mark.parametrize("token", ["x", "A" * 54, "A" * 75, "not base64 at all!", "é" * 20, "A" * 500])
def test_forged_tokens_are_refused_as_invalid(guard: CsrfGuard, token: str) -> None:
    session = guard.fetch(ALICE, None).session
    assert guard.check("POST", ALICE, session, token) == Verdict(False, "invalid")


def test_token_of_another_guard_secret_is_refused(clock: Clock, guard: CsrfGuard) -> None:
    other = CsrfGuard(b"o" * 32, clock=clock).fetch(ALICE, None)
    assert guard.check("POST", ALICE, other.session, other.token) == Verdict(False, "invalid")


def test_guards_sharing_a_secret_accept_each_others_tokens(clock: Clock, guard: CsrfGuard) -> None:
    fetched = CsrfGuard(b"k" * 32, clock=clock).fetch(ALICE, None)
    assert guard.check("PUT", ALICE, fetched.session, fetched.token).ok


def test_fetch_is_a_get_or_head_asking_for_it() -> None:
    assert is_fetch("GET", "Fetch")
    assert is_fetch("HEAD", " fetch ")
    assert is_fetch("OPTIONS", "Fetch")
    assert not is_fetch("POST", "Fetch")
    assert not is_fetch("get", "Fetch")
    assert not is_fetch("GET", None)
    assert not is_fetch("GET", "abc")
    assert needs_token("DELETE")
    assert needs_token("MERGE")
    assert needs_token("OPTIONS")
    assert not needs_token("GET")


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="above 0"):
        CsrfGuard(lifetime_s=0)
    with pytest.raises(ValueError, match="16 bytes"):
        CsrfGuard(b"short")


# --- the dance over HTTP, as the iFlow middleware will run it -------------------------------------


def protected_app(guard: CsrfGuard) -> web.Application:
    async def iflow(request: web.Request) -> web.Response:
        identity = request.headers["X-Caller"]  # stands in for the authenticated identity
        session = request.cookies.get(SESSION_COOKIE)
        if is_fetch(request.method, request.headers.get(HEADER)):
            fetched = guard.fetch(identity, session)
            response = web.Response(status=200, headers={HEADER: fetched.token})
            if fetched.new_session:
                response.set_cookie(SESSION_COOKIE, fetched.session, path="/", httponly=True)
            return response
        verdict = guard.check(request.method, identity, session, request.headers.get(HEADER))
        if not verdict.ok:
            return web.Response(status=403, headers={HEADER: REQUIRED}, text=verdict.detail)
        return web.Response(text=f"ran for {identity}")

    app = web.Application()
    app.router.add_route("*", "/http/orders", iflow)
    return app


async def test_fetch_then_post_with_a_cookie_jar_works(aiohttp_client: Any, guard: CsrfGuard) -> None:
    client = await aiohttp_client(protected_app(guard))
    fetch = await client.head("/http/orders", headers={"X-Caller": ALICE, HEADER: "Fetch"})
    assert fetch.status == 200
    token = fetch.headers[HEADER]
    assert SESSION_COOKIE in fetch.cookies
    post = await client.post("/http/orders", data=b"<order/>", headers={"X-Caller": ALICE, HEADER: token})
    assert post.status == 200
    assert await post.text() == f"ran for {ALICE}"


async def test_post_without_token_gets_403_required(aiohttp_client: Any, guard: CsrfGuard) -> None:
    client = await aiohttp_client(protected_app(guard))
    post = await client.post("/http/orders", data=b"<order/>", headers={"X-Caller": ALICE})
    assert post.status == 403
    assert post.headers[HEADER] == REQUIRED
    assert "required" in await post.text()


async def test_post_without_the_session_cookie_is_refused(aiohttp_client: Any, guard: CsrfGuard) -> None:
    client = await aiohttp_client(protected_app(guard))
    token = (await client.get("/http/orders", headers={"X-Caller": ALICE, HEADER: "Fetch"})).headers[HEADER]
    client.session.cookie_jar.clear()
    post = await client.post("/http/orders", headers={"X-Caller": ALICE, HEADER: token})
    assert (post.status, post.headers[HEADER]) == (403, REQUIRED)
    assert "no session" in await post.text()


async def test_token_fetched_by_another_identity_is_refused_over_http(aiohttp_client: Any, guard: CsrfGuard) -> None:
    client = await aiohttp_client(protected_app(guard))
    token = (await client.get("/http/orders", headers={"X-Caller": ALICE, HEADER: "Fetch"})).headers[HEADER]
    post = await client.post("/http/orders", headers={"X-Caller": BOB, HEADER: token})
    assert post.status == 403
    assert "bound to another identity" in await post.text()
