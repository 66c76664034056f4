"""Property tests for the parsers that read untrusted input: nothing but their own error types.

Service-key JSON (pasted from anywhere), ``cpimock.toml`` (edited by hand), OData ``$filter``
and ``$orderby`` (from any HTTP caller; every filter the parser accepts runs on SQLite), DN
strings (config and certificates) and JWTs with well-formed structure but hostile contents.
Basic headers and random JWT text are covered in ``tests/test_basic.py`` and ``tests/test_jwt.py``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpimock.config import load_config, parse_config
from cpimock.errors import ConfigError, CpimockError, ServiceKeyError
from cpimock.identity.jws import TokenError
from cpimock.identity.tokens import TokenAuthority
from cpimock.mpl.journal import Journal
from cpimock.mpl.odata_filter import ODataError, parse_filter, parse_orderby
from cpimock.pki.dn import DnError, parse_dn
from cpimock.pki.keys import generate_key
from cpimock.pki.servicekey import parse_service_key

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY_FIELDS = [
    "clientid",
    "clientsecret",
    "certificate",
    "key",
    "url",
    "tokenurl",
    "certurl",
    "tokenurl",
    "credential-type",
    "oauth",
    "-----BEGIN RSA PRIVATE KEY-----",
]


def key_like() -> st.SearchStrategy[Any]:
    """Dicts that look like service keys: the real field names with hostile values."""
    value = json_values | st.sampled_from([PEM, PEM * 2, PEM[:-20], "-----BEGIN", "\\n", ""])
    fields = st.dictionaries(st.sampled_from(KEY_FIELDS), value, max_size=6)
    return fields | st.fixed_dictionaries({"oauth": fields}) | json_values


@FUZZ
@given(key_like())
def test_service_key_json_raises_only_service_key_error(data: Any) -> None:
    try:
        parse_service_key(json.dumps(data), "key.json")
    except ServiceKeyError:
        pass


@FUZZ
@given(st.text(max_size=300))
def test_service_key_text_raises_only_service_key_error(text: str) -> None:
    try:
        parse_service_key(text, "key.json")
    except ServiceKeyError:
        pass


toml_values = st.recursive(
    st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=15,
)
SECTIONS = ["tenant", "server", "instances", "iflows", "journal", "oauth"]
CONFIG_KEYS = [
    "name",
    "host",
    "region",
    "port",
    "workers",
    "client_auth",
    "trust",
    "handshake_timeout_s",
    "keepalive_timeout_s",
    "max_header_size",
    "max_headers",
    "expose",
    "max_handshakes",
    "roles",
    "subjects",
    "id",
    "address",
    "steps",
    "authorization",
    "role",
    "client_certificates",
    "allowed_headers",
    "max_body_mb",
    "csrf",
    "state",
    "timeout_s",
    "auth_methods",
    "adapter",
    "message_exchange_pattern",
    "processing",
    "wsdl",
    "service",
    "port",
    "ws_addressing",
    "one_way_status",
    "duplicates",
    "invalid_xml_characters",
    "idoc_answer",
    "cxf_case_sensitive",
    "enabled",
    "body_cap_bytes",
    "retention_count",
    "retention_days",
    "monitoring_role",
    "token_lifetime_s",
    "subject",
    "issuer",
]


def config_like() -> st.SearchStrategy[dict[str, Any]]:
    table = st.dictionaries(st.sampled_from(CONFIG_KEYS), toml_values, max_size=6)
    nested = st.dictionaries(st.text(min_size=1, max_size=8), table, max_size=2)
    section = table | nested | st.lists(table, max_size=3)
    return st.dictionaries(st.sampled_from(SECTIONS), section, max_size=4)


@pytest.mark.slow  # 300 examples, each a file or a query: the full suite only
@FUZZ
@given(config_like())
def test_config_documents_raise_only_config_error(
    tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any]
) -> None:
    root = tmp_path_factory.getbasetemp()
    try:
        parse_config(data, root)
    except ConfigError:
        pass


@FUZZ
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_config_text_raises_only_config_error(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("toml", numbered=True) / "cpimock.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        load_config(path)
    except ConfigError:
        pass


FILTER_TOKENS = [
    "Status",
    "IntegrationFlowName",
    "LogStart",
    "LogEnd",
    "MessageGuid",
    "eq",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "and",
    "or",
    "not",
    "(",
    ")",
    "'",
    "''",
    "'FAILED'",
    "datetime'2024-01-01T00:00:00'",
    "datetime'",
    "substringof(",
    "startswith(",
    ",",
    " ",
    "1",
    "-1",
    "null",
    "true",
    "%",
    "\\",
    "eq'",
]
filters = st.lists(st.sampled_from(FILTER_TOKENS), max_size=14).map(" ".join) | st.text(max_size=120)


@FUZZ
@given(filters)
def test_odata_filter_raises_only_odata_error(text: str) -> None:
    status = 400
    try:
        parse_filter(text)
    except ODataError as exc:
        status = exc.status
    assert 400 <= status < 500


COMPARISONS = st.sampled_from(
    [
        "Status eq 'A'",
        "LogStart gt datetime'2021-01-01T00:00:00'",
        "CorrelationId eq null",
        "startswith(MessageGuid, 'AG')",
        "substringof('x', Sender) eq false",
    ]
)


@st.composite
def deep_filters(draw: st.DrawFn) -> str:
    """Filters nested up to 30 groups deep, each group among siblings, then chained up to 200 long:
    the shapes that once overflowed SQLite's parser (a hundred comparisons, thirty groups)."""
    text = draw(COMPARISONS)
    for _ in range(draw(st.integers(0, 30))):
        siblings = draw(st.lists(COMPARISONS, max_size=2))
        group = draw(st.sampled_from(["({})", "not ({})"])).format(text)
        text = draw(st.sampled_from([" and ", " or "])).join([*siblings, group])
    tail = [draw(COMPARISONS) for _ in range(draw(st.integers(0, 200)))]
    return draw(st.sampled_from([" and ", " or "])).join([text, *tail])


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journal]:
    j = Journal.open(tmp_path_factory.mktemp("mpl") / "cpimock.db")
    yield j
    j.close()


