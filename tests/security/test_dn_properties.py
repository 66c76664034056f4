"""DN comparison by structure, as properties: what is equal, what is not, what is refused.

Names are built as a certificate carries them (``x509.Name`` with RDNs, OIDs and values, any
character included). Their keys must round-trip through the canonical text and through the
RFC 4514 text ``cryptography`` prints, and two names must compare equal exactly when an
independent reference (the RDN sequence, each RDN a multiset of (OID, folded value)) says so.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from cpimock.config import load_config
from cpimock.errors import ConfigError
from cpimock.pki.dn import DnError, name_key, parse_dn

PROPS = settings(max_examples=400, deadline=None)

# attribute types a certificate may carry: the common ones and two without a name here
OIDS = [
    NameOID.COMMON_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.LOCALITY_NAME,
    NameOID.STATE_OR_PROVINCE_NAME,
    NameOID.DOMAIN_COMPONENT,
    NameOID.EMAIL_ADDRESS,
    NameOID.SERIAL_NUMBER,
    x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"),
    x509.ObjectIdentifier("2.5.4.45.7"),
]
# characters that stress the text forms: separators, escapes, quotes, spaces, case, non-ASCII
TRICKY = ',+;"\\<>=#/ \x00\t\nAaÉéßẞΣσς0'


def values(*, controls: bool = True) -> st.SearchStrategy[str]:
    tricky = TRICKY if controls else TRICKY.replace("\x00", "").replace("\t", "").replace("\n", "")
    alphabet = st.sampled_from(tricky) | st.characters(codec="utf-8", exclude_categories=["Cc"] if not controls else [])
    return st.text(alphabet, min_size=1, max_size=16)  # CN allows 64 bytes of UTF-8


@st.composite
def names(draw: st.DrawFn, *, controls: bool = True) -> x509.Name:
    rdns = []
    for _ in range(draw(st.integers(1, 4))):
        attributes = draw(
            st.lists(st.tuples(st.sampled_from(OIDS), values(controls=controls)), min_size=1, max_size=3, unique=True)
        )
        rdns.append(x509.RelativeDistinguishedName([x509.NameAttribute(oid, v) for oid, v in attributes]))
    return x509.Name(rdns)


def reference(name: x509.Name) -> list[Counter[tuple[str, str]]]:
    """The structure the comparison is documented to use, written independently of cpimock.dn."""

    def folded(value: str) -> str:
        return re.sub(" +", " ", value).strip(" ").casefold()

    return [Counter((a.oid.dotted_string, folded(str(a.value))) for a in rdn) for rdn in name.rdns]


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.slow  # 400 examples: the full suite only
@PROPS
@given(names())
def test_the_canonical_text_reads_back_to_the_same_key(name: x509.Name) -> None:
    key = name_key(name)
    if any("\x00" in str(a.value) for a in name):
        with pytest.raises(DnError, match="NUL"):  # a configured DN never holds a NUL
            parse_dn(str(key))
    else:
        assert parse_dn(str(key)) == key


@pytest.mark.slow  # 400 examples: the full suite only
@PROPS
@given(names(controls=False))
def test_the_rfc4514_text_cryptography_prints_reads_back_to_the_certificates_key(name: x509.Name) -> None:
    assert parse_dn(name.rfc4514_string()) == name_key(name)


@pytest.mark.slow  # 400 examples: the full suite only
@PROPS
@given(names(controls=False), st.data())
def test_every_written_shape_of_a_name_reads_as_its_key(name: x509.Name, data: st.DataObject) -> None:
    """Spaces after separators, ``;``, lower-case types, OIDs: all the same name."""
    key = name_key(name)
    text = name.rfc4514_string()
    # re-join at the unescaped separators with the decorations people add
    rdns = re.split(r"(?<!\\),", text)
    sep = data.draw(st.sampled_from([",", ", ", " ; ", ";"]))
    assert parse_dn(sep.join(rdns)) == key
    assert parse_dn(" " + text.replace("CN=", "cn=").replace("OU=", "ou = ") + " ") == key


@PROPS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["CN", "O", "OU", "L", "ST", "C"]),
            st.text(st.characters(codec="ascii", categories=["L", "N"]) | st.just(" "), min_size=1, max_size=12).filter(
                str.strip
            ),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_openssls_slash_form_is_the_rfc4514_form_reversed(pairs: list[tuple[str, str]]) -> None:
    slash = "".join(f"/{k}={v.strip()}" for k, v in pairs)
    rfc = ", ".join(f"{k}={v.strip()}" for k, v in reversed(pairs))
    assert parse_dn(slash) == parse_dn(rfc)


# --- equal exactly when the structure is ------------------------------------------------------


@st.composite
def variants(draw: st.DrawFn) -> tuple[x509.Name, x509.Name]:
    """A name and another one: a re-spaced or re-cased copy, a restructured one, or any name."""
    name = draw(names())
    rdns = [list(rdn) for rdn in name.rdns]
    how = draw(st.sampled_from(["case and spaces", "merge", "split", "reorder", "one character", "any"]))
    if how == "case and spaces":
        rdns = [[x509.NameAttribute(a.oid, _respace(draw, str(a.value))) for a in rdn] for rdn in rdns]
    elif how == "merge" and len(rdns) > 1:
        i = draw(st.integers(0, len(rdns) - 2))
        merged = rdns[i] + [a for a in rdns[i + 1] if a not in rdns[i]]
        rdns[i : i + 2] = [merged]
    elif how == "split" and any(len(rdn) > 1 for rdn in rdns):
        i = next(i for i, rdn in enumerate(rdns) if len(rdn) > 1)
        rdns[i : i + 1] = [[a] for a in rdns[i]]
    elif how == "reorder":
        rdns = draw(st.permutations(rdns))
    elif how == "one character":
        i = draw(st.integers(0, len(rdns) - 1))
        a = rdns[i][0]
        value = str(a.value)
        rdns[i][0] = x509.NameAttribute(a.oid, (value[:-1] + draw(values())[:1]) or "x")
    else:
        return name, draw(names())
    try:
        other = x509.Name([x509.RelativeDistinguishedName(rdn) for rdn in rdns])
    except ValueError:  # a change that made two attributes of one RDN equal: compare with itself
        other = name
    return name, other


def _respace(draw: st.DrawFn, value: str) -> str:
    out = "".join(ch.swapcase() if draw(st.booleans()) else ch for ch in value)
    out = out.replace(" ", " " * draw(st.integers(1, 3)))
    padded = " " * draw(st.integers(0, 2)) + out + " " * draw(st.integers(0, 2))
    return padded if len(padded.encode()) <= 64 else value


@pytest.mark.slow  # 400 examples: the full suite only
@PROPS
@given(variants())
def test_two_names_are_equal_exactly_when_their_folded_structure_is(pair: tuple[x509.Name, x509.Name]) -> None:
    one, two = pair
    assert (name_key(one) == name_key(two)) == (reference(one) == reference(two))
    if name_key(one) == name_key(two):
        assert hash(name_key(one)) == hash(name_key(two))


# --- the cases of the review ---------------------------------------------------------------------


def _name(*rdns: list[tuple[x509.ObjectIdentifier, str]]) -> x509.Name:
    return x509.Name([x509.RelativeDistinguishedName([x509.NameAttribute(o, v) for o, v in rdn]) for rdn in rdns])


CN, ORG, C = NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.COUNTRY_NAME


def test_a_multi_valued_rdn_is_not_the_same_as_separate_rdns() -> None:
    two_rdns = _name([(C, "DE")], [(CN, "erp"), (ORG, "ACME Corporation")])
    three_rdns = _name([(C, "DE")], [(ORG, "ACME Corporation")], [(CN, "erp")])
    pair = parse_dn("CN=erp, O=ACME Corporation, C=DE")
    assert name_key(three_rdns) == pair
    assert name_key(two_rdns) != pair
    assert name_key(two_rdns) == parse_dn("CN=erp+O=ACME Corporation, C=DE")
    assert name_key(two_rdns) == parse_dn("O=acme corporation + CN=ERP; C=de")  # the order inside an RDN is free


def test_a_nul_in_a_value_is_itself_and_a_configured_nul_is_refused() -> None:
    assert name_key(_name([(CN, "svc\x00")])) != parse_dn("CN=svc00")
    assert name_key(_name([(CN, "svc\x00")])) != parse_dn("CN=svc")
    for text in ("CN=svc\x00", r"CN=svc\00", '"CN=svc\x00"', "/CN=svc\x00"):
        with pytest.raises(DnError, match="NUL"):
            parse_dn(text)


def test_a_quoted_trailing_space_and_a_dangling_backslash_are_not_alike() -> None:
    assert parse_dn('CN="svc "') == parse_dn("CN=svc") == parse_dn(r"CN=svc\ ")
    for text in (r'CN="svc\"', "CN=svc\\"):
        with pytest.raises(DnError):
            parse_dn(text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('CN="unbalanced, O=ACME', "unbalanced quote"),
        ('CN=a"b, O=ACME', "a quote inside a value"),
        (r"CN=a\q", "bad escape"),
        (r"CN=a\c3", "not UTF-8"),
        ("CN=a,,O=ACME", "empty RDN"),
        ("CN=a, O=ACME,", "empty RDN"),
        ("/C=DE//CN=a", "empty RDN"),
        ("FOO=bar, O=ACME", "unknown attribute name 'FOO'"),
        ("3.1=bar", "not a valid OID"),
        ("CN=#0c03657270", "hex value"),
        ("CN=a+CN=A", "twice in one RDN"),
        ("CN=a\tb", "control character U+0009"),
        ("CN", "not followed by '='"),
        ('CN="a" b', "after a quoted value"),
        ("   ", "empty DN"),
    ],
)
def test_a_dn_that_cannot_be_read_one_way_only_is_refused_with_its_problem(text: str, problem: str) -> None:
    with pytest.raises(DnError, match=re.escape(problem)):
        parse_dn(text)


def test_the_written_forms_people_paste_all_name_the_certificate() -> None:
    name = _name([(C, "DE")], [(ORG, "ACME, Inc.")], [(NameOID.ORGANIZATIONAL_UNIT_NAME, "S/4 Senders")], [(CN, "erp")])
    key = name_key(name)
    for text in (
        r"CN=erp,OU=S/4 Senders,O=ACME\, Inc.,C=DE",  # RFC 4514
        r"CN=erp, OU=S/4 Senders, O=ACME\, Inc., C=DE",  # with spaces
        'CN=erp; OU=S/4 Senders; O="ACME, Inc."; C=DE',  # RFC 1779 quotes and semicolons
        r"/C=DE/O=ACME, Inc./OU=S\/4 Senders/CN=erp",  # OpenSSL's slash form
        r"cn=erp, ou=s/4 senders, o=acme\, inc., c=de",  # SAP's trace form
        r"2.5.4.3=erp,OID.2.5.4.11=S/4 Senders,organizationName=ACME\2C Inc.,countryName=DE",
    ):
        assert parse_dn(text) == key, text


def test_the_asn1_string_type_of_a_value_does_not_matter() -> None:
    printable = x509.Name([x509.NameAttribute(CN, "erp", _type=_ASN1Type.PrintableString)])
    utf8 = x509.Name([x509.NameAttribute(CN, "erp", _type=_ASN1Type.UTF8String)])
    assert name_key(printable) == name_key(utf8) == parse_dn("CN=erp")


# --- at load: the entry that is wrong -------------------------------------------------------------


def test_a_broken_configured_dn_is_refused_at_load_naming_its_entry(tmp_path: Path) -> None:
    (tmp_path / "cpimock.toml").write_text(
        '[instances.default]\nroles = ["ESBMessaging.send"]\n'
        'subjects = [{ subject = "CN=a, O=ACME", issuer = "CN=ACME CA, O=ACME" }]\n'
        '[[iflows]]\nid = "dn"\naddress = "/dn"\nauthorization = "client-certificate"\n'
        'client_certificates = [{ subject = "CN=ok", issuer = "CN=ACME CA" },\n'
        '                       { subject = "CN=\\"svc\\\\\\"", issuer = "CN=ACME CA" }]\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "cpimock.toml")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'cpimock.toml'}: iflows[0].client_certificates[1].subject: ")
    assert "unbalanced quote" in message
    assert "\n" not in message
