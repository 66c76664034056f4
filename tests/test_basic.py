"""Basic credentials: the strict parser, the secret check, and the brake on guessing."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpimock.identity.basic import BasicCredentials, BasicError, FailureLimiter, authenticate, parse_basic, secret_hint
from cpimock.pki.servicekey import secret_digest
from cpimock.workspace.registry import KeyRecord

CLIENTID = "sb-0a1b2c3d-0000-4000-8000-000000000001!b42|it-rt-mytenant!b117"
SECRET = "0a1b2c3d-0000-4000-8000-000000000002$Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5="


def basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


def record(name: str = "s4", *, clientid: str = CLIENTID, secret: str | None = SECRET, **kw: object) -> KeyRecord:
    return KeyRecord(
        name,
        "default",
        "clientid-secret" if secret else "certificate",
        clientid,
        "2025-01-01T00:00:00Z",
        secret_sha256=secret_digest(secret) if secret else None,
        **kw,  # type: ignore[arg-type]
    )


# --- the parser -----------------------------------------------------------------------------------


def test_well_formed_header_gives_clientid_and_secret() -> None:
    creds = parse_basic(basic(f"{CLIENTID}:{SECRET}".encode()))
    assert creds == BasicCredentials(CLIENTID, SECRET)
    assert SECRET not in repr(creds)


def test_scheme_is_case_insensitive_and_the_secret_may_hold_colons() -> None:
    assert parse_basic("basic " + base64.b64encode(b"id:a:b").decode()) == BasicCredentials("id", "a:b")


def test_secret_with_trailing_newline_is_kept_as_sent_so_it_is_a_wrong_secret() -> None:
    creds = parse_basic(basic(f"{CLIENTID}:{SECRET}\n".encode()))
    assert creds.secret == SECRET + "\n"
    with pytest.raises(BasicError, match=r"wrong secret.*line break"):
        authenticate(creds, [record()])


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("", "empty Authorization"),
        ("Bearer abc", "not Basic"),
        ("Basic", "without credentials"),
        ("Basic    ", "without credentials"),
        ("Basic a b", "not base64"),
        ("Basic aWQ6cHc", "not valid base64"),  # padding missing
        ("Basic aWQ6\ncHc=", "not base64"),
        ("Basic aWQ6cHc=x", "not base64"),
        (basic(b"no-colon"), "no ':'"),
        (basic(b":secret"), "clientid before ':' is empty"),
        (basic(b"id:"), "secret after ':' is empty"),
        (basic(b"\xff\xfe:pw"), "not UTF-8"),
        (basic(b"id\x00x:pw"), "control characters"),
        ("Basic " + "A" * 5000, "longer than"),
    ],
)
def test_malformed_headers_are_refused_with_their_reason(header: str, reason: str) -> None:
    with pytest.raises(BasicError) as caught:
        parse_basic(header)
    assert reason in caught.value.reason


@given(st.text(max_size=200))
def test_parser_raises_only_basic_error_on_any_text(header: str) -> None:
    try:
        parse_basic(header)
    except BasicError:
        pass


@given(st.binary(max_size=200))
def test_parser_raises_only_basic_error_on_any_decoded_bytes(raw: bytes) -> None:
    try:
        creds = parse_basic(basic(raw))
    except BasicError:
        return
    assert f"{creds.userid}:{creds.secret}".encode() == raw


USERIDS = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1).filter(lambda s: ":" not in s)


@given(USERIDS, st.text(min_size=1))
def test_parser_round_trips_every_valid_pair(userid: str, secret: str) -> None:
    assert parse_basic(basic(f"{userid}:{secret}".encode())) == BasicCredentials(userid, secret)


# --- the secret check -----------------------------------------------------------------------------


def test_right_secret_finds_the_key_among_keys_sharing_a_clientid() -> None:
    other = record("s4-old", secret="old-secret")
    assert authenticate(BasicCredentials(CLIENTID, SECRET), [other, record()]).name == "s4"


@pytest.mark.parametrize(
    ("creds", "records", "reason"),
    [
        (BasicCredentials("sb-unknown", SECRET), [record()], "no service key has this clientid"),
        (BasicCredentials(CLIENTID, "nope"), [record()], "wrong secret"),
        (BasicCredentials(CLIENTID, SECRET + " "), [record()], "starts or ends with spaces"),
        (BasicCredentials(CLIENTID, SECRET), [record(revoked=True)], "revoked"),
        (BasicCredentials(CLIENTID, SECRET), [record(secret=None)], "without a secret"),
    ],
)
def test_wrong_credentials_are_refused_with_their_reason(
    creds: BasicCredentials, records: list[KeyRecord], reason: str
) -> None:
    with pytest.raises(BasicError) as caught:
        authenticate(creds, records)
    assert reason in caught.value.reason


def test_secret_hint_says_nothing_for_a_plain_secret() -> None:
    assert secret_hint(SECRET) == ""


# --- the limiter ----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_refuses_after_n_failures_and_only_that_key() -> None:
    clock = Clock()
    limiter = FailureLimiter(max_failures=3, window_s=60, cooldown_s=30, clock=clock)
    assert limiter.failure("client:a") is None
    assert limiter.failure("client:a") is None
    assert limiter.failure("client:a") == 30
    assert limiter.retry_after("client:a") == 30
    assert limiter.retry_after("client:b") is None
    clock.now += 29.5
    assert limiter.retry_after("client:a") == 1
    clock.now += 1
    assert limiter.retry_after("client:a") is None


def test_failures_outside_the_window_do_not_add_up() -> None:
    clock = Clock()
    limiter = FailureLimiter(max_failures=3, window_s=10, cooldown_s=30, clock=clock)
    for _ in range(10):
        assert limiter.failure("client:a") is None
        clock.now += 6


def test_success_forgets_the_failures() -> None:
    limiter = FailureLimiter(max_failures=2, clock=Clock())
    limiter.failure("client:a")
    limiter.success("client:a")
    assert limiter.failure("client:a") is None
    assert len(limiter) == 1


def test_limiter_memory_is_bounded() -> None:
    limiter = FailureLimiter(max_failures=3, max_entries=100, clock=Clock())
    for i in range(10_000):
        limiter.failure(f"peer:10.0.{i // 256}.{i % 256}")
    assert len(limiter) == 100


def test_limiter_settings_must_be_positive() -> None:
    with pytest.raises(ValueError, match="above 0"):
        FailureLimiter(max_failures=0)