@pytest.mark.slow  # 300 examples, each a file or a query: the full suite only
@FUZZ
@given(deep_filters())
def test_every_filter_the_parser_accepts_runs_on_sqlite(journal: Journal, text: str) -> None:
    status = 200
    try:
        where = parse_filter(text)
    except ODataError as exc:
        status = exc.status
    if status == 200:
        journal.query(where, [("seq", True)], 1)  # no sqlite3.Error: "parser stack overflow" was a 503
    assert status in (200, 400)


@FUZZ
@given(
    st.lists(st.sampled_from(["LogStart", "LogEnd", "Status", "desc", "asc", ",", " ", "x"]), max_size=8).map("".join)
    | st.text(max_size=60)
)
def test_odata_orderby_raises_only_odata_error(text: str) -> None:
    status = 400
    try:
        parse_orderby(text)
    except ODataError as exc:
        status = exc.status
    assert 400 <= status < 500


DN_TOKENS = [
    "CN",
    "O",
    "OU",
    "C",
    "L",
    "ST",
    "=",
    ",",
    ";",
    "+",
    "/",
    "\\",
    '"',
    " ",
    "a",
    "é",
    "\\,",
    "#",
    "2.5.4.3",
    "emailAddress",
]
dns = st.lists(st.sampled_from(DN_TOKENS), max_size=16).map("".join) | st.text(max_size=80)


@FUZZ
@given(dns)
def test_dn_strings_raise_only_dn_error(text: str) -> None:
    try:
        key = parse_dn(text)
    except DnError:
        return
    assert key.rdns
    assert parse_dn(str(key)) == key  # what is read is written back in a form read the same way


def test_an_escaped_comma_does_not_compare_like_a_separator() -> None:
    # an attribute type written as an OID has no case, so lower-casing values cannot tell these apart
    assert parse_dn(r"CN=a\,2.5.4.11=b") != parse_dn("CN=a,2.5.4.11=b")


@pytest.fixture(scope="module")
def authority() -> TokenAuthority:
    key = generate_key()
    return TokenAuthority(key, "mytenant", ("https://localhost:8443/oauth/token",))  # type: ignore[arg-type]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@FUZZ
@given(json_values, json_values, st.binary(max_size=300))
def test_jwts_with_hostile_json_raise_only_token_error(
    authority: TokenAuthority, header: Any, claims: Any, signature: bytes
) -> None:
    for head in (header, {"alg": "RS256", "kid": authority.kid, **(header if isinstance(header, dict) else {})}):
        token = ".".join((_b64(json.dumps(head).encode()), _b64(json.dumps(claims).encode()), _b64(signature)))
        with pytest.raises(TokenError):
            authority.verify_token(token)


XML_TOKENS = [
    "<",
    ">",
    "/>",
    "</",
    "soap:Envelope",
    "soap:Body",
    "soap:Fault",
    "faultcode",
    "faultstring",
    ' xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"',
    ' xmlns:soap="http://www.w3.org/2003/05/soap-envelope"',
    "<!DOCTYPE x [<!ENTITY e 'x'>]>",
    "&e;",
    "ORDERS05",
    "IDOC",
    "text",
]
xml_like = st.lists(st.sampled_from(XML_TOKENS), max_size=24).map("".join).map(str.encode) | st.binary(max_size=200)


@FUZZ
@given(xml_like, st.sampled_from([None, "1.1", "1.2"]))
def test_cpimock_call_reads_soap_and_idoc_files_or_says_why_not(data: bytes, version: str | None) -> None:
    from cpimock.client.soap import fault_of, prepare_idoc, prepare_soap

    for prepare in (
        lambda: prepare_soap(data, version=version, action="urn:a", what="f"),
        lambda: prepare_idoc(data, what="f"),
    ):
        try:
            prepared = prepare()
        except CpimockError:
            continue
        assert prepared.body
        assert dict(prepared.headers)["Content-Type"]
    answer = fault_of(data)  # a server's answer: a fault's code and text, or nothing
    assert answer is None or all(isinstance(text, str) for text in answer)
