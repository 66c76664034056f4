"""The redaction of credentials before they are logged: headers, query strings and paths (hypothesis)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpimock import redaction
from cpimock.redaction import MASK, SCHEMES

FUZZ = settings(max_examples=500, deadline=None)
# everything an Authorization value may be turned into: nothing of what the sender wrote but a scheme's name
ALLOWED = {MASK} | {f"{name} {MASK}" for name in SCHEMES.values()}
WHITESPACE = st.text(st.sampled_from(" \t\x0b\x0c\r\n"), min_size=1, max_size=4)
SECRET_NAMES = [
    "access_token",
    "token",
    "id_token",
    "client_secret",
    "clientsecret",
    "password",
    "sap-password",
    "jsessionid",
    "SessionId",
    "apiKey",
    "x-api-key",
    "sig",
    "auth",
    "CSRF_Token",
    "client%5Fsecret",
    "Password",
]
PLAIN_NAMES = ["q", "sap-client", "orderId", "id", "$filter", "name", "key", "code", "format"]


def random_case(text: str, flips: list[bool]) -> str:
    flips = (flips + [False] * len(text))[: len(text)]
    return "".join(c.upper() if flip else c.lower() for c, flip in zip(text, flips, strict=True))


@FUZZ
@given(st.text(max_size=300))
def test_an_authorization_value_becomes_at_most_a_scheme_name(value: str) -> None:
    assert redaction.header_value("Authorization", value) in ALLOWED
    assert redaction.header_value("proxy-AUTHORIZATION", value) in ALLOWED


@FUZZ
@given(
    st.sampled_from(sorted(SCHEMES)),
    st.lists(st.booleans(), max_size=20),
    WHITESPACE,
    st.text(max_size=200),
    WHITESPACE | st.just(""),
)
def test_a_scheme_in_any_case_and_spacing_is_kept_and_nothing_after_it(
    scheme: str, flips: list[bool], separator: str, secret: str, lead: str
) -> None:
    value = f"{lead}{random_case(scheme, flips)}{separator}{secret}"
    assert redaction.credential_value(value) == f"{SCHEMES[scheme]} {MASK}"


@FUZZ
@given(st.text(max_size=200))
def test_a_value_without_a_registered_scheme_is_masked_whole(value: str) -> None:
    if redaction.scheme_of(value) is None:
        assert redaction.credential_value(value) == MASK


@FUZZ
@given(
    st.lists(
        st.tuples(st.text(max_size=12).filter(lambda n: "=" not in n and "&" not in n), st.text(max_size=12)),
        max_size=5,
    )
)
def test_cookies_keep_their_names_only(pairs: list[tuple[str, str]]) -> None:
    value = "; ".join(f"{name}={v}" for name, v in pairs)
    masked = redaction.header_value("Cookie", value)
    assert all(part.endswith(f"={MASK}") for part in masked.split("; ") if part)


values = st.text(st.characters(exclude_characters="&", exclude_categories=("Cs",)), max_size=40)
names = st.sampled_from(SECRET_NAMES + PLAIN_NAMES) | st.text(
    st.characters(exclude_characters="&=;", exclude_categories=("Cs",)), min_size=1, max_size=12
)


@FUZZ
@given(st.lists(st.tuples(names, values), min_size=1, max_size=8))
def test_secret_query_parameters_are_masked_and_the_others_kept(params: list[tuple[str, str]]) -> None:
    raw = "&".join(f"{name}={value}" for name, value in params)
    masked = redaction.query(raw).split("&")
    assert len(masked) == len(params)
    for (name, value), out in zip(params, masked, strict=True):
        if redaction.is_secret_param(name) and value:
            assert out == f"{name}={MASK}"
        elif ";" not in value:
            assert out == f"{name}={value}"
        else:  # a ";name=value" inside a value: masked from the first secret on, else kept
            assert out == f"{name}={value}" or out.endswith(MASK)


@FUZZ
@given(
    st.sampled_from(SECRET_NAMES),
    st.text(st.characters(exclude_categories=("Cs",)), min_size=8, max_size=40),
    st.sampled_from(["?", ";", "/", "?a=1&", "?a=1;"]),
    st.text("abc/", max_size=10),
)
def test_a_secret_in_a_decoded_path_is_masked(name: str, secret: str, before: str, prefix: str) -> None:
    secret = secret.replace("/", "").replace("?", "").replace("&", "")
    if before == "/" or "?" not in before:
        secret = secret.replace(";", "")
    path = f"/http/{prefix}{before}{name}={secret}"
    masked = redaction.path(path)
    if secret:
        assert masked.endswith(f"{name}={MASK}")


@FUZZ
@given(st.text(max_size=300))
def test_query_and_path_take_any_text(text: str) -> None:
    assert isinstance(redaction.query(text), str)
    assert isinstance(redaction.path("/http/" + text), str)


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("access_token=eyJ.x.y&$top=1", f"access_token={MASK}&$top=1"),
        ("token=abc;def&x=1", f"token={MASK}&x=1"),
        ("a=1;token=x;y=2", f"a=1;token={MASK}"),
        ("access_token%3Deyj&q=1", f"{MASK}&q=1"),  # a name holding the whole "name=value"
        ("client%5Fsecret=s", f"client%5Fsecret={MASK}"),
        ("password=", "password="),  # nothing to hide
        ("sap-user=ada&sap-password=p&sap-client=100", f"sap-user=ada&sap-password={MASK}&sap-client=100"),
        ("orderId=4711&key=ab", "orderId=4711&key=ab"),
    ],
)
def test_query_examples(raw: str, masked: str) -> None:
    assert redaction.query(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("/http/a?access_token=x&y=1", f"/http/a?access_token={MASK}&y=1"),
        ("/http/a;jsessionid=ABC/b", f"/http/a;jsessionid={MASK}/b"),
        ("/http/tokens/4711", "/http/tokens/4711"),  # a word of the path, not a parameter
        ("/http/tokens;v=1", "/http/tokens;v=1"),
    ],
)
def test_path_examples(raw: str, masked: str) -> None:
    assert redaction.path(raw) == masked


def test_quoted_names_are_compared_decoded() -> None:
    assert redaction.is_secret_param(quote("client_secret", safe=""))
    assert redaction.is_secret_param("Access+Token")
    assert not redaction.is_secret_param("orderId")
